#include "micstream/ima_adpcm.h"

#include "micstream/codec.h"

namespace micstream::ima_adpcm {

namespace {

// The step index after each 3-bit magnitude, clamped to 0..88: one table
// lookup instead of an add and two compares per sample.
struct NextIndexTable {
  std::uint8_t next[kMaxStepIndex + 1][8];
};
constexpr NextIndexTable make_next_index_table() {
  NextIndexTable t{};
  for (int i = 0; i <= kMaxStepIndex; ++i) {
    for (int m = 0; m < 8; ++m) {
      const int v = i + kIndexAdjust[m];
      t.next[i][m] = static_cast<std::uint8_t>(v < 0 ? 0 : (v > kMaxStepIndex ? kMaxStepIndex : v));
    }
  }
  return t;
}
constexpr NextIndexTable kNextIndex = make_next_index_table();

constexpr std::size_t kSamplesPerGroup = 8;  // 8 nibbles = 4 bytes a channel
constexpr std::size_t kBytesPerGroup = 4;

struct ChannelState {
  int predictor;
  int index;
};

inline int clamp16(int v) {
  // One unsigned compare for the common in-range case.
  if (static_cast<unsigned>(v + 32768) > 65535u) v = v < 0 ? -32768 : 32767;
  return v;
}

// Applies one 4-bit code exactly as the IMA reference decoder does (shifts, not
// a multiply), so every decoder that follows the reference is bit-exact.
inline void apply_code(ChannelState& s, int code) {
  const int step = kStepTable[s.index];
  int diff = step >> 3;
  if (code & 4) diff += step;
  if (code & 2) diff += step >> 1;
  if (code & 1) diff += step >> 2;
  s.predictor = clamp16((code & 8) ? s.predictor - diff : s.predictor + diff);
  s.index = kNextIndex.next[s.index][code & 7];
}

// Quantises one sample and, in the same pass, adds up the difference the
// decoder will reconstruct (the same truncated shifts as apply_code).
inline int encode_sample(ChannelState& s, int sample) {
  const int step = kStepTable[s.index];
  int diff = sample - s.predictor;
  const int negative = diff >> 31;  // all ones when diff < 0 (arithmetic shift)
  diff = (diff ^ negative) - negative;
  int code = negative & 8;
  int reconstructed = step >> 3;
  if (diff >= step) {
    code |= 4;
    diff -= step;
    reconstructed += step;
  }
  if (diff >= (step >> 1)) {
    code |= 2;
    diff -= step >> 1;
    reconstructed += step >> 1;
  }
  if (diff >= (step >> 2)) {
    code |= 1;
    reconstructed += step >> 2;
  }
  s.predictor = clamp16(s.predictor + ((reconstructed ^ negative) - negative));
  s.index = kNextIndex.next[s.index][code & 7];
  return code;
}

std::size_t groups(std::size_t samples_per_channel) {
  return (samples_per_channel - 1 + kSamplesPerGroup - 1) / kSamplesPerGroup;
}

}  // namespace

std::size_t block_size(unsigned channels, std::size_t samples_per_channel) {
  if (channels == 0 || channels > kMaxChannels || samples_per_channel == 0) return 0;
  return channels * (kHeaderBytesPerChannel + groups(samples_per_channel) * kBytesPerGroup);
}

std::size_t samples_per_block(unsigned channels, std::size_t block_align) {
  if (channels == 0 || channels > kMaxChannels) return 0;
  const std::size_t header = channels * kHeaderBytesPerChannel;
  const std::size_t group = channels * kBytesPerGroup;
  if (block_align <= header || (block_align - header) % group != 0) return 0;
  return (block_align - header) / group * kSamplesPerGroup + 1;
}

Result<std::size_t> encode_block(std::span<const std::int16_t> interleaved, unsigned channels,
                                 std::span<std::uint8_t> step_index, std::span<std::uint8_t> out) {
  if (channels == 0 || channels > kMaxChannels || step_index.size() < channels || interleaved.empty() ||
      interleaved.size() % channels != 0) {
    return Errc::invalid_value;
  }
  const std::size_t n = interleaved.size() / channels;
  const std::size_t size = block_size(channels, n);
  if (out.size() < size) return Errc::buffer_too_small;

  ChannelState state[kMaxChannels];
  for (unsigned c = 0; c < channels; ++c) {
    const int first = interleaved[c];
    state[c] = {first, step_index[c] > kMaxStepIndex ? kMaxStepIndex : step_index[c]};
    std::uint8_t* h = &out[c * kHeaderBytesPerChannel];
    h[0] = static_cast<std::uint8_t>(first & 0xFF);
    h[1] = static_cast<std::uint8_t>((first >> 8) & 0xFF);
    h[2] = static_cast<std::uint8_t>(state[c].index);
    h[3] = 0;
  }

  std::uint8_t* p = &out[channels * kHeaderBytesPerChannel];
  std::uint8_t* const end = out.data() + size;
  if (channels == 1) {
    // Mono nibbles are simply consecutive: two samples a byte, no group bookkeeping.
    // A local copy stays in registers: stores through p (bytes) may alias anything else.
    ChannelState mono = state[0];
    const std::int16_t* x = interleaved.data();
    std::size_t i = 1;
    for (; i + 1 < n; i += 2) {
      const int low = encode_sample(mono, x[i]);
      const int high = encode_sample(mono, x[i + 1]);
      *p++ = static_cast<std::uint8_t>(low | (high << 4));
    }
    if (i < n) *p++ = static_cast<std::uint8_t>(encode_sample(mono, x[i]));
    state[0] = mono;
  } else {
    const std::size_t group_count = groups(n);
    for (std::size_t g = 0; g < group_count; ++g) {
      const std::size_t first_sample = 1 + g * kSamplesPerGroup;
      for (unsigned c = 0; c < channels; ++c) {
        for (std::size_t b = 0; b < kBytesPerGroup; ++b) {
          int byte = 0;
          for (std::size_t half = 0; half < 2; ++half) {
            const std::size_t i = first_sample + 2 * b + half;
            if (i < n) byte |= encode_sample(state[c], interleaved[i * channels + c]) << (4 * half);
          }
          *p++ = static_cast<std::uint8_t>(byte);
        }
      }
    }
  }
  while (p < end) *p++ = 0;  // padding nibbles
  for (unsigned c = 0; c < channels; ++c) step_index[c] = static_cast<std::uint8_t>(state[c].index);
  return size;
}

Result<std::size_t> decode_block(std::span<const std::uint8_t> block, unsigned channels,
                                 std::size_t samples_per_channel, std::span<std::int16_t> out) {
  const std::size_t size = block_size(channels, samples_per_channel);
  if (size == 0) return Errc::invalid_value;
  if (block.size() != size) return Errc::payload_size_mismatch;
  const std::size_t n = samples_per_channel;
  if (out.size() < n * channels) return Errc::buffer_too_small;

  ChannelState state[kMaxChannels];
  for (unsigned c = 0; c < channels; ++c) {
    const std::uint8_t* h = &block[c * kHeaderBytesPerChannel];
    if (h[2] > kMaxStepIndex) return Errc::invalid_value;
    state[c] = {static_cast<std::int16_t>(h[0] | (h[1] << 8)), h[2]};
    out[c] = static_cast<std::int16_t>(state[c].predictor);
  }

  const std::uint8_t* p = &block[channels * kHeaderBytesPerChannel];
  const std::size_t group_count = groups(n);
  for (std::size_t g = 0; g < group_count; ++g) {
    const std::size_t first_sample = 1 + g * kSamplesPerGroup;
    for (unsigned c = 0; c < channels; ++c) {
      for (std::size_t b = 0; b < kBytesPerGroup; ++b) {
        const int byte = *p++;
        for (std::size_t half = 0; half < 2; ++half) {
          const std::size_t i = first_sample + 2 * b + half;
          if (i >= n) break;
          apply_code(state[c], (byte >> (4 * half)) & 0x0F);
          out[i * channels + c] = static_cast<std::int16_t>(state[c].predictor);
        }
      }
    }
  }
  return n * channels;
}

}  // namespace micstream::ima_adpcm
