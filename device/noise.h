// Counter-based random numbers: the value for an index is a hash of it, so
// noise, like every synthetic source, is a function of the sample index.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace micstream::device {

/// SplitMix64's finaliser: a good 64-bit mix of a counter.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// Uniform in [0, 1).
[[nodiscard]] inline double uniform01(std::uint64_t seed, std::uint64_t index) {
  return static_cast<double>(mix64(seed ^ mix64(index)) >> 11) * 0x1.0p-53;
}

/// Standard normal (Box-Muller on two hashed uniforms).
[[nodiscard]] inline double gaussian(std::uint64_t seed, std::uint64_t index) {
  const double u1 = 1.0 - uniform01(seed, 2 * index);  // (0, 1]: log is finite
  const double u2 = uniform01(seed, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

}  // namespace micstream::device
