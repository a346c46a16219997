// The Mutex port on Linux. The pipeline holds it only for a few index updates.
#pragma once

#include <mutex>

#include "micstream/pipeline/ports.h"

namespace micstream::device {

class PosixMutex final : public pipeline::Mutex {
 public:
  void lock() override { mutex_.lock(); }
  void unlock() override { mutex_.unlock(); }

 private:
  std::mutex mutex_;
};

}  // namespace micstream::device
