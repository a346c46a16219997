// The listener WebSocket's binary audio message (docs/protocol.md, "Binary
// messages: audio"): the one C++ definition of its bytes. The server writes
// it once per device frame; the tests and the load generator read it. The
// page's definition is web/protocol.js; both check docs/protocol.md's
// vector:listener-audio.
//
//   offset  0  u8   kind, 1 = audio
//   offset  1  u8   codec
//   offset  2  u8   channels
//   offset  3  u8   0
//   offset  4  u32  sequence, the device's
//   offset  8  u64  first sample index, the device's
//   offset 16  i64  capture time of the first sample, Unix epoch µs on the server's clock
//   offset 24  u32  sample rate, Hz
//   offset 28  u16  sample count, a channel
//   offset 30  u16  0
//   offset 32  the codec payload, as the device sent it
// Little-endian. The same limits as the device link's (protocol.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "micstream/codec.h"
#include "micstream/error.h"

namespace micstream::listener {

inline constexpr std::size_t kAudioHeaderSize = 32;
inline constexpr std::uint8_t kAudioKind = 1;

struct Audio {
  Codec codec = Codec::pcm16;
  std::uint8_t channels = 1;
  std::uint32_t sequence = 0;
  std::uint64_t first_sample = 0;
  std::int64_t capture_server_us = 0;
  std::uint32_t sample_rate = 0;
  std::uint16_t sample_count = 0;         ///< a channel
  std::span<const std::uint8_t> payload;  ///< encoded_size(codec, channels, sample_count) bytes
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
