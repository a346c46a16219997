// The ESP32's own 12-bit ADC with an analog microphone, modelled: the mic's
// signal (a tone) rides on a DC bias, the converter adds noise, and its
// transfer curve is not straight: at 11 dB attenuation inputs below about
// 80 mV all read 0 (a dead zone near code 0) and the top of the range is
// compressed (codes approach 4095 ever more slowly). The firmware calibrates
// the zero code at boot by averaging what a silent input reads; this model
// does the same, and Capture::push_adc12 then converts around that code.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "source.h"
#include "tone_source.h"

namespace micstream::device {

struct AdcModel {
  double bias_code = 1900.0;      ///< the code the mic's bias would read on an ideal converter
  double noise_lsb = 2.0;         ///< converter noise, RMS, in codes
  double dead_zone_code = 100.0;  ///< ideal codes below this read 0
  double knee_code = 3000.0;      ///< above this the curve bends over towards 4095
};

class AdcSource final : public SyntheticSource {
 public:
  /// The analog signal: a sine of frequency_hz at level_dbfs, where 0 dBFS
  /// swings +-2048 codes (the PCM16 full scale after conversion).
  AdcSource(const AdcModel& model, double frequency_hz, double level_dbfs, std::uint32_t sample_rate,
            unsigned channels, std::uint64_t seed);

  [[nodiscard]] Output output() const override { return Output::adc12; }
  void fill_adc12(std::uint64_t first_sample, std::span<std::uint16_t> out) override;
  [[nodiscard]] std::int32_t adc_zero_code() const override { return zero_code_; }
  [[nodiscard]] std::string describe() const override;

  /// The converter's transfer curve: an ideal (fractional) code to what it reads.
  [[nodiscard]] std::uint16_t convert(double ideal_code) const;

 private:
  [[nodiscard]] std::int32_t calibrate() const;

  AdcModel model_;
  Sine sine_;
  double frequency_hz_;
  double level_dbfs_;
  unsigned channels_;
  std::uint64_t seed_;
  std::int32_t zero_code_;
};

}  // namespace micstream::device
