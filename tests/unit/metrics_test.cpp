// The delivery-delay histogram: each observation lands in the first bucket
// whose bound it does not exceed (a bound is inclusive, as Prometheus' `le`),
// the exposition is cumulative and ends in +Inf, _sum is exact seconds, and
// /metrics carries it under its documented name.
#include "metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <string>

namespace micstream::server {
namespace {

using namespace std::chrono_literals;

std::string rendered(const DurationHistogram& h) {
  std::ostringstream out;
  h.render(out, "test_seconds", "A test.");
  return out.str();
}

TEST(DurationHistogram, EachObservationLandsInTheFirstBucketItDoesNotExceed) {
  DurationHistogram h;
  h.record(0ns);       // bucket 0 (<= 50 us)
  h.record(50us);      // bucket 0: the bound is inclusive
  h.record(50001ns);   // bucket 1 (<= 100 us)
  h.record(3ms);       // bucket 6 (<= 5 ms)
  h.record(1s);        // bucket 13 (<= 1 s)
  h.record(1001ms);    // above every bound
  h.record(-5us);      // counts as 0
  EXPECT_EQ(h.count(), 7u);
  EXPECT_EQ(h.in_bucket(0), 3u);
  EXPECT_EQ(h.in_bucket(1), 1u);
  EXPECT_EQ(h.in_bucket(6), 1u);
  EXPECT_EQ(h.in_bucket(13), 1u);
  EXPECT_EQ(h.in_bucket(DurationHistogram::kBuckets.size()), 1u);
  EXPECT_EQ(h.sum(), 50us + 50001ns + 3ms + 1s + 1001ms);
}

TEST(DurationHistogram, BoundsRiseAndTheirLabelsSayThemInSeconds) {
  const auto& buckets = DurationHistogram::kBuckets;
  EXPECT_EQ(buckets.front().upper_bound, 50us);
  EXPECT_EQ(buckets.back().upper_bound, 1s);
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(buckets[i - 1].upper_bound, buckets[i].upper_bound) << "bucket " << i;
    }
    const double label_s = std::stod(std::string(buckets[i].le));
    const double bound_s = std::chrono::duration<double>(buckets[i].upper_bound).count();
    EXPECT_DOUBLE_EQ(label_s, bound_s) << "bucket " << i << " le=\"" << buckets[i].le << "\"";
  }
}

TEST(DurationHistogram, RendersCumulativeBucketsSumAndCount) {
  DurationHistogram h;
  h.record(40us);
  h.record(700us);
  h.record(700us);
  h.record(2s);
  const std::string expected =
      "# HELP test_seconds A test.\n"
      "# TYPE test_seconds histogram\n"
      "test_seconds_bucket{le=\"0.00005\"} 1\n"
      "test_seconds_bucket{le=\"0.0001\"} 1\n"
      "test_seconds_bucket{le=\"0.00025\"} 1\n"
      "test_seconds_bucket{le=\"0.0005\"} 1\n"
      "test_seconds_bucket{le=\"0.001\"} 3\n"
      "test_seconds_bucket{le=\"0.0025\"} 3\n"
      "test_seconds_bucket{le=\"0.005\"} 3\n"
      "test_seconds_bucket{le=\"0.01\"} 3\n"
      "test_seconds_bucket{le=\"0.025\"} 3\n"
      "test_seconds_bucket{le=\"0.05\"} 3\n"
      "test_seconds_bucket{le=\"0.1\"} 3\n"
      "test_seconds_bucket{le=\"0.25\"} 3\n"
      "test_seconds_bucket{le=\"0.5\"} 3\n"
      "test_seconds_bucket{le=\"1\"} 3\n"
      "test_seconds_bucket{le=\"+Inf\"} 4\n"
      "test_seconds_sum 2.001440000\n"
      "test_seconds_count 4\n";
  EXPECT_EQ(rendered(h), expected);
}

TEST(DurationHistogram, AnEmptyHistogramIsExportedWithZeros) {
  const std::string text = rendered(DurationHistogram{});
  EXPECT_NE(text.find("test_seconds_bucket{le=\"+Inf\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_seconds_sum 0.000000000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_seconds_count 0\n"), std::string::npos) << text;
}

TEST(Metrics, ExportsTheListenerDeliveryHistogram) {
  Metrics m;
  m.listener_delivery.record(300us);
  const std::string text = m.render({});
  EXPECT_NE(text.find("# TYPE micstream_listener_delivery_seconds histogram\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# HELP micstream_listener_delivery_seconds "), std::string::npos) << text;
  EXPECT_NE(text.find("micstream_listener_delivery_seconds_bucket{le=\"0.00025\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("micstream_listener_delivery_seconds_bucket{le=\"0.0005\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("micstream_listener_delivery_seconds_sum 0.000300000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("micstream_listener_delivery_seconds_count 1\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace micstream::server
