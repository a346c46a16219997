// The standard streams' encoders (docs/server.md "Standard streams"): one per
// device and format, fed the device's audio as PCM16 once, whatever codec the
// device sends; what they make is shared by every listener of that format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace micstream::server {

enum class StreamFormat : std::uint8_t {
  wav,       ///< /stream/<id>.wav: PCM16 WAV whose sizes say "unknown" (0xFFFFFFFF), endless
  ogg_opus,  ///< /stream/<id>.opus: Ogg Opus, 20 ms packets, a page each
  mp3,       ///< /stream/<id>.mp3: MPEG audio layer III (LAME), what every <audio> element plays, Safari's on iOS too
};
inline constexpr std::size_t kStreamFormats = 3;

struct StreamFormatInfo {
  StreamFormat format;
  std::string_view extension;     ///< after the id in the URL: "wav"
  std::string_view content_type;  ///< the response's Content-Type
};
[[nodiscard]] const StreamFormatInfo& format_info(StreamFormat format);
/// The format a URL's extension names; nullopt for none.
[[nodiscard]] std::optional<StreamFormat> format_from_extension(std::string_view extension);

struct StreamEncoderSettings {
  std::uint32_t opus_bitrate = 32000;  ///< bits per second, for the whole stream
  std::uint32_t mp3_bitrate_kbps = 64;
};

/// Bytes of the stream and the audio they carry.
struct EncodedChunk {
  std::string bytes;
  std::uint32_t audio_us = 0;
};

class StreamEncoder {
 public:
  virtual ~StreamEncoder() = default;
  /// What every listener gets before the first chunk (the WAV header; Ogg Opus's two header pages).
  [[nodiscard]] virtual const std::string& header() const = 0;
  /// Interleaved PCM16 at the stream's rate; what it makes is appended to out
  /// (nothing while an encoder waits for a whole packet).
  virtual void encode(std::span<const std::int16_t> interleaved, std::vector<EncodedChunk>& out) = 0;
};

/// An encoder for this format, or nullptr with the reason in error.
[[nodiscard]] std::unique_ptr<StreamEncoder> make_stream_encoder(StreamFormat format, std::uint32_t sample_rate,
                                                                 unsigned channels, const StreamEncoderSettings& settings,
                                                                 std::string& error);

}  // namespace micstream::server
