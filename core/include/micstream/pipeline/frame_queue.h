// The bounded queue between the capture and the sender task, over a fixed
// pool of frames: capture never waits for it, and when the sender falls
// behind (link down, WiFi slow) the oldest queued frame is dropped and
// counted. Nothing is allocated: the caller provides every slot's storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "micstream/pipeline/ports.h"

namespace micstream::pipeline {

/// One frame of PCM16 samples and where it sits in the stream.
struct AudioFrame {
  std::uint64_t first_sample = 0;     ///< index (a channel) since the stream began
  std::uint64_t capture_time_us = 0;  ///< device clock, when the first sample was captured
  std::span<std::int16_t> pcm;        ///< samples_per_frame * channels, interleaved
};

class FrameQueue {
 public:
  static constexpr std::size_t kMaxSlots = 256;

  /// slots: depth + 2 frames (one being filled, one being sent): 3 to kMaxSlots,
  /// each with pcm pointing at its own storage of the frame size (asserted).
  FrameQueue(std::span<AudioFrame> slots, Mutex& mutex, Signal& signal);

  [[nodiscard]] std::size_t depth() const { return depth_; }

  // Capture side: fill the frame, then commit it. Never blocks.
  [[nodiscard]] AudioFrame& filling() { return slots_[filling_]; }
  void commit();

  // Sender side: take the oldest frame (waiting up to wait_ms), send it, release it.
  /// Null when none came within wait_ms. The frame is the sender's until release().
  [[nodiscard]] const AudioFrame* take(std::uint32_t wait_ms);
  void release();

  [[nodiscard]] std::uint64_t committed() const;
  [[nodiscard]] std::uint64_t dropped() const;
  [[nodiscard]] std::size_t queued() const;

 private:
  class Guard {
   public:
    explicit Guard(Mutex& m) : m_(m) { m_.lock(); }
    ~Guard() { m_.unlock(); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    Mutex& m_;
  };

  std::span<AudioFrame> slots_;
  Mutex& mutex_;
  Signal& signal_;
  std::size_t depth_;
  std::uint8_t queue_[kMaxSlots] = {};  // slot indices, oldest at head_
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::uint8_t free_[kMaxSlots] = {};   // stack of free slot indices
  std::size_t free_count_ = 0;
  std::size_t filling_ = 0;
  static constexpr std::size_t kNone = kMaxSlots;
  std::size_t taken_ = kNone;
  std::uint64_t committed_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace micstream::pipeline
