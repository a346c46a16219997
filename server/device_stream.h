// One device's stream as the server keeps it: it outlives the device's
// connection, so listeners stay subscribed through a reconnect and the gap is
// counted. It builds each audio frame's listener bytes once and fans them out.
#pragma once

#include <chrono>
#include <cstdint>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "micstream/protocol.h"
#include "micstream/rate_estimator.h"
#include "listener_opus.h"
#include "standard_stream.h"

namespace micstream::server {

class HttpStreamSession;
class ListenerSession;
struct Metrics;

struct StreamParams {
  Codec codec = Codec::pcm16;
  std::uint8_t channels = 1;
  std::uint32_t sample_rate = 0;
  std::uint16_t samples_per_frame = 0;
  std::string firmware;
  bool tls = false;  ///< the link is TLS-PSK (docs/protocol.md "TLS")
};

class DeviceStream {
 public:
  explicit DeviceStream(std::string id) : id_(std::move(id)) {}

  [[nodiscard]] const std::string& id() const { return id_; }
  [[nodiscard]] bool online() const { return online_; }
  [[nodiscard]] const StreamParams& params() const { return params_; }

  /// A device link passed HELLO (over TLS or plain). A new sample rate or
  /// channel count starts the stream over; the same ones continue it (gaps counted).
  void connected(const proto::Hello& hello, std::string address, bool tls, std::uint64_t now_us);
  void disconnected();

  /// One AUDIO frame, already validated; capture_server_us is its capture time
  /// on the server's clock, arrived when it was read off the device's socket
  /// (steady clock). Counts gaps, measures the rate, fans out: the frame as
  /// it came to the listeners who want the device's codec, Opus packets
  /// (opus_bitrate) to those who asked for Opus.
  void on_audio(const proto::Audio& audio, std::size_t frame_bytes, std::int64_t capture_server_us,
                std::uint64_t arrival_us, std::chrono::steady_clock::time_point arrived, std::uint32_t opus_bitrate,
                Metrics& metrics);
  void on_stats(const proto::Stats& stats, Metrics& metrics);

  void add_listener(ListenerSession* listener);
  void remove_listener(ListenerSession* listener);
  [[nodiscard]] const std::vector<ListenerSession*>& listeners() const { return listeners_; }

  /// The stream in a standard format, its encoder made on first use (nullptr,
  /// with the reason in error, when the stream's shape is unknown or the encoder fails).
  StandardStream* standard_stream(StreamFormat format, const StreamEncoderSettings& settings, std::string& error);
  /// A standard stream's listener leaves; the stream's encoder goes with its last listener.
  void remove_stream_listener(HttpStreamSession* listener);
  [[nodiscard]] std::size_t stream_listener_count() const;
  [[nodiscard]] std::size_t standard_stream_count() const;
  /// Whether the WebSocket listeners' Opus encoder runs (it goes with the
  /// first frame after its last listener).
  [[nodiscard]] bool has_opus_encoder() const { return opus_ != nullptr; }
  /// WebSocket or standard-stream listeners.
  [[nodiscard]] bool has_listeners() const { return !listeners_.empty() || stream_listener_count() > 0; }

  /// The `stream` message's fields, and the /api/devices entry.
  [[nodiscard]] nlohmann::json stream_json() const;
  [[nodiscard]] nlohmann::json api_json() const;

 private:
  /// The frame as interleaved PCM16, for the encoders (into pcm_).
  std::span<const std::int16_t> decode_pcm(const proto::Audio& audio);
  /// The Opus packets of this frame for the Opus listeners (into opus_frames_);
  /// false when there is no encoder for them (they get the device's frames).
  bool encode_opus(std::span<const std::int16_t> pcm, std::int64_t capture_server_us, std::uint64_t lost,
                   std::uint32_t bitrate);
  [[nodiscard]] std::size_t opus_listener_count() const;
  /// WebSocket listeners that get audio (not those that asked for none).
  [[nodiscard]] std::size_t audio_listener_count() const;

  std::string id_;
  bool online_ = false;
  StreamParams params_;
  std::string address_;
  std::uint64_t connected_since_us_ = 0;
  std::uint64_t connections_ = 0;

  std::optional<std::uint64_t> expected_sample_;  // first sample of the next frame, if continuous
  std::uint64_t frames_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t gaps_ = 0;
  std::uint64_t lost_samples_ = 0;
  std::uint64_t restarts_ = 0;  // sample index went backwards
  RateEstimator rate_{16000};
  std::optional<proto::Stats> last_stats_;
  std::uint64_t last_stats_dropped_ = 0;

  std::vector<ListenerSession*> listeners_;
  std::array<std::unique_ptr<StandardStream>, kStreamFormats> standard_;  // by StreamFormat; only while listened to
  std::vector<std::int16_t> pcm_;  // a frame decoded for the encoders, reused
  std::unique_ptr<ListenerOpusEncoder> opus_;  // only while a WebSocket listener wants Opus
  bool opus_failed_ = false;                   // this connection's encoder could not be made
  std::vector<std::shared_ptr<const std::string>> opus_frames_;  // this frame's packets, reused
};

}  // namespace micstream::server
