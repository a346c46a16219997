// Measures a stream's true sample rate against the local clock, from each
// frame's arrival time and first-sample index. Network delay only ever makes
// a frame late, so in every window the earliest frame (relative to its sample
// index) marks the device's clock; a least-squares line through those minima
// gives the drift. Fixed storage, no allocation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace micstream {

class RateEstimator {
 public:
  static constexpr std::size_t kMaxWindows = 64;
  static constexpr std::size_t kMinWindows = 3;  ///< before this, no estimate

  /// nominal_rate: the rate the device claims (Hz); window_us: length of a window.
  explicit RateEstimator(std::uint32_t nominal_rate, std::uint64_t window_us = 1000000);

  /// A frame whose first sample has index first_sample arrived at arrival_us.
  /// A sample index that goes backwards (the device restarted its stream)
  /// starts the measurement over.
  void add(std::uint64_t arrival_us, std::uint64_t first_sample);

  [[nodiscard]] bool has_estimate() const { return windows_ >= kMinWindows; }
  /// Device clock against the local one, parts per million (+ = device fast).
  [[nodiscard]] double drift_ppm() const;
  /// The device's true sample rate in local-clock Hz.
  [[nodiscard]] double rate_hz() const { return nominal_ * (1.0 + drift_ppm() * 1e-6); }

  void reset();

 private:
  struct Point {
    double time_s;      // window's earliest frame, arrival since origin
    double lateness_us; // arrival minus the time its sample index implies
  };

  std::uint32_t nominal_;
  std::uint64_t window_us_;
  bool started_ = false;
  std::uint64_t origin_us_ = 0;
  std::uint64_t origin_sample_ = 0;
  std::uint64_t last_sample_ = 0;
  std::uint64_t window_start_us_ = 0;
  Point current_{};
  bool current_valid_ = false;
  Point points_[kMaxWindows] = {};
  std::size_t windows_ = 0;  // completed windows stored (<= kMaxWindows)
  std::size_t next_ = 0;
};

}  // namespace micstream
