// PCM16: 16-bit signed samples, little-endian, interleaved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace micstream::pcm16 {

/// Writes samples.size() * 2 bytes; out must hold them.
void encode(std::span<const std::int16_t> samples, std::span<std::uint8_t> out);

/// Reads bytes.size() / 2 samples; out must hold them.
void decode(std::span<const std::uint8_t> bytes, std::span<std::int16_t> out);

}  // namespace micstream::pcm16
