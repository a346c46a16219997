// The capture thread's body: it plays the converter and its DMA. A synthetic
// source is paced on the device's (possibly skewed) clock: block k of
// block_frames samples is handed over when the clock reaches the time of its
// last sample, stamped with that time, so the sample clock and the
// timestamps run fast or slow together. A live source (a sound card) paces
// itself; its blocks are stamped when they arrive. Either way the blocks go
// to core's Capture, which never waits.
//
// Faults it plays: --drop-every N loses every Nth frame before it reaches
// the queue (Capture::skip: the stream's sample index moves on, so the server
// sees the gap). And, as on the ESP32, when the thread falls further behind
// than the DMA ring holds (an overloaded machine, a stopped process), the
// oldest samples are lost the same way and counted.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "micstream/pipeline/capture.h"
#include "posix_clock.h"
#include "source.h"
#include "stop_flag.h"

namespace micstream::device {

struct CaptureTiming {
  std::uint32_t sample_rate = 16000;
  unsigned channels = 1;
  std::uint16_t samples_per_frame = 320;
  std::uint32_t block_frames = 256;  ///< frames (a sample of each channel) in one DMA block
  std::uint32_t ring_blocks = 8;     ///< DMA blocks that wait for the thread before the oldest is overwritten
  std::uint32_t drop_every = 0;      ///< lose every Nth frame; 0: none
};

class CaptureLoop {
 public:
  /// Allocates its block buffers here, none later.
  CaptureLoop(const CaptureTiming& timing, pipeline::Capture& capture, PosixClock& clock, const StopFlag& stop,
              std::shared_ptr<spdlog::logger> log);

  /// Runs until the stop flag is set.
  void run(SyntheticSource& source);
  /// Runs the started source until the stop flag is set (true) or the
  /// source fails (false, logged), then stops the source.
  bool run(LiveSource& source);

  // Any thread.
  /// Frames lost on purpose (--drop-every).
  [[nodiscard]] std::uint64_t frames_dropped() const { return frames_dropped_.load(std::memory_order_relaxed); }
  /// Samples (a channel) lost because the thread was late or the card overran.
  [[nodiscard]] std::uint64_t samples_overrun() const { return samples_overrun_.load(std::memory_order_relaxed); }

 private:
  /// Splits [first, first + count) at the frames --drop-every loses and calls
  /// segment(offset, length, lost) for each piece in order.
  template <class Segment>
  void split(std::uint64_t first, std::size_t count, Segment segment);
  void overrun(std::uint64_t samples, const char* why);

  CaptureTiming timing_;
  pipeline::Capture& capture_;
  PosixClock& clock_;
  const StopFlag& stop_;
  std::shared_ptr<spdlog::logger> log_;
  std::vector<std::int16_t> pcm_;
  std::vector<std::uint16_t> codes_;
  std::atomic<std::uint64_t> frames_dropped_{0};
  std::atomic<std::uint64_t> samples_overrun_{0};
  std::uint32_t overruns_logged_ = 0;
};

}  // namespace micstream::device
