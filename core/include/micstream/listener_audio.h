// The listener WebSocket's binary audio message (docs/protocol.md, "Binary
// messages: audio"): the one C++ definition of its bytes. The server writes
// it once per device frame; the tests and the load generator read it. The
// page's definition is web/protocol.js; both check docs/protocol.md's
// vector:listener-audio.
//
//   offset  0  u8   kind, 1 = audio
//   offset  1  u8   codec: the device's (codec.h), or 4 = Opus
//   offset  2  u8   channels
//   offset  3  u8   0
//   offset  4  u32  sequence, the device's
//   offset  8  u64  first sample index, the device's
//   offset 16  i64  capture time of the first sample, Unix epoch µs on the server's clock
//   offset 24  u32  sample rate, Hz
//   offset 28  u16  sample count, a channel
//   offset 30  u16  0
//   offset 32  the codec payload: as the device sent it, or one Opus packet
// Little-endian. The same limits as the device link's (protocol.h); an Opus
// message is one 20 ms packet at 48 kHz, which the server encodes once per
// device for the listeners who ask for Opus.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "micstream/codec.h"
#include "micstream/error.h"

namespace micstream::listener {

inline constexpr std::size_t kAudioHeaderSize = 32;
inline constexpr std::uint8_t kAudioKind = 1;

/// The codec byte: the device link's codecs (same values), or Opus.
enum class ListenerCodec : std::uint8_t { pcm16 = 1, mulaw = 2, ima_adpcm = 3, opus = 4 };
[[nodiscard]] constexpr ListenerCodec listener_codec(Codec codec) { return static_cast<ListenerCodec>(codec); }
/// The device codec a message carries; false for Opus (or a byte that names none).
[[nodiscard]] bool device_codec(ListenerCodec codec, Codec& out);
/// "pcm16", "mulaw", "ima-adpcm" or "opus".
[[nodiscard]] const char* listener_codec_name(ListenerCodec codec);

// Opus messages: what the decoder makes of one packet, and the packet's bound
// (RFC 6716: a 20 ms packet is a TOC byte and one frame of at most 1,275 bytes).
inline constexpr std::uint32_t kOpusSampleRate = 48000;
inline constexpr std::uint16_t kOpusPacketSamples = 960;  // a channel
inline constexpr std::size_t kMaxOpusPacketBytes = 1276;

struct Audio {
  ListenerCodec codec = ListenerCodec::pcm16;
  std::uint8_t channels = 1;
  std::uint32_t sequence = 0;
  std::uint64_t first_sample = 0;
  std::int64_t capture_server_us = 0;
  std::uint32_t sample_rate = 0;
  std::uint16_t sample_count = 0;         ///< a channel
  /// encoded_size(codec, channels, sample_count) bytes; for Opus 1 to kMaxOpusPacketBytes
  std::span<const std::uint8_t> payload;
};

/// Writes the header for `a` (its payload follows it in the message).
/// invalid_codec, invalid_value (channels, sample rate or count out of the
/// link's bounds) or payload_size_mismatch for a message no listener may get.
[[nodiscard]] Errc encode_audio_header(const Audio& a, std::span<std::uint8_t, kAudioHeaderSize> out);

/// Reads a whole message; `out.payload` then points into `message`. The same
/// checks, and invalid_value for an unknown kind or nonzero reserved bytes,
/// truncated_field for a message shorter than its header.
[[nodiscard]] Errc decode_audio(std::span<const std::uint8_t> message, Audio& out);

/// The same for a reader that keeps only the header of a message whose
/// payload is `payload_size` bytes (the load generator): `out.payload` is
/// left empty.
[[nodiscard]] Errc decode_audio_header(std::span<const std::uint8_t, kAudioHeaderSize> header,
                                       std::size_t payload_size, Audio& out);

}  // namespace micstream::listener
