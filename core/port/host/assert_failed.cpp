// MICSTREAM_ASSERT on a host (Linux): the failed condition on stderr, then
// abort(), which a test's death assertion, a debugger or a core dump catches.
#include <cstdio>
#include <cstdlib>

#include "micstream/assert.h"

namespace micstream {

void assert_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: micstream precondition failed: %s\n", file, line, condition);
  std::abort();
}

}  // namespace micstream
