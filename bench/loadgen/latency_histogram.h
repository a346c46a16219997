// Latency histogram: 10 us buckets up to 10 s, exact max and mean.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace micstream::loadgen {

class LatencyHistogram {
 public:
  static constexpr std::int64_t kBucketUs = 10;
  static constexpr std::size_t kBuckets = 1'000'000;  // 10 s; later ones go to the overflow bucket

  LatencyHistogram() : counts_(kBuckets + 1, 0) {}

  // Inline: called for every frame every listener receives.
  void add(std::int64_t us) {
    ++n_;
    if (us < 0) {
      ++negative_;
      us = 0;
    }
    if (us > max_) max_ = us;
    sum_ += static_cast<double>(us);
    auto idx = static_cast<std::size_t>(us / kBucketUs);
    ++counts_[std::min(idx, kBuckets)];
  }

  [[nodiscard]] std::uint64_t count() const { return n_; }
  /// Samples below zero (clocks apart), counted as 0.
  [[nodiscard]] std::uint64_t negative() const { return negative_; }
  [[nodiscard]] double max_ms() const { return n_ ? static_cast<double>(max_) / 1000.0 : 0.0; }
  [[nodiscard]] double mean_ms() const { return n_ ? sum_ / static_cast<double>(n_) / 1000.0 : 0.0; }
  [[nodiscard]] std::int64_t max_us() const { return max_; }

  /// The upper edge of the bucket holding the sample of rank ceil(p * n) (so a
  /// conservative value, 10 us resolution), never above the exact max.
  [[nodiscard]] double percentile_ms(double p) const;

  /// Coarser buckets of width_us for output: (lower edge us, count), up to
  /// upto_us (default: the max).
  [[nodiscard]] std::vector<std::pair<std::int64_t, std::uint64_t>> coarse(std::int64_t width_us,
                                                                          std::int64_t upto_us = -1) const;

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t n_ = 0;
  std::uint64_t negative_ = 0;
  std::int64_t max_ = 0;
  double sum_ = 0;
};

}  // namespace micstream::loadgen
