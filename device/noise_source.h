// White noise: independent uniform samples on every channel, peak at the level.
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <span>

#include "micstream/dsp.h"
#include "noise.h"
#include "source.h"

namespace micstream::device {

class NoiseSource final : public SyntheticSource {
 public:
  NoiseSource(double level_dbfs, unsigned channels, std::uint64_t seed)
      : level_dbfs_(level_dbfs),
        amplitude_(32767.0 * std::pow(10.0, level_dbfs / 20.0)),
        channels_(channels),
        seed_(seed) {}

  void fill_pcm16(std::uint64_t first_sample, std::span<std::int16_t> out) override {
    // One value per interleaved sample, each channel its own noise.
    for (std::size_t i = 0; i < out.size(); ++i) {
      const double u = 2.0 * uniform01(seed_, first_sample * channels_ + i) - 1.0;
      out[i] = dsp::saturate16(static_cast<std::int32_t>(std::lround(amplitude_ * u)));
    }
  }

  [[nodiscard]] std::string describe() const override {
    return fmt::format("white noise, uniform, {} dBFS peak", level_dbfs_);
  }

 private:
  double level_dbfs_;
  double amplitude_;
  std::uint64_t channels_;
  std::uint64_t seed_;
};

}  // namespace micstream::device
