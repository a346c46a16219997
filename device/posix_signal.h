// The Signal port on Linux: a flag under a condition variable, so a notify()
// that comes before the wait is not lost (the wait sees the flag and returns
// at once), like the binary semaphore the firmware uses.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "micstream/pipeline/ports.h"

namespace micstream::device {

class PosixSignal final : public pipeline::Signal {
 public:
  void notify() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      notified_ = true;
    }
    condition_.notify_one();
  }

  void wait_ms(std::uint32_t ms) override {
    std::unique_lock<std::mutex> lock(mutex_);
    // libstdc++ waits on CLOCK_MONOTONIC (pthread_cond_clockwait).
    condition_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return notified_; });
    notified_ = false;
  }

 private:
  std::mutex mutex_;
  std::condition_variable condition_;
  bool notified_ = false;
};

}  // namespace micstream::device
