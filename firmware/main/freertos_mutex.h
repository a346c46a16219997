// pipeline::Mutex on a statically allocated FreeRTOS mutex (priority
// inheritance: the capture task never waits behind a preempted sender).
#pragma once

#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "micstream/pipeline/ports.h"

namespace micstream::firmware {

class FreeRtosMutex final : public pipeline::Mutex {
 public:
  // Cannot fail: the storage is the object's own.
  FreeRtosMutex() : handle_(xSemaphoreCreateMutexStatic(&storage_)) {}
  FreeRtosMutex(const FreeRtosMutex&) = delete;
  FreeRtosMutex& operator=(const FreeRtosMutex&) = delete;

  void lock() override { xSemaphoreTake(handle_, portMAX_DELAY); }
  void unlock() override { xSemaphoreGive(handle_); }

 private:
  StaticSemaphore_t storage_{};
  SemaphoreHandle_t handle_;
};

}  // namespace micstream::firmware
