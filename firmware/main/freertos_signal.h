// pipeline::Signal on a statically allocated FreeRTOS binary semaphore: a
// notify() before the wait leaves it given, so the wait returns at once and
// nothing is lost; several notifies before one wait wake it once.
#pragma once

#include <cstdint>

#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "micstream/pipeline/ports.h"

namespace micstream::firmware {

/// Ticks for a wait of ms milliseconds, rounded up so that a short wait never
/// becomes a zero-tick poll.
[[nodiscard]] inline TickType_t ticks_for_ms(std::uint32_t ms) {
  return static_cast<TickType_t>((std::uint64_t{ms} * configTICK_RATE_HZ + 999) / 1000);
}

class FreeRtosSignal final : public pipeline::Signal {
 public:
  // Cannot fail: the storage is the object's own.
  FreeRtosSignal() : handle_(xSemaphoreCreateBinaryStatic(&storage_)) {}
  FreeRtosSignal(const FreeRtosSignal&) = delete;
  FreeRtosSignal& operator=(const FreeRtosSignal&) = delete;

  void notify() override { xSemaphoreGive(handle_); }
  void wait_ms(std::uint32_t ms) override { xSemaphoreTake(handle_, ticks_for_ms(ms)); }

 private:
  StaticSemaphore_t storage_{};
  SemaphoreHandle_t handle_;
};

}  // namespace micstream::firmware
