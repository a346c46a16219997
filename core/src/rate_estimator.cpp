#include "micstream/rate_estimator.h"

namespace micstream {

RateEstimator::RateEstimator(std::uint32_t nominal_rate, std::uint64_t window_us)
    : nominal_(nominal_rate == 0 ? 1 : nominal_rate), window_us_(window_us == 0 ? 1 : window_us) {}

void RateEstimator::reset() {
  started_ = false;
  current_valid_ = false;
  windows_ = 0;
  next_ = 0;
}

void RateEstimator::add(std::uint64_t arrival_us, std::uint64_t first_sample) {
  if (started_ && (first_sample < last_sample_ || arrival_us < origin_us_)) reset();
  if (!started_) {
    started_ = true;
    origin_us_ = arrival_us;
    origin_sample_ = first_sample;
    window_start_us_ = arrival_us;
  }
  last_sample_ = first_sample;

  if (arrival_us - window_start_us_ >= window_us_) {
    if (current_valid_) {
      points_[next_] = current_;
      next_ = (next_ + 1) % kMaxWindows;
      if (windows_ < kMaxWindows) ++windows_;
    }
    current_valid_ = false;
    window_start_us_ = arrival_us;
  }

  const double since_origin_us = static_cast<double>(arrival_us - origin_us_);
  const double sample_time_us = static_cast<double>(first_sample - origin_sample_) * 1e6 / nominal_;
  const Point p{since_origin_us * 1e-6, since_origin_us - sample_time_us};
  if (!current_valid_ || p.lateness_us < current_.lateness_us) current_ = p;
  current_valid_ = true;
}

double RateEstimator::drift_ppm() const {
  if (!has_estimate()) return 0.0;
  // Least-squares slope of lateness (us) against time (s): a device whose
  // clock is fast by p ppm produces samples early, so lateness falls by p us/s.
  double mean_t = 0;
  double mean_l = 0;
  for (std::size_t i = 0; i < windows_; ++i) {
    mean_t += points_[i].time_s;
    mean_l += points_[i].lateness_us;
  }
  mean_t /= static_cast<double>(windows_);
  mean_l /= static_cast<double>(windows_);
  double cov = 0;
  double var = 0;
  for (std::size_t i = 0; i < windows_; ++i) {
    const double dt = points_[i].time_s - mean_t;
    cov += dt * (points_[i].lateness_us - mean_l);
    var += dt * dt;
  }
  return var > 0 ? -cov / var : 0.0;
}

}  // namespace micstream
