// Server-wide counters, rendered in the Prometheus text format at /metrics.
// The server runs on one thread, so plain integers suffice.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

namespace micstream::server {

/// A Prometheus histogram of durations over fixed buckets. Recording one is a
/// scan of a constant table of 14 bounds and three additions: nothing is
/// allocated and nothing locked (the server runs on one thread).
class DurationHistogram {
 public:
  struct Bucket {
    std::chrono::nanoseconds upper_bound;
    std::string_view le;  ///< the bound as the `le` label writes it, in seconds
  };
  /// From 50 µs (a frame handed on at once on loopback) to 1 s (far beyond
  /// any listener queue the server keeps): 1, 2.5, 5 in each decade.
  static constexpr std::array<Bucket, 14> kBuckets{{
      {std::chrono::microseconds(50), "0.00005"},
      {std::chrono::microseconds(100), "0.0001"},
      {std::chrono::microseconds(250), "0.00025"},
      {std::chrono::microseconds(500), "0.0005"},
      {std::chrono::milliseconds(1), "0.001"},
      {std::chrono::microseconds(2500), "0.0025"},
      {std::chrono::milliseconds(5), "0.005"},
      {std::chrono::milliseconds(10), "0.01"},
      {std::chrono::milliseconds(25), "0.025"},
      {std::chrono::milliseconds(50), "0.05"},
      {std::chrono::milliseconds(100), "0.1"},
      {std::chrono::milliseconds(250), "0.25"},
      {std::chrono::milliseconds(500), "0.5"},
      {std::chrono::seconds(1), "1"},
  }};

  /// One observation; a negative duration counts as 0.
  void record(std::chrono::nanoseconds duration);

  [[nodiscard]] std::uint64_t count() const { return count_; }
  [[nodiscard]] std::chrono::nanoseconds sum() const { return std::chrono::nanoseconds(sum_ns_); }
  /// Observations in bucket i alone (not cumulative); i == kBuckets.size() is the one above 1 s.
  [[nodiscard]] std::uint64_t in_bucket(std::size_t i) const { return counts_[i]; }

  /// Writes the HELP and TYPE lines, the cumulative buckets, _sum (seconds) and _count.
  void render(std::ostream& out, std::string_view name, std::string_view help) const;

 private:
  std::array<std::uint64_t, kBuckets.size() + 1> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ns_ = 0;
};

/// What the hub knows now, for the gauges.
struct Gauges {
  std::size_t devices_online = 0;
  std::size_t devices_known = 0;
  std::size_t listeners = 0;         ///< WebSocket
  std::size_t stream_listeners = 0;  ///< HTTP standard streams
  std::size_t stream_encoders = 0;   ///< one per device and format listened to
  std::size_t opus_encoders = 0;     ///< WebSocket Opus: one per device with Opus listeners
};

struct Metrics {
  std::uint64_t device_connections = 0;
  std::uint64_t listener_connections = 0;
  std::uint64_t stream_connections = 0;  ///< HTTP standard streams started
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;       ///< audio frames queued to listeners
  std::uint64_t bytes_in = 0;         ///< device link bytes
  std::uint64_t bytes_out = 0;        ///< bytes written to listeners (WebSocket and HTTP streams)
  std::uint64_t parse_errors = 0;     ///< device links closed for malformed frames
  std::uint64_t auth_failures = 0;    ///< wrong proof or unknown device
  std::uint64_t dropped_listener_skip = 0;    ///< frames a slow listener skipped
  std::uint64_t dropped_device_gap = 0;       ///< frames lost before the server (sample-index gaps)
  std::uint64_t dropped_device_queue = 0;     ///< frames the devices report dropped at their queue
  std::uint64_t listener_disconnects_slow = 0;
  std::uint64_t connections_refused = 0;      ///< over a connection limit, or from an address failing HELLOs
  std::uint64_t peers_cut = 0;                ///< listeners or devices cut for flooding or not answering
  /// Each audio frame a listener's write completed: from the frame read off
  /// the device's socket to the write carrying it done (steady clock).
  DurationHistogram listener_delivery;

  /// The text exposition, with the gauges the hub knows.
  [[nodiscard]] std::string render(const Gauges& gauges) const;
};

}  // namespace micstream::server
