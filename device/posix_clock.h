// The Clock port on Linux: microseconds since the device "booted", from
// CLOCK_MONOTONIC (wall-clock steps never move it). A device with a crystal
// off by `ppm` parts per million runs its timer and its sample clock fast (or
// slow) by that much; the skew here does the same to both, since the capture
// thread paces its blocks with sleep_until_us() on this clock and stamps
// them with now_us() of it. Each device owns one, so each has its own boot.
#pragma once

#include <cstdint>

#include "micstream/pipeline/ports.h"

namespace micstream::device {

inline constexpr std::uint64_t kUsPerMs = 1000;
inline constexpr std::uint64_t kUsPerSecond = 1000000;

/// CLOCK_MONOTONIC in nanoseconds: the one real-time clock of the device's
/// host code (the clock below, the transport's deadlines).
[[nodiscard]] std::int64_t monotonic_ns();

class PosixClock final : public pipeline::Clock {
 public:
  /// ppm: + runs fast (more device µs per real µs), - slow.
  explicit PosixClock(double ppm = 0.0);

  std::uint64_t now_us() override;
  /// Sleeps ms milliseconds of device time (a little less or more real time when skewed).
  void sleep_ms(std::uint32_t ms) override;
  /// Sleeps until the device clock reads device_us; returns at once when it already has.
  void sleep_until_us(std::uint64_t device_us) const;

  [[nodiscard]] double ppm() const { return ppm_; }

 private:
  [[nodiscard]] std::int64_t device_ns_from_real(std::int64_t real_ns) const;
  [[nodiscard]] std::int64_t real_ns_from_device(std::int64_t device_ns) const;

  double ppm_;
  std::int64_t boot_ns_;  // CLOCK_MONOTONIC at construction
};

}  // namespace micstream::device
