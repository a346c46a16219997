// The capture stage: raw converter words in, conditioned PCM16 frames out.
// It converts (calibrated ADC offset or I2S word width), removes DC, applies
// the gain with saturation, stamps each frame with its first sample's index
// and capture time, and commits it to the queue. It never waits and
// allocates nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

#include "micstream/dsp.h"
#include "micstream/pipeline/frame_queue.h"

namespace micstream::pipeline {

struct CaptureConfig {
  std::uint32_t sample_rate = 16000;
  std::uint8_t channels = 1;
  std::uint16_t samples_per_frame = 320;  ///< a channel
  std::int32_t adc_zero_code = 2048;      ///< the 12-bit code a silent mic reads
  float dc_cutoff_hz = 10.0F;             ///< 0 turns the DC blocker off
  std::int32_t gain_cdb = 0;              ///< hundredths of a dB
};

class Capture {
 public:
  Capture(const CaptureConfig& config, FrameQueue& queue);

  /// 12-bit ADC codes (bits above 12 ignored), interleaved by channel.
  /// arrival_us: device time when the block's last sample was converted.
  void push_adc12(std::span<const std::uint16_t> codes, std::uint64_t arrival_us);
  /// PCM16 samples (16-bit I2S, PDM, test sources).
  void push_pcm16(std::span<const std::int16_t> samples, std::uint64_t arrival_us);
  /// 32-bit I2S slots holding 24- or 32-bit samples, left-justified: the top 16 bits are kept.
  void push_i2s32(std::span<const std::int32_t> words, std::uint64_t arrival_us);

  /// The converter lost `samples` (a channel) before the next block (a DMA
  /// overrun): the stream's sample index moves on so the gap is visible.
  void skip(std::uint64_t samples);

  /// From the sender task (CONFIG); applies from the next frame on.
  void set_gain_cdb(std::int32_t centi_db) { pending_gain_cdb_.store(centi_db, std::memory_order_relaxed); }

  [[nodiscard]] std::uint64_t next_sample_index() const { return next_sample_; }

 private:
  template <class Convert>
  void push(std::size_t count, std::uint64_t arrival_us, Convert convert);
  void finish_frame();

  CaptureConfig config_;
  FrameQueue& queue_;
  dsp::DcBlocker dc_blocker_;
  dsp::Gain gain_;
  std::atomic<std::int32_t> pending_gain_cdb_;
  std::size_t filled_ = 0;          // interleaved samples in the frame being filled
  std::uint64_t next_sample_ = 0;   // stream index of the next sample (a channel) to arrive
};

}  // namespace micstream::pipeline
