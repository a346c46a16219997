#include "micstream/pipeline/frame_queue.h"

#include "micstream/assert.h"

namespace micstream::pipeline {

FrameQueue::FrameQueue(std::span<AudioFrame> slots, Mutex& mutex, Signal& signal)
    : slots_(slots), mutex_(mutex), signal_(signal), depth_(slots.size() - 2) {
  // Fewer than 3 slots leaves commit() no free slot to fill next (it would pop an empty stack).
  MICSTREAM_ASSERT(slots.size() >= 3 && slots.size() <= kMaxSlots);
  for (const AudioFrame& slot : slots) MICSTREAM_ASSERT(slot.pcm.size() == slots.front().pcm.size());
  MICSTREAM_ASSERT(!slots.front().pcm.empty());
  filling_ = 0;
  for (std::size_t i = slots_.size(); i-- > 1;) free_[free_count_++] = static_cast<std::uint8_t>(i);
}

void FrameQueue::commit() {
  {
    Guard guard(mutex_);
    if (count_ == depth_) {
      // Full: the oldest waiting frame goes, never the one the sender holds.
      free_[free_count_++] = queue_[head_];
      head_ = (head_ + 1) % depth_;
      --count_;
      ++dropped_;
    }
    queue_[(head_ + count_) % depth_] = static_cast<std::uint8_t>(filling_);
    ++count_;
    ++committed_;
    // Slots are depth + 2: with the queue at most full and one slot taken,
    // at least one is free.
    filling_ = free_[--free_count_];
  }
  signal_.notify();
}

const AudioFrame* FrameQueue::take(std::uint32_t wait_ms) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    {
      Guard guard(mutex_);
      if (taken_ == kNone && count_ > 0) {
        taken_ = queue_[head_];
        head_ = (head_ + 1) % depth_;
        --count_;
        return &slots_[taken_];
      }
    }
    if (attempt == 0 && wait_ms > 0) signal_.wait_ms(wait_ms);
  }
  return nullptr;
}

void FrameQueue::release() {
  Guard guard(mutex_);
  if (taken_ == kNone) return;
  free_[free_count_++] = static_cast<std::uint8_t>(taken_);
  taken_ = kNone;
}

std::uint64_t FrameQueue::committed() const {
  Guard guard(mutex_);
  return committed_;
}

std::uint64_t FrameQueue::dropped() const {
  Guard guard(mutex_);
  return dropped_;
}

std::size_t FrameQueue::queued() const {
  Guard guard(mutex_);
  return count_;
}

}  // namespace micstream::pipeline
