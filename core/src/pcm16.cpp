#include "micstream/pcm16.h"

namespace micstream::pcm16 {

Result<std::size_t> encode(std::span<const std::int16_t> samples, std::span<std::uint8_t> out) {
  if (out.size() / 2 < samples.size()) return Errc::buffer_too_small;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto v = static_cast<std::uint16_t>(samples[i]);
    out[2 * i] = static_cast<std::uint8_t>(v);
    out[2 * i + 1] = static_cast<std::uint8_t>(v >> 8);
  }
  return samples.size() * 2;
}

Result<std::size_t> decode(std::span<const std::uint8_t> bytes, std::span<std::int16_t> out) {
  if (bytes.size() % 2 != 0) return Errc::payload_size_mismatch;
  const std::size_t n = bytes.size() / 2;
  if (out.size() < n) return Errc::buffer_too_small;
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8)));
  }
  return n;
}

}  // namespace micstream::pcm16
