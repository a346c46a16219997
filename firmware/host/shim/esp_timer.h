// Host stand-in for ESP-IDF's esp_timer.h (firmware/host only).
#pragma once
#include <time.h>
#include <cstdint>
inline std::int64_t esp_timer_get_time() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000;
}
