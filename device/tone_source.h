// A sine tone standing in for the microphone. Samples are a function of their
// absolute index, so frames the device drops leave a true gap in the waveform
// (what the listener hears matches what the server counts), and any frame can
// be produced on its own.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>

#include "micstream/dsp.h"

namespace micstream::device {

class ToneSource {
 public:
  /// level_dbfs is the peak level: 0 dBFS is a full-scale sine.
  ToneSource(double frequency_hz, double level_dbfs, std::uint32_t sample_rate, unsigned channels)
      : frequency_hz_(frequency_hz),
        amplitude_(32767.0 * std::pow(10.0, level_dbfs / 20.0)),
        sample_rate_(sample_rate),
        channels_(channels) {}

  /// Fills out (interleaved, a multiple of channels) with the samples whose
  /// per-channel index starts at first_sample; every channel gets the same tone.
  void fill(std::uint64_t first_sample, std::span<std::int16_t> out) const {
    const std::size_t frames = out.size() / channels_;
    for (std::size_t i = 0; i < frames; ++i) {
      // Reduce the phase in whole cycles before sin(): f * n stays exact in a
      // double for any realistic uptime, so the tone does not degrade over days.
      const double cycles = std::fmod(frequency_hz_ * static_cast<double>(first_sample + i), sample_rate_);
      const double value = amplitude_ * std::sin(2.0 * std::numbers::pi * cycles / sample_rate_);
      const auto sample = dsp::saturate16(static_cast<std::int32_t>(std::lround(value)));
      for (unsigned c = 0; c < channels_; ++c) out[i * channels_ + c] = sample;
    }
  }

 private:
  double frequency_hz_;
  double amplitude_;
  double sample_rate_;
  unsigned channels_;
};

}  // namespace micstream::device
