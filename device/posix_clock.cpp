#include "posix_clock.h"

#include <time.h>

#include <cerrno>
#include <cmath>

namespace micstream::device {

namespace {

constexpr std::int64_t kNsPerSecond = 1000000000;

timespec to_timespec(std::int64_t ns) {
  return {static_cast<time_t>(ns / kNsPerSecond), static_cast<long>(ns % kNsPerSecond)};
}

}  // namespace

std::int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * kNsPerSecond + ts.tv_nsec;
}

PosixClock::PosixClock(double ppm) : ppm_(ppm), boot_ns_(monotonic_ns()) {}

// Only the small correction is computed in floating point, so the integer
// part of the time stays exact however long the device runs.
std::int64_t PosixClock::device_ns_from_real(std::int64_t real_ns) const {
  if (ppm_ == 0.0) return real_ns;
  return real_ns + std::llround(static_cast<double>(real_ns) * ppm_ * 1e-6);
}

std::int64_t PosixClock::real_ns_from_device(std::int64_t device_ns) const {
  if (ppm_ == 0.0) return device_ns;
  const double factor = ppm_ * 1e-6 / (1.0 + ppm_ * 1e-6);
  return device_ns - std::llround(static_cast<double>(device_ns) * factor);
}

std::uint64_t PosixClock::now_us() {
  const std::int64_t elapsed = monotonic_ns() - boot_ns_;
  return static_cast<std::uint64_t>(device_ns_from_real(elapsed) / 1000);
}

void PosixClock::sleep_ms(std::uint32_t ms) {
  const std::int64_t wake = monotonic_ns() + real_ns_from_device(std::int64_t{ms} * 1000000);
  const timespec ts = to_timespec(wake);
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

void PosixClock::sleep_until_us(std::uint64_t device_us) const {
  const std::int64_t wake = boot_ns_ + real_ns_from_device(static_cast<std::int64_t>(device_us) * 1000);
  const timespec ts = to_timespec(wake);
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace micstream::device
