#include "micstream/dsp.h"

#include <cmath>

#include "micstream/assert.h"

namespace micstream::dsp {

void adc12_to_pcm16(std::span<const std::uint16_t> codes, std::int32_t zero_code, std::span<std::int16_t> out) {
  MICSTREAM_ASSERT(out.size() >= codes.size());
  for (std::size_t i = 0; i < codes.size(); ++i) out[i] = adc12_to_pcm16(codes[i], zero_code);
}

DcBlocker::DcBlocker(float cutoff_hz, std::uint32_t sample_rate, unsigned channels)
    : pole_q15_(static_cast<std::int32_t>(
          std::lround(32768.0F * std::exp(-2.0F * 3.14159265F * cutoff_hz / static_cast<float>(sample_rate))))),
      channels_(channels == 0 || channels > kMaxChannels ? 1 : channels) {}

void DcBlocker::reset() {
  for (unsigned c = 0; c < kMaxChannels; ++c) {
    last_input_[c] = 0;
    last_output_q12_[c] = 0;
  }
}

void DcBlocker::process(std::span<std::int16_t> interleaved) {
  for (std::size_t i = 0; i < interleaved.size(); ++i) {
    const unsigned c = static_cast<unsigned>(i % channels_);
    const std::int32_t x = interleaved[i];
    // Rounded, not floored: flooring would hold a negative state just below zero.
    const std::int64_t feedback = (std::int64_t{pole_q15_} * last_output_q12_[c] + (1 << 14)) >> 15;
    const std::int32_t y_q12 = (x - last_input_[c]) * (1 << 12) + static_cast<std::int32_t>(feedback);
    last_input_[c] = x;
    last_output_q12_[c] = y_q12;
    interleaved[i] = saturate16((y_q12 + (1 << 11)) >> 12);
  }
}

void Gain::set_centi_db(std::int32_t centi_db) {
  centi_db_ = centi_db < -kMaxCentiDb ? -kMaxCentiDb : (centi_db > kMaxCentiDb ? kMaxCentiDb : centi_db);
  factor_q16_ = static_cast<std::int32_t>(std::lround(65536.0F * std::pow(10.0F, static_cast<float>(centi_db_) / 2000.0F)));
}

void Gain::process(std::span<std::int16_t> samples) const {
  if (factor_q16_ == (1 << 16)) return;
  for (auto& s : samples) {
    // With the gain capped at +60 dB, |s| * factor stays below 2^42: the
    // product fits 64 bits and the shifted result 32, then saturates to 16.
    s = saturate16(static_cast<std::int32_t>((std::int64_t{s} * factor_q16_ + (1 << 15)) >> 16));
  }
}

Level measure_level(std::span<const std::int16_t> samples) {
  if (samples.empty()) return {kSilenceDbfs, kSilenceDbfs};
  std::int32_t peak = 0;
  std::uint64_t sum_squares = 0;
  for (std::int16_t s : samples) {
    const std::int32_t magnitude = s < 0 ? -std::int32_t{s} : s;
    if (magnitude > peak) peak = magnitude;
    sum_squares += static_cast<std::uint64_t>(std::int64_t{s} * s);
  }
  const auto to_dbfs = [](float ratio) {
    return ratio <= 0.0F ? kSilenceDbfs : std::fmax(kSilenceDbfs, 20.0F * std::log10(ratio));
  };
  const float rms = std::sqrt(static_cast<float>(sum_squares) / static_cast<float>(samples.size()));
  return {to_dbfs(static_cast<float>(peak) / 32768.0F), to_dbfs(rms / 32768.0F)};
}

}  // namespace micstream::dsp
