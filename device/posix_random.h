// The Random port on Linux: std::random_device (RDRAND or getrandom()), for
// the backoff's jitter and the send-jitter fault.
#pragma once

#include <random>

#include "micstream/pipeline/ports.h"

namespace micstream::device {

class PosixRandom final : public pipeline::Random {
 public:
  std::uint32_t next() override { return static_cast<std::uint32_t>(device_()); }

 private:
  std::random_device device_;
};

}  // namespace micstream::device
