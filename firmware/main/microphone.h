// A microphone as the capture task sees it: start the converter, then read
// one DMA block at a time into core's Capture. The drivers' overflow
// callbacks run in an interrupt and only notify the capture task (the task
// notification value counts the blocks lost); the task turns the count into
// Capture::skip(), so a DMA overrun shows as a gap in the sample index.
#pragma once

#include <cstdint>

#include "esp_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "micstream/pipeline/capture.h"

namespace micstream::firmware {

class Microphone {
 public:
  virtual ~Microphone() = default;

  /// Configures and starts the converter. Called by the capture task: the
  /// overflow callbacks notify the task that called it.
  [[nodiscard]] virtual esp_err_t start() = 0;

  /// The 12-bit code a silent input reads (CaptureConfig::adc_zero_code);
  /// measured by start() for the ADC, unused for digital microphones.
  [[nodiscard]] virtual std::int32_t zero_code() const { return 2048; }

  /// Waits up to timeout_ms for the next block and pushes it into capture,
  /// stamped with the time it arrived; blocks lost since the last call go
  /// first, as Capture::skip(). ESP_ERR_TIMEOUT when nothing came.
  [[nodiscard]] virtual esp_err_t read(pipeline::Capture& capture, std::uint32_t timeout_ms) = 0;

  /// Samples (a channel) lost to DMA overruns since start.
  [[nodiscard]] std::uint64_t lost_samples() const { return lost_samples_; }

 protected:
  /// Called by start(): overflow callbacks notify this task. The callbacks
  /// (IRAM functions in each microphone's file) get &capture_task_ as their
  /// user data and call vTaskNotifyGiveFromISR() on it, nothing else.
  void bind_to_current_task() { capture_task_ = xTaskGetCurrentTaskHandle(); }
  /// Blocks lost since the last call (the notification count), and clears it.
  static std::uint32_t take_overruns() { return ulTaskNotifyTake(pdTRUE, 0); }

  /// Reports lost blocks of block_samples each to capture as a gap.
  void skip_lost(pipeline::Capture& capture, std::uint32_t blocks, std::uint32_t block_samples) {
    const std::uint64_t samples = std::uint64_t{blocks} * block_samples;
    capture.skip(samples);
    lost_samples_ += samples;
  }

  TaskHandle_t capture_task_ = nullptr;  // in internal RAM, read by the ISR callbacks

 private:
  std::uint64_t lost_samples_ = 0;
};

}  // namespace micstream::firmware
