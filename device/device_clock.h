// The virtual device's own clock: microseconds since it "booted", like the
// ESP32's esp_timer_get_time(). std::chrono::steady_clock is CLOCK_MONOTONIC
// on Linux, so wall-clock steps (NTP, date) never move it. Each device owns
// one, so several devices in one process each have their own boot time.
#pragma once

#include <chrono>
#include <cstdint>

namespace micstream::device {

class DeviceClock {
 public:
  DeviceClock() : boot_(std::chrono::steady_clock::now()) {}

  [[nodiscard]] std::uint64_t now_us() const {
    const auto elapsed = std::chrono::steady_clock::now() - boot_;
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  }

 private:
  std::chrono::steady_clock::time_point boot_;
};

inline constexpr std::uint64_t kUsPerMs = 1000;
inline constexpr std::uint64_t kUsPerSecond = 1000000;

}  // namespace micstream::device
