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

/// The IMA ADPCM tables (IMA Digital Audio Focus and Technical Working Groups,
/// 1992): the quantiser step at each step index, and how a 3-bit magnitude
/// moves the index. The one copy: the codec and the tests' reference decoders use it.
inline constexpr std::int16_t kStepTable[kMaxStepIndex + 1] = {
    7,     8,     9,     10,    11,    12,    13,    14,    16,    17,    19,    21,    23,    25,    28,
    31,    34,    37,    41,    45,    50,    55,    60,    66,    73,    80,    88,    97,    107,   118,
    130,   143,   157,   173,   190,   209,   230,   253,   279,   307,   337,   371,   408,   449,   494,
    544,   598,   658,   724,   796,   876,   963,   1060,  1166,  1282,  1411,  1552,  1707,  1878,  2066,
    2272,  2499,  2749,  3024,  3327,  3660,  4026,  4428,  4871,  5358,  5894,  6484,  7132,  7845,  8630,
    9493,  10442, 11487, 12635, 13899, 15289, 16818, 18500, 20350, 22385, 24623, 27086, 29794, 32767};
inline constexpr std::int8_t kIndexAdjust[8] = {-1, -1, -1, -1, 2, 4, 6, 8};

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
