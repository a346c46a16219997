// Link faults for tests, as a Transport around the real one:
//  - cut_every_s: that long after each connect, the next AUDIO frame is sent
//    only half and the socket is closed (the server sees a truncated frame
//    and EOF, the sender a failed send, as when WiFi drops mid-frame);
//  - send_jitter_ms: delay variation, as an uneven network gives it: each
//    AUDIO frame leaves a random 0..J ms after it was complete (its capture
//    time plus one frame period), in order, never before the frame ahead of
//    it; the link's throughput is not reduced, so nothing queues up at the
//    device. Other frames go at once.
// With neither set it only forwards.
#pragma once

#include <atomic>
#include <cstdint>

#include "micstream/pipeline/ports.h"
#include "posix_clock.h"
#include "stop_flag.h"

namespace micstream::device {

struct LinkFaults {
  double cut_every_s = 0.0;          ///< 0: never
  std::uint32_t send_jitter_ms = 0;  ///< 0: none
};

class FaultTransport final : public pipeline::Transport {
 public:
  FaultTransport(pipeline::Transport& inner, LinkFaults faults, pipeline::Clock& clock, pipeline::Random& random,
                 const StopFlag& stop);

  Status connect(std::uint32_t timeout_ms) override;
  Status send(std::span<const std::uint8_t> bytes, std::uint32_t timeout_ms) override;
  Status receive(std::span<std::uint8_t> out, std::uint32_t timeout_ms, std::size_t& received) override {
    own_error_ = false;
    return inner_.receive(out, timeout_ms, received);
  }
  Status start_tls(std::uint32_t timeout_ms) override {
    own_error_ = false;
    return inner_.start_tls(timeout_ms);
  }
  void close() override { inner_.close(); }
  const char* last_error() override { return own_error_ ? error_ : inner_.last_error(); }

  /// Links cut so far (any thread).
  [[nodiscard]] std::uint64_t cuts() const { return cuts_.load(std::memory_order_relaxed); }

 private:
  pipeline::Transport& inner_;
  LinkFaults faults_;
  pipeline::Clock& clock_;
  pipeline::Random& random_;
  const StopFlag& stop_;
  void hold_for_jitter(std::span<const std::uint8_t> bytes);

  std::uint64_t cut_at_us_ = 0;
  std::uint64_t last_capture_us_ = 0;  ///< the previous AUDIO frame's, for the frame period
  std::uint64_t period_us_ = 0;
  std::atomic<std::uint64_t> cuts_{0};
  bool own_error_ = false;
  char error_[160] = "";
};

}  // namespace micstream::device
