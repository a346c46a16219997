#include "micstream/pipeline/capture.h"

#include "micstream/assert.h"

namespace micstream::pipeline {

Capture::Capture(const CaptureConfig& config, FrameQueue& queue)
    : config_(config),
      queue_(queue),
      dc_blocker_(config.dc_cutoff_hz > 0 ? config.dc_cutoff_hz : 1.0F, config.sample_rate, config.channels),
      gain_(config.gain_cdb),
      pending_gain_cdb_(config.gain_cdb) {
  MICSTREAM_ASSERT(config.channels >= 1 && config.channels <= kMaxChannels);
  MICSTREAM_ASSERT(config.sample_rate > 0 && config.samples_per_frame > 0);
  // push() fills a slot up to the frame size without looking at its length.
  MICSTREAM_ASSERT(queue.filling().pcm.size() == std::size_t{config.samples_per_frame} * config.channels);
}

template <class Convert>
void Capture::push(std::size_t count, std::uint64_t arrival_us, Convert convert) {
  const std::size_t channels = config_.channels;
  const std::size_t frame_samples = std::size_t{config_.samples_per_frame} * channels;
  const std::uint64_t block_frames = count / channels;
  for (std::size_t i = 0; i < count; ++i) {
    AudioFrame& frame = queue_.filling();
    if (filled_ == 0) {
      // The first sample of a frame: its index, and its time counted back from
      // when the block's last sample arrived.
      const std::uint64_t position = i / channels;
      const std::uint64_t later = block_frames - 1 - position;
      frame.first_sample = next_sample_;
      const std::uint64_t back_us = later * 1000000 / config_.sample_rate;
      frame.capture_time_us = arrival_us > back_us ? arrival_us - back_us : 0;
    }
    frame.pcm[filled_++] = convert(i);
    if (i % channels == channels - 1) ++next_sample_;
    if (filled_ == frame_samples) finish_frame();
  }
}

void Capture::finish_frame() {
  AudioFrame& frame = queue_.filling();
  const std::int32_t gain = pending_gain_cdb_.load(std::memory_order_relaxed);
  if (gain != gain_.centi_db()) gain_.set_centi_db(gain);
  if (config_.dc_cutoff_hz > 0) dc_blocker_.process(frame.pcm);
  gain_.process(frame.pcm);
  filled_ = 0;
  queue_.commit();
}

void Capture::push_adc12(std::span<const std::uint16_t> codes, std::uint64_t arrival_us) {
  const std::int32_t zero = config_.adc_zero_code;
  push(codes.size(), arrival_us, [&](std::size_t i) { return dsp::adc12_to_pcm16(codes[i], zero); });
}

void Capture::push_pcm16(std::span<const std::int16_t> samples, std::uint64_t arrival_us) {
  push(samples.size(), arrival_us, [&](std::size_t i) { return samples[i]; });
}

void Capture::push_i2s32(std::span<const std::int32_t> words, std::uint64_t arrival_us) {
  push(words.size(), arrival_us, [&](std::size_t i) { return static_cast<std::int16_t>(words[i] >> 16); });
}

void Capture::skip(std::uint64_t samples) {
  // A partly filled frame cannot straddle a gap: it is dropped, and the lost
  // samples show as a gap in the index of the next frame.
  filled_ = 0;
  next_sample_ += samples;
}

}  // namespace micstream::pipeline
