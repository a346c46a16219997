#include "micstream/backoff.h"

namespace micstream {

std::uint32_t Backoff::next_delay_ms(std::uint32_t random) {
  const std::uint32_t base = base_ms_ < policy_.max_ms ? base_ms_ : policy_.max_ms;
  const std::uint32_t jitter_percent = policy_.jitter_percent > 100 ? 100 : policy_.jitter_percent;
  const std::uint64_t max_jitter = std::uint64_t{base} * jitter_percent / 100;
  const auto jitter = static_cast<std::uint32_t>((max_jitter * random) >> 32);
  const std::uint64_t next = std::uint64_t{base} * policy_.multiplier;
  base_ms_ = next < policy_.max_ms ? static_cast<std::uint32_t>(next) : policy_.max_ms;
  ++attempts_;
  return base - jitter;
}

}  // namespace micstream
