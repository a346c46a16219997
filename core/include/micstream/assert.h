// Preconditions of the core. A broken one is a bug in the caller (a queue too
// shallow, a buffer too short), never bad input from outside, which gets an
// Errc instead: it stops the program at once with what and where, rather than
// reading or writing past the end of something.
#pragma once

namespace micstream {

/// Reports a failed MICSTREAM_ASSERT and stops; each platform defines it: the
/// host's (core/port/host) prints to stderr and aborts, the ESP32's
/// (firmware/main) logs and fails configASSERT, so the panic handler runs.
[[noreturn]] void assert_failed(const char* condition, const char* file, int line);

}  // namespace micstream

// Kept in every build type: each guards a slot index or a length, and costs a compare.
#define MICSTREAM_ASSERT(condition) \
  ((condition) ? static_cast<void>(0) : ::micstream::assert_failed(#condition, __FILE__, __LINE__))
