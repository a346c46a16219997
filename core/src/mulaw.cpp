#include "micstream/mulaw.h"

#include <bit>

namespace micstream::mulaw {

namespace {
constexpr int kBias = 0x84;   // G.711 adds 33 (x4) so every segment starts at a power of two.
constexpr int kClip = 32635;  // Largest magnitude that still fits after the bias.
}  // namespace

std::uint8_t encode_sample(std::int16_t sample) {
  int magnitude = sample;
  int sign = 0;
  if (magnitude < 0) {
    magnitude = -magnitude;
    sign = 0x80;
  }
  if (magnitude > kClip) magnitude = kClip;
  magnitude += kBias;
  // Segment (exponent) is the position of the highest set bit above bit 7
  // (bit_width returns int or unsigned, depending on the library's age).
  const int exponent = static_cast<int>(std::bit_width(static_cast<unsigned>(magnitude >> 7))) - 1;
  const int mantissa = (magnitude >> (exponent + 3)) & 0x0F;
  return static_cast<std::uint8_t>(~(sign | (exponent << 4) | mantissa));
}

std::int16_t decode_sample(std::uint8_t code) {
  const int u = static_cast<std::uint8_t>(~code);
  int t = ((u & 0x0F) << 3) + kBias;
  t <<= (u & 0x70) >> 4;
  return static_cast<std::int16_t>((u & 0x80) ? (kBias - t) : (t - kBias));
}

Result<std::size_t> encode(std::span<const std::int16_t> samples, std::span<std::uint8_t> out) {
  if (out.size() < samples.size()) return Errc::buffer_too_small;
  for (std::size_t i = 0; i < samples.size(); ++i) out[i] = encode_sample(samples[i]);
  return samples.size();
}

Result<std::size_t> decode(std::span<const std::uint8_t> codes, std::span<std::int16_t> out) {
  if (out.size() < codes.size()) return Errc::buffer_too_small;
  for (std::size_t i = 0; i < codes.size(); ++i) out[i] = decode_sample(codes[i]);
  return codes.size();
}

}  // namespace micstream::mulaw
