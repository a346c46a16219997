// PCM16: 16-bit signed samples, little-endian, interleaved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "micstream/error.h"

namespace micstream::pcm16 {

/// Writes samples.size() * 2 bytes.
/// @returns bytes written, or buffer_too_small (nothing written) when out is shorter.
[[nodiscard]] Result<std::size_t> encode(std::span<const std::int16_t> samples, std::span<std::uint8_t> out);

/// Reads bytes.size() / 2 samples.
/// @returns samples written, or payload_size_mismatch for an odd byte count,
///          buffer_too_small when out is shorter (nothing written either way).
[[nodiscard]] Result<std::size_t> decode(std::span<const std::uint8_t> bytes, std::span<std::int16_t> out);

}  // namespace micstream::pcm16
