#include "i2s_std_microphone.h"

#include "driver/i2s_std.h"
#include "esp_check.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "i2s_overflow.h"

namespace micstream::firmware {

namespace {

constexpr char kTag[] = "i2s_mic";

}  // namespace

esp_err_t I2sStdMicrophone::start() {
  bind_to_current_task();
  ESP_RETURN_ON_FALSE(config_.block_samples > 0 && config_.words.size() == config_.block_samples, ESP_ERR_INVALID_SIZE,
                      kTag, "the block buffer does not match the block size");
  if (const esp_err_t err = open_channel(); err != ESP_OK) {
    if (channel_ != nullptr) (void)i2s_del_channel(channel_);
    channel_ = nullptr;
    return err;
  }
  return ESP_OK;
}

esp_err_t I2sStdMicrophone::open_channel() {
  i2s_chan_config_t channel_config = I2S_CHANNEL_DEFAULT_CONFIG(I2S_NUM_AUTO, I2S_ROLE_MASTER);
  channel_config.dma_desc_num = config_.driver_blocks;
  channel_config.dma_frame_num = config_.block_samples;
  ESP_RETURN_ON_ERROR(i2s_new_channel(&channel_config, nullptr, &channel_), kTag, "allocating an I2S receive channel");

  // 32-bit slots and 32-bit words: the microphone's 24 bits are the top of
  // each word (ESP32-S3/C3 would pack a 24-bit width into 3 bytes).
  i2s_std_config_t std_config = {
      .clk_cfg = I2S_STD_CLK_DEFAULT_CONFIG(config_.sample_rate),
      .slot_cfg = I2S_STD_PHILIPS_SLOT_DEFAULT_CONFIG(I2S_DATA_BIT_WIDTH_32BIT, I2S_SLOT_MODE_MONO),
      .gpio_cfg =
          {
              .mclk = I2S_GPIO_UNUSED,
              .bclk = static_cast<gpio_num_t>(config_.bclk_gpio),
              .ws = static_cast<gpio_num_t>(config_.ws_gpio),
              .dout = I2S_GPIO_UNUSED,
              .din = static_cast<gpio_num_t>(config_.din_gpio),
              .invert_flags = {.mclk_inv = false, .bclk_inv = false, .ws_inv = false},
          },
  };
  std_config.slot_cfg.slot_mask = config_.right_slot ? I2S_STD_SLOT_RIGHT : I2S_STD_SLOT_LEFT;
  ESP_RETURN_ON_ERROR(
      i2s_channel_init_std_mode(channel_, &std_config), kTag, "standard mode at %lu Hz on SCK %d, WS %d, SD %d",
      static_cast<unsigned long>(config_.sample_rate), config_.bclk_gpio, config_.ws_gpio, config_.din_gpio);

  i2s_event_callbacks_t callbacks = {};
  callbacks.on_recv_q_ovf = i2s_queue_overflow;
  ESP_RETURN_ON_ERROR(i2s_channel_register_event_callback(channel_, &callbacks, &capture_task_), kTag,
                      "registering the overflow callback");
  ESP_RETURN_ON_ERROR(i2s_channel_enable(channel_), kTag, "starting the I2S channel");
  ESP_LOGI(kTag, "I2S microphone on SCK %d, WS %d, SD %d, %s slot, %lu Hz", config_.bclk_gpio, config_.ws_gpio,
           config_.din_gpio, config_.right_slot ? "right" : "left", static_cast<unsigned long>(config_.sample_rate));
  return ESP_OK;
}

esp_err_t I2sStdMicrophone::read(pipeline::Capture& capture, std::uint32_t timeout_ms) {
  std::size_t bytes = 0;
  const esp_err_t err =
      i2s_channel_read(channel_, config_.words.data(), config_.words.size_bytes(), &bytes, timeout_ms);
  if (err != ESP_OK && bytes == 0) return err;
  const auto arrival_us = static_cast<std::uint64_t>(esp_timer_get_time());
  // The driver drops the oldest unread buffer: the gap comes before this block.
  if (const std::uint32_t lost = take_overruns(); lost > 0) skip_lost(capture, lost, config_.block_samples);
  capture.push_i2s32(config_.words.first(bytes / sizeof(std::int32_t)), arrival_us);
  return ESP_OK;
}

}  // namespace micstream::firmware
