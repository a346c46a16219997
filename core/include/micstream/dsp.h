// Signal conditioning between the converter and the codec: raw ADC codes to
// PCM16, DC removal, gain, and level metering. Fixed-point where it runs per
// sample, so it costs little on the ESP32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "micstream/codec.h"

namespace micstream::dsp {

[[nodiscard]] constexpr std::int16_t saturate16(std::int32_t v) {
  return static_cast<std::int16_t>(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

/// A 12-bit ADC code (0..4095) to PCM16: the calibrated zero code (the code a
/// silent input reads, about 2048 for a mic biased at mid-supply) maps to 0 and
/// one code step to 16 PCM steps, saturating at the rails.
[[nodiscard]] constexpr std::int16_t adc12_to_pcm16(std::uint16_t code, std::int32_t zero_code) {
  return saturate16((static_cast<std::int32_t>(code & 0x0FFF) - zero_code) * 16);
}

/// Converts a buffer of codes; out must hold codes.size() samples (asserted).
void adc12_to_pcm16(std::span<const std::uint16_t> codes, std::int32_t zero_code, std::span<std::int16_t> out);

/// First-order DC-blocking high-pass, y[n] = x[n] - x[n-1] + a*y[n-1], one
/// state a channel on interleaved samples. The state keeps 12 fractional bits
/// (and rounds) so a constant input settles to exactly 0, not to a stuck LSB.
class DcBlocker {
 public:
  /// cutoff_hz: -3 dB corner (a few Hz removes bias drift, keeps voice).
  DcBlocker(float cutoff_hz, std::uint32_t sample_rate, unsigned channels);
  void process(std::span<std::int16_t> interleaved);
  void reset();

 private:
  std::int32_t pole_q15_;
  unsigned channels_;
  std::int32_t last_input_[kMaxChannels] = {};
  std::int32_t last_output_q12_[kMaxChannels] = {};
};

/// Gain in hundredths of a dB (the unit of CONFIG), applied with saturation.
class Gain {
 public:
  static constexpr std::int32_t kMaxCentiDb = 6000;  ///< settings beyond +-60 dB are clamped

  explicit Gain(std::int32_t centi_db = 0) { set_centi_db(centi_db); }
  void set_centi_db(std::int32_t centi_db);
  [[nodiscard]] std::int32_t centi_db() const { return centi_db_; }
  void process(std::span<std::int16_t> samples) const;

 private:
  std::int32_t centi_db_ = 0;
  std::int32_t factor_q16_ = 1 << 16;
};

/// Levels relative to digital full scale: a full-scale square wave is 0 dBFS
/// RMS and peak, so a full-scale sine is 0 dBFS peak and -3.01 dBFS RMS.
struct Level {
  float peak_dbfs;
  float rms_dbfs;
};
inline constexpr float kSilenceDbfs = -120.0F;  ///< what digital silence reads

[[nodiscard]] Level measure_level(std::span<const std::int16_t> samples);

}  // namespace micstream::dsp
