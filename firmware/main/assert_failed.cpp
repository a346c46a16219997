// MICSTREAM_ASSERT on the ESP32: the failed condition in the log, then
// FreeRTOS's configASSERT (ESP-IDF's assert), so the panic handler prints the
// backtrace and the chip restarts. abort() covers a build that compiled
// configASSERT out (CONFIG_FREERTOS_ASSERT_DISABLE): a broken precondition
// never runs on.
#include <cstdlib>

#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "micstream/assert.h"

namespace micstream {

void assert_failed(const char* condition, const char* file, int line) {
  ESP_LOGE("micstream", "%s:%d: precondition failed: %s", file, line, condition);
  configASSERT(false);
  std::abort();
}

}  // namespace micstream
