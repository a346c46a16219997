// A test device: one blocking TCP connection to the server's ingest port that
// speaks link protocol v1 through core's encoders and FrameParser (never
// hand-made bytes, except send_raw() for deliberately malformed input).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "micstream/clock_sync.h"
#include "micstream/codec.h"
#include "micstream/frame_parser.h"
#include "micstream/protocol.h"

namespace micstream::itest {

struct DeviceParams {
  std::string id = "mic-01";
  std::string secret = "secret-01";
  Codec codec = Codec::pcm16;
  std::uint8_t channels = 1;
  std::uint16_t samples_per_frame = 320;  ///< a channel
  std::uint32_t sample_rate = 16000;
  std::string firmware = "itest-1.0";

  [[nodiscard]] std::int64_t frame_duration_us() const {
    return static_cast<std::int64_t>(samples_per_frame) * 1'000'000 / sample_rate;
  }
};

/// One frame read from the server.
struct ReceivedFrame {
  proto::FrameType type = proto::FrameType::error;
  std::vector<std::uint8_t> payload;
};

/// The test devices' own clock: the steady clock, like a device's uptime.
/// Far from the Unix epoch, so a server that forgot to map it is caught.
[[nodiscard]] inline std::uint64_t device_clock_us() { return static_cast<std::uint64_t>(steady_us()); }

/// What a TLS link is keyed with (docs/protocol.md, "TLS"): the device id
/// and its secret, from which the key is derived (derive_link_psk).
struct TlsPsk {
  std::string identity;
  std::string secret;
};

class TestDevice {
 public:
  enum class ReadStatus { frame, timeout, closed, parse_error };

  /// Connects to 127.0.0.1:port (TCP_NODELAY). Throws on failure.
  explicit TestDevice(std::uint16_t port);
  /// The same over TLS-PSK (after the plain WELCOME every link opens with):
  /// throws, with OpenSSL's reason, when the handshake fails.
  TestDevice(std::uint16_t port, const TlsPsk& psk);
  ~TestDevice();
  TestDevice(const TestDevice&) = delete;
  TestDevice& operator=(const TestDevice&) = delete;

  [[nodiscard]] std::uint16_t local_port() const { return local_port_; }
  /// "127.0.0.1:<local port>", as the server sees this peer.
  [[nodiscard]] std::string local_address() const;

  // ---- reading ----

  /// Reads one frame. parse_error: the bytes were not protocol v1 (see parse_error()).
  ReadStatus read_frame(ReceivedFrame& out, Millis timeout);
  [[nodiscard]] Errc parse_error() const { return parse_error_; }
  /// Reads the WELCOME every connection starts with. Throws when it is something else.
  proto::Welcome read_welcome(Millis timeout = 3s);
  /// Reads until an ERROR frame (other frames are skipped); nullopt on timeout or close.
  std::optional<proto::ErrorMessage> read_error(Millis timeout);
  /// Reads (and discards) until the server closes the connection (EOF or reset).
  bool wait_closed(Millis timeout);

  // ---- writing ----

  /// Sends bytes as they are. Returns false when the connection is gone.
  bool send_raw(std::span<const std::uint8_t> bytes);
  void send_hello(const DeviceParams& params, const proto::Welcome& welcome);
  /// read_welcome() then send_hello(); returns the WELCOME.
  proto::Welcome handshake(const DeviceParams& params);
  void send_audio(const proto::AudioHeader& header, std::span<const std::uint8_t> payload);
  void send_stats(const proto::Stats& stats);
  void send_ping(const proto::Ping& ping);

  /// One PING/PONG exchange on the device clock, fed into clock(). Throws when
  /// no PONG comes or it does not echo the PING. Returns the PONG and its arrival time t3.
  struct Exchange {
    proto::Ping ping;
    proto::Pong pong;
    std::uint64_t t3 = 0;
    std::int64_t system_before_us = 0;  ///< system clock just before the PING left
    std::int64_t system_after_us = 0;   ///< system clock just after the PONG arrived
  };
  Exchange ping_exchange(std::uint32_t id, Millis timeout = 3s);
  /// n exchanges, then a PING carrying the resulting estimate (what the server
  /// uses to map capture times); returns the estimate that PING carried.
  std::int64_t sync_clock(int exchanges = 4);
  [[nodiscard]] const ClockSync& clock() const { return clock_; }

  /// Closes the socket (a device dropping off).
  void close();
  /// Half-closes the sending side (FIN) and keeps reading possible.
  void shutdown_send();
  [[nodiscard]] bool is_open() const { return fd_ >= 0; }
  [[nodiscard]] std::uint64_t bytes_sent() const { return bytes_sent_; }

 private:
  bool send_frame(std::span<const std::uint8_t> frame);

  // One read or write of the socket, through TLS when there is a session: as recv/send.
  ssize_t receive_some(std::uint8_t* buffer, std::size_t size);
  ssize_t send_some(const std::uint8_t* data, std::size_t size);

  int fd_ = -1;
  std::uint16_t local_port_ = 0;
  struct Tls;
  std::unique_ptr<Tls> tls_;
  std::vector<std::uint8_t> storage_;
  proto::FrameParser parser_;
  std::vector<std::uint8_t> pending_;  // bytes read but not yet fed to the parser
  std::size_t pending_pos_ = 0;
  Errc parse_error_ = Errc::ok;
  ClockSync clock_;
  std::uint32_t next_ping_id_ = 1000;
  std::uint64_t bytes_sent_ = 0;
};

// ---- audio to send ----

/// A deterministic payload for frame `sequence` of a stream seeded with
/// `seed`: exactly encoded_size(codec, channels, samples) bytes, different for
/// every sequence and seed, valid for its codec (ADPCM through core's encoder).
std::vector<std::uint8_t> make_payload(Codec codec, unsigned channels, unsigned samples, std::uint32_t seed,
                                       std::uint32_t sequence);

/// What a device sent, to compare with what listeners receive.
struct SentFrame {
  proto::AudioHeader header;
  std::vector<std::uint8_t> payload;
  std::int64_t send_steady_us = 0;  ///< just before the send() call
  std::int64_t send_system_us = 0;
};

struct StreamSpec {
  std::uint32_t first_sequence = 0;
  std::uint64_t first_sample = 0;
  int frames = 50;
  /// Pause between frames; 0 = the frame's audio duration (real time).
  std::chrono::microseconds interval{0};
  std::uint32_t seed = 1;
  /// > 0: the frames carry a sine of this frequency (half scale, every
  /// channel, continuous from first_sample) instead of make_payload's bytes.
  double tone_hz = 0;
};

/// Sends spec.frames AUDIO frames paced in real time. Capture time: the device
/// clock one frame duration before the send (when the first sample was taken).
std::vector<SentFrame> stream_audio(TestDevice& device, const DeviceParams& params, const StreamSpec& spec);

/// Streams in a thread; a failed send ends it (kept in error()).
class BackgroundStream {
 public:
  BackgroundStream(TestDevice& device, DeviceParams params, StreamSpec spec)
      : thread_([this, &device, params, spec] {
          try {
            frames_ = stream_audio(device, params, spec);
          } catch (const std::exception& e) {
            error_ = e.what();
          }
        }) {}
  ~BackgroundStream() {
    if (thread_.joinable()) thread_.join();
  }
  const std::vector<SentFrame>& join() {
    if (thread_.joinable()) thread_.join();
    return frames_;
  }
  const std::string& error() const { return error_; }

 private:
  std::vector<SentFrame> frames_;
  std::string error_;
  std::thread thread_;
};

}  // namespace micstream::itest
