// The audio codecs a stream can use, and one entry point that dispatches to
// each codec's own file (pcm16.h, mulaw.h, ima_adpcm.h). Every encoded frame
// decodes on its own: a lost frame never corrupts the next one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "micstream/error.h"

namespace micstream {

/// Codec identifiers; the values travel on the wire (HELLO, AUDIO, CONFIG).
enum class Codec : std::uint8_t {
  pcm16 = 1,      ///< 16-bit signed little-endian PCM, 2 bytes a sample.
  mulaw = 2,      ///< ITU-T G.711 mu-law, 1 byte a sample.
  ima_adpcm = 3,  ///< IMA ADPCM, one WAV-style block (format 0x11) per frame, 4 bits a sample.
};

inline constexpr unsigned kMaxChannels = 2;

[[nodiscard]] bool is_valid_codec(std::uint8_t value);

/// The codec's name as the tools and the API spell it: "pcm16", "mulaw", "ima-adpcm".
[[nodiscard]] const char* codec_name(Codec codec);

/// Parses a name from codec_name(); false when it names no codec.
[[nodiscard]] bool codec_from_name(std::string_view name, Codec& codec);

/// Bytes of one encoded frame of samples_per_channel samples on each of
/// channels (1..kMaxChannels) channels; 0 when the arguments are invalid.
[[nodiscard]] std::size_t encoded_size(Codec codec, unsigned channels, std::size_t samples_per_channel);

/// Encodes frames of one stream. Holds the state a codec carries from frame to
/// frame (the ADPCM step index, so quality does not restart every frame) while
/// each frame still decodes on its own.
class FrameEncoder {
 public:
  FrameEncoder(Codec codec, unsigned channels);

  /// Switches codec from the next frame on (CONFIG from the server).
  void set_codec(Codec codec);
  [[nodiscard]] Codec codec() const { return codec_; }
  [[nodiscard]] unsigned channels() const { return channels_; }

  /// Encodes interleaved samples (a multiple of channels()) into out.
  /// @returns bytes written, or buffer_too_small / invalid_value.
  [[nodiscard]] Result<std::size_t> encode(std::span<const std::int16_t> interleaved, std::span<std::uint8_t> out);

 private:
  Codec codec_;
  unsigned channels_;
  std::uint8_t adpcm_step_index_[kMaxChannels] = {};
};

/// Decodes one frame. The payload must be exactly encoded_size() bytes.
/// @returns interleaved samples written to out (samples_per_channel * channels),
///          or payload_size_mismatch / buffer_too_small / invalid_value.
[[nodiscard]] Result<std::size_t> decode_frame(Codec codec, unsigned channels, std::size_t samples_per_channel,
                                               std::span<const std::uint8_t> payload, std::span<std::int16_t> out);

}  // namespace micstream
