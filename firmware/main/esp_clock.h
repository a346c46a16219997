// pipeline::Clock: esp_timer's microseconds since boot, FreeRTOS delays.
#pragma once

#include <cstdint>

#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "freertos_signal.h"
#include "micstream/pipeline/ports.h"

namespace micstream::firmware {

class EspClock final : public pipeline::Clock {
 public:
  std::uint64_t now_us() override { return static_cast<std::uint64_t>(esp_timer_get_time()); }
  void sleep_ms(std::uint32_t ms) override { vTaskDelay(ticks_for_ms(ms)); }
};

}  // namespace micstream::firmware
