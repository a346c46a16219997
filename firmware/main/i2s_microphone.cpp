#include "i2s_microphone.h"

#include "driver/i2s_common.h"
#include "esp_attr.h"
#include "esp_check.h"
#include "esp_timer.h"

namespace micstream::firmware {

namespace {

// The driver's queue of filled DMA buffers was full and it dropped the
// oldest: one block lost. Runs in the I2S interrupt, from IRAM: it only
// notifies the capture task (user_ctx points at its TaskHandle_t), which
// counts the loss.
bool IRAM_ATTR queue_overflow(i2s_chan_handle_t /*channel*/, i2s_event_data_t* /*event*/, void* capture_task) {
  BaseType_t woken = pdFALSE;
  TaskHandle_t task = *static_cast<TaskHandle_t*>(capture_task);
  if (task != nullptr) vTaskNotifyGiveFromISR(task, &woken);
  return woken == pdTRUE;
}

}  // namespace

esp_err_t I2sMicrophone::start() {
  const I2sChannelConfig& c = channel_config_;
  bind_to_current_task();
  ESP_RETURN_ON_FALSE(c.block_samples > 0 && c.block.size() == c.block_samples * c.sample_bytes, ESP_ERR_INVALID_SIZE,
                      c.tag, "the block buffer does not match the block size");
  if (const esp_err_t err = open_channel(); err != ESP_OK) {
    if (channel_ != nullptr) (void)i2s_del_channel(channel_);
    channel_ = nullptr;
    return err;
  }
  return ESP_OK;
}

esp_err_t I2sMicrophone::open_channel() {
  const I2sChannelConfig& c = channel_config_;
  i2s_chan_config_t channel_config = I2S_CHANNEL_DEFAULT_CONFIG(c.port, I2S_ROLE_MASTER);
  channel_config.dma_desc_num = c.driver_blocks;
  channel_config.dma_frame_num = c.block_samples;
  ESP_RETURN_ON_ERROR(i2s_new_channel(&channel_config, nullptr, &channel_), c.tag, "allocating an I2S receive channel");
  ESP_RETURN_ON_ERROR(init_mode(channel_), c.tag, "setting the channel's mode");

  i2s_event_callbacks_t callbacks = {};
  callbacks.on_recv_q_ovf = queue_overflow;
  ESP_RETURN_ON_ERROR(i2s_channel_register_event_callback(channel_, &callbacks, &capture_task_), c.tag,
                      "registering the overflow callback");
  ESP_RETURN_ON_ERROR(i2s_channel_enable(channel_), c.tag, "starting the I2S channel");
  return ESP_OK;
}

esp_err_t I2sMicrophone::read(pipeline::Capture& capture, std::uint32_t timeout_ms) {
  const I2sChannelConfig& c = channel_config_;
  std::size_t bytes = 0;
  const esp_err_t err = i2s_channel_read(channel_, c.block.data(), c.block.size(), &bytes, timeout_ms);
  if (err != ESP_OK && bytes == 0) return err;
  const auto arrival_us = static_cast<std::uint64_t>(esp_timer_get_time());
  // The driver drops the oldest unread buffer: the gap comes before this block.
  if (const std::uint32_t lost = take_overruns(); lost > 0) skip_lost(capture, lost, c.block_samples);
  push(capture, bytes / c.sample_bytes, arrival_us);
  return ESP_OK;
}

}  // namespace micstream::firmware
