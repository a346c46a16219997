// Clock offset between two machines from PING/PONG exchanges, with NTP's
// arithmetic. The exchange with the smallest round trip among the last few is
// trusted: queueing only ever adds delay, so the fastest exchange is the one
// least skewed by it. Used by the device (against the server) and mirrored by
// the page (against the server, over the WebSocket).
#pragma once

#include <cstddef>
#include <cstdint>

namespace micstream {

class ClockSync {
 public:
  static constexpr std::size_t kWindow = 8;

  /// One exchange: t0 local send, t1 remote receive, t2 remote send, t3 local
  /// receive, all in microseconds. False (and ignored) when the times are
  /// inconsistent: t3 before t0, or t2 before t1.
  bool add(std::uint64_t t0, std::uint64_t t1, std::uint64_t t2, std::uint64_t t3);

  [[nodiscard]] bool has_estimate() const { return count_ > 0; }
  /// Remote clock minus local clock, microseconds (0 before any exchange).
  [[nodiscard]] std::int64_t offset_us() const;
  /// Round trip of the exchange the offset comes from, microseconds.
  [[nodiscard]] std::uint32_t rtt_us() const;

  void reset() { count_ = next_ = 0; }

 private:
  struct Sample {
    std::int64_t offset_us;
    std::uint32_t rtt_us;
  };
  [[nodiscard]] const Sample* best() const;

  Sample samples_[kWindow] = {};
  std::size_t count_ = 0;
  std::size_t next_ = 0;
};

}  // namespace micstream
