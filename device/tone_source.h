// A sine tone standing in for the microphone, every channel the same.
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>

#include "micstream/dsp.h"
#include "source.h"

namespace micstream::device {

/// A sine of frequency_hz at level_dbfs peak (0 dBFS: a full-scale sine), as
/// a function of the sample index; also the analog signal of the ADC model.
class Sine {
 public:
  Sine(double frequency_hz, double level_dbfs, std::uint32_t sample_rate)
      : frequency_hz_(frequency_hz), amplitude_(32767.0 * std::pow(10.0, level_dbfs / 20.0)), rate_(sample_rate) {}

  /// In PCM16 units, not rounded.
  [[nodiscard]] double at(std::uint64_t index) const {
    // Reduce the phase in whole cycles before sin(): f * n stays exact in a
    // double for any realistic uptime, so the tone does not degrade over days.
    const double cycles = std::fmod(frequency_hz_ * static_cast<double>(index), rate_);
    return amplitude_ * std::sin(2.0 * std::numbers::pi * cycles / rate_);
  }

 private:
  double frequency_hz_;
  double amplitude_;
  double rate_;
};

class ToneSource final : public SyntheticSource {
 public:
  ToneSource(double frequency_hz, double level_dbfs, std::uint32_t sample_rate, unsigned channels)
      : sine_(frequency_hz, level_dbfs, sample_rate),
        frequency_hz_(frequency_hz),
        level_dbfs_(level_dbfs),
        channels_(channels) {}

  void fill_pcm16(std::uint64_t first_sample, std::span<std::int16_t> out) override {
    const std::size_t frames = out.size() / channels_;
    for (std::size_t i = 0; i < frames; ++i) {
      const auto sample = dsp::saturate16(static_cast<std::int32_t>(std::lround(sine_.at(first_sample + i))));
      for (unsigned c = 0; c < channels_; ++c) out[i * channels_ + c] = sample;
    }
  }

  [[nodiscard]] std::string describe() const override {
    return fmt::format("tone {} Hz at {} dBFS peak", frequency_hz_, level_dbfs_);
  }

 private:
  Sine sine_;
  double frequency_hz_;
  double level_dbfs_;
  unsigned channels_;
};

}  // namespace micstream::device
