// The reconnect backoff: exponential, capped, jittered within its bounds.
#include "micstream/backoff.h"

#include <gtest/gtest.h>

#include <set>

#include "test_util.h"

namespace micstream {
namespace {

TEST(Backoff, GrowsExponentiallyToTheCapWithoutJitter) {
  Backoff b({.initial_ms = 500, .max_ms = 30000, .multiplier = 2, .jitter_percent = 0});
  const std::uint32_t expected[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
  for (std::uint32_t e : expected) EXPECT_EQ(b.next_delay_ms(0xFFFFFFFF), e);
  EXPECT_EQ(b.attempts(), 9u);
}

TEST(Backoff, JitterShortensWithinItsShare) {
  Backoff b({.initial_ms = 1000, .max_ms = 1000, .multiplier = 2, .jitter_percent = 20});
  EXPECT_EQ(b.next_delay_ms(0), 1000u);
  EXPECT_EQ(b.next_delay_ms(0x80000000u), 900u);
  EXPECT_EQ(b.next_delay_ms(0xFFFFFFFFu), 801u);
  test::Xorshift32 rng;
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::uint32_t d = b.next_delay_ms(rng.next());
    ASSERT_GE(d, 800u);
    ASSERT_LE(d, 1000u);
    seen.insert(d);
  }
  EXPECT_GT(seen.size(), 100u) << "devices cut off together spread out";
}

TEST(Backoff, ResetStartsOver) {
  Backoff b({.initial_ms = 100, .max_ms = 10000, .multiplier = 3, .jitter_percent = 0});
  EXPECT_EQ(b.next_delay_ms(0), 100u);
  EXPECT_EQ(b.next_delay_ms(0), 300u);
  EXPECT_EQ(b.next_delay_ms(0), 900u);
  b.reset();
  EXPECT_EQ(b.attempts(), 0u);
  EXPECT_EQ(b.next_delay_ms(0), 100u);
}

TEST(Backoff, NeverOverflowsOrExceedsTheCap) {
  Backoff b({.initial_ms = 4000000000u, .max_ms = 4294967295u, .multiplier = 1000, .jitter_percent = 150});
  for (int i = 0; i < 10; ++i) {
    const std::uint32_t d = b.next_delay_ms(0xFFFFFFFFu);
    EXPECT_LE(d, 4294967295u);
  }
  Backoff defaults;
  for (int i = 0; i < 100; ++i) EXPECT_LE(defaults.next_delay_ms(static_cast<std::uint32_t>(i) * 7919u), 30000u);
}

}  // namespace
}  // namespace micstream
