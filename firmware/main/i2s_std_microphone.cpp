#include "i2s_std_microphone.h"

#include "driver/i2s_std.h"
#include "esp_check.h"
#include "esp_log.h"

namespace micstream::firmware {

namespace {

constexpr char kTag[] = "i2s_mic";

}  // namespace

I2sStdMicrophone::I2sStdMicrophone(const I2sStdMicrophoneConfig& config)
    : I2sMicrophone({.port = I2S_NUM_AUTO,
                     .block_samples = config.block_samples,
                     .driver_blocks = config.driver_blocks,
                     .block = std::as_writable_bytes(config.words),
                     .sample_bytes = sizeof(std::int32_t),
                     .tag = kTag}),
      config_(config) {}

esp_err_t I2sStdMicrophone::init_mode(i2s_chan_handle_t channel) {
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
      i2s_channel_init_std_mode(channel, &std_config), kTag, "standard mode at %lu Hz on SCK %d, WS %d, SD %d",
      static_cast<unsigned long>(config_.sample_rate), config_.bclk_gpio, config_.ws_gpio, config_.din_gpio);
  ESP_LOGI(kTag, "I2S microphone on SCK %d, WS %d, SD %d, %s slot, %lu Hz", config_.bclk_gpio, config_.ws_gpio,
           config_.din_gpio, config_.right_slot ? "right" : "left", static_cast<unsigned long>(config_.sample_rate));
  return ESP_OK;
}

void I2sStdMicrophone::push(pipeline::Capture& capture, std::size_t samples, std::uint64_t arrival_us) {
  capture.push_i2s32(config_.words.first(samples), arrival_us);
}

}  // namespace micstream::firmware
