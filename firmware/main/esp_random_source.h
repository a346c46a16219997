// pipeline::Random: the hardware random number generator (true random while
// the radio runs, which it does whenever the sender needs a reconnect delay).
#pragma once

#include <cstdint>

#include "esp_random.h"
#include "micstream/pipeline/ports.h"

namespace micstream::firmware {

class EspRandom final : public pipeline::Random {
 public:
  std::uint32_t next() override { return esp_random(); }
};

}  // namespace micstream::firmware
