#include "micstream/pcm16.h"

namespace micstream::pcm16 {

void encode(std::span<const std::int16_t> samples, std::span<std::uint8_t> out) {
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto v = static_cast<std::uint16_t>(samples[i]);
    out[2 * i] = static_cast<std::uint8_t>(v);
    out[2 * i + 1] = static_cast<std::uint8_t>(v >> 8);
  }
}

void decode(std::span<const std::uint8_t> bytes, std::span<std::int16_t> out) {
  const std::size_t n = bytes.size() / 2;
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8)));
  }
}

}  // namespace micstream::pcm16
