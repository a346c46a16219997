// A deterministic, realistic test signal for the benchmarks and the
// instruction counter: two tones (a voiced fundamental and a harmonic) with a
// slow amplitude envelope plus a little white noise from a fixed-seed PRNG,
// so every run (and every machine) encodes exactly the same samples.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace micstream::bench {

inline constexpr std::uint32_t kSampleRate = 16000;
inline constexpr std::size_t kSamplesPerFrame = 320;  // 20 ms at 16 kHz, mono

/// count samples of 16 kHz mono audio, peak about -8 dBFS, noise about -50 dBFS.
inline std::vector<std::int16_t> make_signal(std::size_t count, std::uint32_t seed = 0x6d696373u /* "mics" */) {
  std::vector<std::int16_t> out(count);
  constexpr double kPi = 3.14159265358979323846;
  std::uint32_t state = seed;
  for (std::size_t i = 0; i < count; ++i) {
    const double t = static_cast<double>(i) / kSampleRate;
    const double envelope = 0.6 + 0.4 * std::sin(2.0 * kPi * 3.0 * t);  // 3 Hz syllable-like envelope
    const double tone = 9000.0 * std::sin(2.0 * kPi * 440.0 * t) + 3000.0 * std::sin(2.0 * kPi * 1320.0 * t);
    state = state * 1664525u + 1013904223u;                             // Numerical Recipes LCG
    const double noise = (static_cast<double>(state >> 16) / 65536.0 - 0.5) * 200.0;
    const double v = envelope * tone + noise;
    out[i] = static_cast<std::int16_t>(std::lround(v < -32768.0 ? -32768.0 : (v > 32767.0 ? 32767.0 : v)));
  }
  return out;
}

}  // namespace micstream::bench
