#include "adc_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "noise.h"

namespace micstream::device {

namespace {
constexpr double kMaxCode = 4095.0;
constexpr double kPcmPerCode = 16.0;  // dsp::adc12_to_pcm16's scale
constexpr std::uint64_t kCalibrationSamples = 8192;
}  // namespace

AdcSource::AdcSource(const AdcModel& model, double frequency_hz, double level_dbfs, std::uint32_t sample_rate,
                     unsigned channels, std::uint64_t seed)
    : model_(model),
      sine_(frequency_hz, level_dbfs, sample_rate),
      frequency_hz_(frequency_hz),
      level_dbfs_(level_dbfs),
      channels_(channels),
      seed_(seed),
      zero_code_(calibrate()) {}

std::uint16_t AdcSource::convert(double ideal) const {
  if (ideal < model_.dead_zone_code) return 0;
  if (ideal > model_.knee_code) {
    const double headroom = kMaxCode - model_.knee_code;
    ideal = model_.knee_code + headroom * std::tanh((ideal - model_.knee_code) / headroom);
  }
  return static_cast<std::uint16_t>(std::clamp(std::lround(ideal), 0L, static_cast<long>(kMaxCode)));
}

// What the firmware does at boot with the mic silent: average many readings.
std::int32_t AdcSource::calibrate() const {
  double sum = 0;
  for (std::uint64_t i = 0; i < kCalibrationSamples; ++i) {
    sum += convert(model_.bias_code + model_.noise_lsb * gaussian(~seed_, i));
  }
  return static_cast<std::int32_t>(std::lround(sum / kCalibrationSamples));
}

void AdcSource::fill_adc12(std::uint64_t first_sample, std::span<std::uint16_t> out) {
  const std::size_t frames = out.size() / channels_;
  for (std::size_t i = 0; i < frames; ++i) {
    const double signal = sine_.at(first_sample + i) / kPcmPerCode;
    for (unsigned c = 0; c < channels_; ++c) {
      const double noise = model_.noise_lsb * gaussian(seed_, (first_sample + i) * channels_ + c);
      out[i * channels_ + c] = convert(model_.bias_code + signal + noise);
    }
  }
}

std::string AdcSource::describe() const {
  return fmt::format(
      "ADC model: tone {} Hz at {} dBFS peak on a bias of code {}, noise {} LSB RMS, dead zone below code {}, "
      "compressed above code {}; calibrated zero code {}",
      frequency_hz_, level_dbfs_, model_.bias_code, model_.noise_lsb, model_.dead_zone_code, model_.knee_code,
      zero_code_);
}

}  // namespace micstream::device
