// Opus for the WebSocket listeners who ask for it (docs/protocol.md, "Opus for
// listeners"): one encoder per device, fed the device's audio as PCM16 once,
// whatever codec the device sends; each 20 ms packet becomes one audio message
// whose bytes every Opus listener of the device shares. libopusenc resamples
// any device rate to Opus's 48 kHz; its packets are taken as they are made
// (its Ogg pages are thrown away).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

struct OggOpusEnc;

namespace micstream::server {

class ListenerOpusEncoder {
 public:
  /// nullptr, with the reason in error, when libopusenc refuses the shape.
  static std::unique_ptr<ListenerOpusEncoder> make(std::uint32_t sample_rate, unsigned channels,
                                                   std::uint32_t bitrate, std::string& error);
  ~ListenerOpusEncoder();
  ListenerOpusEncoder(const ListenerOpusEncoder&) = delete;
  ListenerOpusEncoder& operator=(const ListenerOpusEncoder&) = delete;

  /// One device frame of interleaved PCM16, its first sample captured at
  /// capture_server_us, after lost_samples (a channel) the device lost before
  /// it. Appends the WebSocket frame of each packet it completes to out.
  void encode(std::span<const std::int16_t> interleaved, std::int64_t capture_server_us, std::uint64_t lost_samples,
              std::vector<std::shared_ptr<const std::string>>& out);

  /// The encoder's delay at 48 kHz (the header's pre-skip): a packet's first
  /// sample is this much older than the input it ends on.
  [[nodiscard]] std::uint32_t pre_skip() const { return pre_skip_; }

 private:
  ListenerOpusEncoder(std::uint32_t sample_rate, unsigned channels) : rate_(sample_rate), channels_(channels) {}
  static void on_packet(void* self, const unsigned char* packet, std::int32_t length, std::uint32_t flags);
  /// A device frame fed to the encoder: where it starts in the input, and when it was captured.
  struct Fed {
    std::uint64_t input_sample;  // a channel, at the device's rate, since the encoder started
    std::int64_t capture_server_us;
  };
  [[nodiscard]] std::int64_t capture_of(std::int64_t sample48);

  std::uint32_t rate_;
  unsigned channels_;
  OggOpusEnc* encoder_ = nullptr;
  std::uint32_t pre_skip_ = 0;
  std::uint64_t input_samples_ = 0;    // fed so far, a channel
  std::deque<Fed> fed_;                // frames whose audio may still be in a packet to come
  std::uint64_t packets_ = 0;          // audio packets made
  std::uint64_t gap48_ = 0;            // lost audio so far at 48 kHz: added to the messages' sample index
  std::vector<std::shared_ptr<const std::string>>* out_ = nullptr;  // during encode()
};

}  // namespace micstream::server
