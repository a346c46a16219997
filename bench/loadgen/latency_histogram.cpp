#include "latency_histogram.h"

#include <cmath>

namespace micstream::loadgen {

double LatencyHistogram::percentile_ms(double p) const {
  if (n_ == 0) return 0.0;
  auto rank = static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(n_)));
  rank = std::clamp<std::uint64_t>(rank, 1, n_);
  std::uint64_t cum = 0;
  for (std::size_t i = 0; i <= kBuckets; ++i) {
    cum += counts_[i];
    if (cum >= rank) {
      if (i == kBuckets) return max_ms();
      return std::min(static_cast<double>((static_cast<std::int64_t>(i) + 1) * kBucketUs) / 1000.0, max_ms());
    }
  }
  return max_ms();
}

std::vector<std::pair<std::int64_t, std::uint64_t>> LatencyHistogram::coarse(std::int64_t width_us,
                                                                             std::int64_t upto_us) const {
  std::vector<std::pair<std::int64_t, std::uint64_t>> out;
  if (n_ == 0) return out;
  if (upto_us < 0) upto_us = max_;
  const std::int64_t per = std::max<std::int64_t>(1, width_us / kBucketUs);
  const auto last_fine = static_cast<std::size_t>(std::min<std::int64_t>(upto_us / kBucketUs, kBuckets));
  for (std::size_t i = 0; i <= last_fine; i += static_cast<std::size_t>(per)) {
    std::uint64_t c = 0;
    for (std::size_t j = i; j < i + static_cast<std::size_t>(per) && j <= kBuckets; ++j) c += counts_[j];
    out.emplace_back(static_cast<std::int64_t>(i) * kBucketUs, c);
  }
  return out;
}

}  // namespace micstream::loadgen
