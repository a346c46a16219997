// IMA ADPCM in the block layout of WAV format 0x11 (WAVE_FORMAT_IMA_ADPCM),
// so a frame, or a WAV file of such blocks, decodes with standard tools.
//
// A block of N samples a channel is:
//   for each channel:  int16 LE first sample, uint8 step index (0..88), uint8 0
//   then groups of 8 samples:  for each channel, 4 bytes holding 8 nibbles,
//                              the earlier sample in the low nibble.
// The first sample is stored whole in the header; the other N-1 are nibbles,
// padded with zero nibbles to a multiple of 8. Each block decodes on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "micstream/error.h"

namespace micstream::ima_adpcm {

inline constexpr std::size_t kHeaderBytesPerChannel = 4;
inline constexpr std::uint8_t kMaxStepIndex = 88;

/// Bytes of a block of samples_per_channel (>= 1) samples on each channel.
[[nodiscard]] std::size_t block_size(unsigned channels, std::size_t samples_per_channel);

/// Samples a channel in a WAV block of block_align bytes: what the "samples
/// per block" field of a WAV fmt chunk holds; 0 when the size is impossible.
[[nodiscard]] std::size_t samples_per_block(unsigned channels, std::size_t block_align);

/// Encodes interleaved samples (samples_per_channel * channels) into one block.
/// step_index holds one step index a channel (0..88), carried from block to
/// block by the caller; it is updated.
/// @returns bytes written (block_size()), or buffer_too_small / invalid_value.
[[nodiscard]] Result<std::size_t> encode_block(std::span<const std::int16_t> interleaved, unsigned channels,
                                               std::span<std::uint8_t> step_index, std::span<std::uint8_t> out);

/// Decodes one block of exactly block_size(channels, samples_per_channel) bytes.
/// @returns interleaved samples written, or payload_size_mismatch /
///          buffer_too_small / invalid_value (a step index above 88).
[[nodiscard]] Result<std::size_t> decode_block(std::span<const std::uint8_t> block, unsigned channels,
                                               std::size_t samples_per_channel, std::span<std::int16_t> out);

}  // namespace micstream::ima_adpcm
