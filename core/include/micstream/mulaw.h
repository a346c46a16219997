// ITU-T G.711 mu-law: 14-bit dynamic range in 8 bits, one byte a sample.
// Decoding is bit-exact with every G.711 decoder (sox, ffmpeg, libsndfile);
// the encoder rounds like libsndfile's (tests/interop checks both).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "micstream/error.h"

namespace micstream::mulaw {

[[nodiscard]] std::uint8_t encode_sample(std::int16_t sample);
[[nodiscard]] std::int16_t decode_sample(std::uint8_t code);

/// One byte for each sample.
/// @returns bytes written, or buffer_too_small (nothing written) when out is shorter.
[[nodiscard]] Result<std::size_t> encode(std::span<const std::int16_t> samples, std::span<std::uint8_t> out);

/// One sample for each byte.
/// @returns samples written, or buffer_too_small (nothing written) when out is shorter.
[[nodiscard]] Result<std::size_t> decode(std::span<const std::uint8_t> codes, std::span<std::int16_t> out);

}  // namespace micstream::mulaw
