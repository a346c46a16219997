// An analog electret breakout (MAX4466, MAX9814: output biased at
// mid-supply) on an ADC1 pin, sampled by the ADC's continuous (DMA) mode at
// 12 dB attenuation. Several conversions may be averaged into each sample
// (the ESP32's ADC DMA runs at 20 kHz or more). start() measures the mean code
// of silence, the zero that Capture subtracts, and reports it in millivolts
// through the chip's calibration (curve fitting where the chip has it, line
// fitting otherwise) with the headroom left for peaks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "esp_adc/adc_continuous.h"
#include "microphone.h"

namespace micstream::firmware {

struct AdcMicrophoneConfig {
  int gpio = -1;                    ///< an ADC1 pin
  std::uint32_t sample_rate = 0;    ///< samples a second after averaging
  std::uint32_t oversample = 1;     ///< conversions averaged into one sample
  std::uint32_t block_samples = 0;  ///< samples (after averaging) a DMA block
  std::uint32_t driver_blocks = 0;  ///< blocks the driver's pool holds
  std::uint32_t zero_window_ms = 250;
  /// One block of conversion results: block_samples * oversample * SOC_ADC_DIGI_RESULT_BYTES bytes.
  std::span<std::uint8_t> raw;
  /// One block of averaged codes: block_samples.
  std::span<std::uint16_t> codes;
};

class AdcMicrophone final : public Microphone {
 public:
  explicit AdcMicrophone(const AdcMicrophoneConfig& config) : config_(config) {}

  esp_err_t start() override;
  std::int32_t zero_code() const override { return zero_code_; }
  esp_err_t read(pipeline::Capture& capture, std::uint32_t timeout_ms) override;

 private:
  esp_err_t open_driver();
  esp_err_t measure_zero();
  void report_zero(std::uint32_t clipped, std::uint32_t samples) const;
  /// Reads what the driver has (one block at most) and averages it into
  /// config_.codes; count is the number of codes written.
  esp_err_t read_codes(std::uint32_t timeout_ms, std::size_t& count);

  AdcMicrophoneConfig config_;
  adc_continuous_handle_t handle_ = nullptr;
  std::uint32_t channel_ = 0;
  std::int32_t zero_code_ = 2048;
  std::uint16_t last_code_ = 2048;  // stands in for a conversion the DMA marked invalid
  std::uint32_t sum_ = 0;           // the conversions of the sample being averaged
  std::uint32_t summed_ = 0;
};

}  // namespace micstream::firmware
