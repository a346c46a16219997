// A logarithmic sine sweep from one frequency to another over a period, then
// again from the start: equal time per octave, as for measuring a response.
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>

#include "micstream/dsp.h"
#include "source.h"

namespace micstream::device {

class SweepSource final : public SyntheticSource {
 public:
  SweepSource(double from_hz, double to_hz, double seconds, double level_dbfs, std::uint32_t sample_rate,
              unsigned channels)
      : from_hz_(from_hz),
        to_hz_(to_hz),
        seconds_(seconds),
        level_dbfs_(level_dbfs),
        amplitude_(32767.0 * std::pow(10.0, level_dbfs / 20.0)),
        rate_(sample_rate),
        period_(static_cast<std::uint64_t>(std::llround(seconds * sample_rate))),
        log_ratio_(std::log(to_hz / from_hz)),
        channels_(channels) {}

  void fill_pcm16(std::uint64_t first_sample, std::span<std::int16_t> out) override {
    const std::size_t frames = out.size() / channels_;
    for (std::size_t i = 0; i < frames; ++i) {
      const double t = static_cast<double>((first_sample + i) % period_) / rate_;
      // f(t) = f0 * (f1/f0)^(t/T); its phase is the integral of 2*pi*f.
      const double phase = std::abs(log_ratio_) < 1e-12
                               ? 2.0 * std::numbers::pi * from_hz_ * t
                               : 2.0 * std::numbers::pi * from_hz_ * seconds_ / log_ratio_ *
                                     std::expm1(log_ratio_ * t / seconds_);
      const auto sample = dsp::saturate16(static_cast<std::int32_t>(std::lround(amplitude_ * std::sin(phase))));
      for (unsigned c = 0; c < channels_; ++c) out[i * channels_ + c] = sample;
    }
  }

  [[nodiscard]] std::string describe() const override {
    return fmt::format("log sweep {} -> {} Hz over {} s at {} dBFS peak", from_hz_, to_hz_, seconds_, level_dbfs_);
  }

 private:
  double from_hz_;
  double to_hz_;
  double seconds_;
  double level_dbfs_;
  double amplitude_;
  double rate_;
  std::uint64_t period_;
  double log_ratio_;
  unsigned channels_;
};

}  // namespace micstream::device
