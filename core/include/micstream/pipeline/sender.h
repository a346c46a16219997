// The sender task's logic: it owns the connection to the server (WELCOME,
// HELLO with the proof of the device's secret, PING for the clock offset,
// periodic STATS, reconnecting with the shared backoff, CONFIG applied
// without a restart) and sends every queued frame, encoded and framed, once
// and in order. The platform's task simply calls run_once() in a loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "micstream/backoff.h"
#include "micstream/clock_sync.h"
#include "micstream/codec.h"
#include "micstream/frame_parser.h"
#include "micstream/pipeline/capture.h"
#include "micstream/pipeline/frame_queue.h"
#include "micstream/pipeline/ports.h"
#include "micstream/protocol.h"

namespace micstream::pipeline {

struct SenderConfig {
  proto::DeviceId device_id;
  std::span<const std::uint8_t> secret;  ///< must outlive the sender
  /// Wrap the link in TLS with the secret as its key (Transport::start_tls,
  /// docs/protocol.md "TLS"). Never falls back to plain.
  bool tls = false;
  proto::BoundedString<proto::kMaxFirmwareVersionLength> firmware_version;
  Codec codec = Codec::ima_adpcm;
  std::uint32_t sample_rate = 16000;
  std::uint8_t channels = 1;
  std::uint16_t samples_per_frame = 320;  ///< a channel

  BackoffPolicy backoff;
  std::uint32_t connect_timeout_ms = 5000;
  std::uint32_t welcome_timeout_ms = 5000;
  std::uint32_t send_timeout_ms = 2000;     ///< a send that takes longer means the link is dead
  std::uint32_t silence_timeout_ms = 10000; ///< the server answers every PING, so silence means a dead link
  std::uint32_t ping_interval_ms = 2000;
  std::uint32_t initial_pings = 3;          ///< right after HELLO, to learn the offset quickly
  std::uint32_t initial_ping_interval_ms = 100;
  std::uint32_t stats_interval_ms = 5000;
};

/// Bytes the sender's transmit buffer needs for this configuration: one AUDIO
/// frame of the largest codec (PCM16), as CONFIG may switch to it.
[[nodiscard]] constexpr std::size_t sender_buffer_size(std::uint8_t channels, std::uint16_t samples_per_frame) {
  return proto::kHeaderSize + proto::kAudioHeaderSize + std::size_t{2} * channels * samples_per_frame;
}

/// What the sender tells the platform (for logs) and asks of it (for STATS).
/// Every method has a default that does nothing.
class SenderObserver {
 public:
  virtual ~SenderObserver() = default;
  virtual void on_connected(std::uint32_t /*reconnects*/) {}
  virtual void on_disconnected(const char* /*reason*/, std::uint32_t /*retry_in_ms*/) {}
  virtual void on_server_error(const proto::ErrorMessage& /*error*/) {}
  virtual void on_config(const proto::Config& /*config*/) {}
  /// Fill what only the platform knows: free heap, WiFi RSSI.
  virtual void fill_stats(proto::Stats& /*stats*/) {}
};

class Sender {
 public:
  struct Ports {
    Transport& transport;
    Clock& clock;
    Random& random;
    SenderObserver& observer;
  };

  /// tx_buffer: at least sender_buffer_size(channels, samples_per_frame) bytes.
  Sender(const SenderConfig& config, FrameQueue& queue, Capture& capture, Ports ports, std::span<std::uint8_t> tx_buffer);

  /// False when the configuration or the buffer cannot work (checked once, at start).
  [[nodiscard]] Errc check() const;

  /// One step: connect when it is time, else send the next frame and handle
  /// what the server sent, PING and STATS when due. Blocks for at most a few
  /// tens of milliseconds plus the transport's timeouts.
  void run_once();
  /// Closes the link (no ERROR is sent), e.g. before the task ends.
  void stop();

  [[nodiscard]] bool streaming() const { return state_ == State::streaming; }
  [[nodiscard]] std::uint64_t frames_sent() const { return frames_sent_; }
  /// Links the server accepted, beyond the first.
  [[nodiscard]] std::uint32_t reconnects() const { return accepted_links_ > 0 ? accepted_links_ - 1 : 0; }
  [[nodiscard]] const ClockSync& clock_sync() const { return clock_sync_; }
  [[nodiscard]] Codec codec() const { return encoder_.codec(); }

 private:
  enum class State : std::uint8_t { disconnected, streaming };

  bool handshake(std::uint64_t now_us);
  /// Reads the WELCOME due by give_up; false (disconnected) on anything else.
  bool read_welcome(std::uint64_t give_up, proto::Welcome& welcome, bool before_tls);
  void disconnect(const char* reason, bool send_error = false, Errc code = Errc::ok);
  bool send_frame(const AudioFrame& frame);
  bool receive(std::uint32_t wait_ms);
  bool handle(const proto::FrameView& frame);
  bool send_ping(std::uint64_t now_us);
  bool send_stats(std::uint64_t now_us);
  bool send_bytes(std::size_t size);

  SenderConfig config_;
  FrameQueue& queue_;
  Capture& capture_;
  Ports ports_;
  std::span<std::uint8_t> tx_;
  FrameEncoder encoder_;
  Backoff backoff_;
  ClockSync clock_sync_;

  State state_ = State::disconnected;
  std::uint64_t retry_at_us_ = 0;
  std::uint32_t accepted_links_ = 0;
  bool link_accepted_ = false;   // the server answered a PING on this link: HELLO was accepted
  bool pong_pending_ = false;    // a PING is out and its PONG has not come back
  std::uint64_t link_started_us_ = 0;
  bool replaced_ = false;        // the server said another link of this id took over
  std::uint64_t frames_sent_ = 0;
  std::uint32_t next_ping_id_ = 1;
  std::uint32_t pings_this_link_ = 0;
  std::uint64_t next_ping_us_ = 0;
  std::uint64_t next_stats_us_ = 0;
  std::uint64_t last_receive_us_ = 0;

  std::uint8_t rx_chunk_[256] = {};
  std::uint8_t parser_storage_[proto::kHeaderSize + 256] = {};  // the server's frames are all small
  proto::FrameParser parser_{parser_storage_};
};

}  // namespace micstream::pipeline
