// Clock offset (PING/PONG) and sample-rate drift estimation.
#include <gtest/gtest.h>

#include <cmath>

#include "micstream/clock_sync.h"
#include "micstream/rate_estimator.h"
#include "test_util.h"

namespace micstream {
namespace {

TEST(ClockSync, NtpArithmeticOnASymmetricPath) {
  ClockSync sync;
  EXPECT_FALSE(sync.has_estimate());
  // Remote clock is 1e15 us ahead; each way takes 500 us; the remote holds 20 us.
  const std::uint64_t offset = 1000000000000000;
  ASSERT_TRUE(sync.add(1000, 1500 + offset, 1520 + offset, 2020));
  EXPECT_TRUE(sync.has_estimate());
  EXPECT_EQ(sync.offset_us(), static_cast<std::int64_t>(offset));
  EXPECT_EQ(sync.rtt_us(), 1000u);
}

TEST(ClockSync, TrustsTheFastestExchange) {
  ClockSync sync;
  test::Xorshift32 rng(7);
  const std::int64_t offset = -250000;  // remote behind
  for (int i = 0; i < 50; ++i) {
    const std::uint64_t t0 = 10000000 + static_cast<std::uint64_t>(i) * 100000;
    const std::uint64_t up = 300 + rng.below(20000);  // queueing adds up to 20 ms
    const std::uint64_t down = 300 + rng.below(20000);
    const auto t1 = static_cast<std::uint64_t>(static_cast<std::int64_t>(t0 + up) + offset);
    ASSERT_TRUE(sync.add(t0, t1, t1 + 10, t0 + up + 10 + down));
  }
  // Asymmetric queueing of the best exchange bounds the error by half its round trip.
  EXPECT_LE(std::llabs(sync.offset_us() - offset), static_cast<long long>(sync.rtt_us() / 2));
  EXPECT_LT(sync.rtt_us(), 6000u);
}

TEST(ClockSync, RefusesInconsistentTimes) {
  ClockSync sync;
  EXPECT_FALSE(sync.add(2000, 10, 20, 1000));  // reply before request
  EXPECT_FALSE(sync.add(1000, 30, 20, 2000));  // remote sent before it received
  EXPECT_FALSE(sync.has_estimate());
}

// Frames of 320 samples from a device whose clock runs `ppm` fast, arriving
// with up to `jitter_us` of random network delay.
double measured_ppm(double ppm, std::uint32_t jitter_us, double seconds) {
  RateEstimator estimator(16000);
  test::Xorshift32 rng(11);
  const double frame_us = 320 * 1e6 / 16000 / (1 + ppm * 1e-6);
  const auto frames = static_cast<std::uint64_t>(seconds * 1e6 / frame_us);
  for (std::uint64_t n = 0; n < frames; ++n) {
    const auto arrival = static_cast<std::uint64_t>(1764000000000000.0 + n * frame_us) + 800 + rng.below(jitter_us + 1);
    estimator.add(arrival, n * 320);
  }
  EXPECT_TRUE(estimator.has_estimate());
  return estimator.drift_ppm();
}

TEST(RateEstimator, MeasuresClockSkewThroughJitter) {
  EXPECT_NEAR(measured_ppm(0, 2000, 20), 0, 10);
  EXPECT_NEAR(measured_ppm(300, 2000, 20), 300, 10);
  EXPECT_NEAR(measured_ppm(-500, 20000, 30), -500, 25);
  EXPECT_NEAR(measured_ppm(1000, 0, 10), 1000, 1);
}

TEST(RateEstimator, NeedsAFewWindowsAndRestartsWhenTheStreamDoes) {
  RateEstimator e(16000);
  e.add(1000000, 0);
  e.add(1020000, 320);
  EXPECT_FALSE(e.has_estimate());
  EXPECT_DOUBLE_EQ(e.rate_hz(), 16000.0);
  for (std::uint64_t n = 2; n < 300; ++n) e.add(1000000 + n * 20000, n * 320);
  EXPECT_TRUE(e.has_estimate());
  EXPECT_NEAR(e.rate_hz(), 16000.0, 0.01);
  e.add(1000000 + 300 * 20000, 0);  // sample index went back: a new stream
  EXPECT_FALSE(e.has_estimate());
}

}  // namespace
}  // namespace micstream
