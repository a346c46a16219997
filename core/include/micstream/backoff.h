// When to try a lost connection again: exponential growth from an initial
// delay, capped, with jitter so that many devices cut off together do not
// return together. The firmware, the virtual device and the page all follow
// this policy (web/ ports the same arithmetic; docs/protocol.md states it).
#pragma once

#include <cstdint>

namespace micstream {

struct BackoffPolicy {
  std::uint32_t initial_ms = 500;   ///< delay before the first retry
  std::uint32_t max_ms = 30000;     ///< no delay exceeds this
  std::uint32_t multiplier = 2;     ///< growth from one failed attempt to the next
  std::uint32_t jitter_percent = 20;  ///< each delay is shortened by up to this share, at random
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy = {}) : policy_(policy), base_ms_(policy.initial_ms) {}

  /// The delay before the next attempt, and grows the one after it.
  /// random: a uniformly random 32-bit value from the platform (esp_random(),
  /// std::random_device, crypto.getRandomValues); it picks the jitter.
  /// Always in [base * (100 - jitter_percent) / 100, base], base <= max_ms.
  [[nodiscard]] std::uint32_t next_delay_ms(std::uint32_t random);

  /// Call once a connection succeeded: the next failure starts again at initial_ms.
  void reset() {
    base_ms_ = policy_.initial_ms;
    attempts_ = 0;
  }

  [[nodiscard]] std::uint32_t attempts() const { return attempts_; }
  [[nodiscard]] const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  std::uint32_t base_ms_;
  std::uint32_t attempts_ = 0;
};

}  // namespace micstream
