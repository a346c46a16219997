#include "pdm_microphone.h"

#if SOC_I2S_SUPPORTS_PDM2PCM

#include "driver/i2s_pdm.h"
#include "esp_check.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "i2s_overflow.h"

namespace micstream::firmware {

namespace {

constexpr char kTag[] = "pdm_mic";

}  // namespace

esp_err_t PdmMicrophone::start() {
  bind_to_current_task();
  ESP_RETURN_ON_FALSE(config_.block_samples > 0 && config_.samples.size() == config_.block_samples,
                      ESP_ERR_INVALID_SIZE, kTag, "the block buffer does not match the block size");
  if (const esp_err_t err = open_channel(); err != ESP_OK) {
    if (channel_ != nullptr) (void)i2s_del_channel(channel_);
    channel_ = nullptr;
    return err;
  }
  return ESP_OK;
}

esp_err_t PdmMicrophone::open_channel() {
  // The PDM-to-PCM filter is on I2S0 only.
  i2s_chan_config_t channel_config = I2S_CHANNEL_DEFAULT_CONFIG(I2S_NUM_0, I2S_ROLE_MASTER);
  channel_config.dma_desc_num = config_.driver_blocks;
  channel_config.dma_frame_num = config_.block_samples;
  ESP_RETURN_ON_ERROR(i2s_new_channel(&channel_config, nullptr, &channel_), kTag, "allocating I2S0 for receiving");

  i2s_pdm_rx_config_t pdm_config = {
      .clk_cfg = I2S_PDM_RX_CLK_DEFAULT_CONFIG(config_.sample_rate),
      .slot_cfg = I2S_PDM_RX_SLOT_PCM_FMT_DEFAULT_CONFIG(I2S_DATA_BIT_WIDTH_16BIT, I2S_SLOT_MODE_MONO),
      .gpio_cfg = {},
  };
  pdm_config.clk_cfg.dn_sample_mode = config_.clock_128x ? I2S_PDM_DSR_16S : I2S_PDM_DSR_8S;
  pdm_config.slot_cfg.slot_mask = config_.right_slot ? I2S_PDM_SLOT_RIGHT : I2S_PDM_SLOT_LEFT;
  pdm_config.gpio_cfg.clk = static_cast<gpio_num_t>(config_.clk_gpio);
  pdm_config.gpio_cfg.din = static_cast<gpio_num_t>(config_.din_gpio);
  pdm_config.gpio_cfg.invert_flags.clk_inv = false;
  ESP_RETURN_ON_ERROR(i2s_channel_init_pdm_rx_mode(channel_, &pdm_config), kTag,
                      "PDM receive at %lu Hz on CLK %d, DATA %d", static_cast<unsigned long>(config_.sample_rate),
                      config_.clk_gpio, config_.din_gpio);

  i2s_event_callbacks_t callbacks = {};
  callbacks.on_recv_q_ovf = i2s_queue_overflow;
  ESP_RETURN_ON_ERROR(i2s_channel_register_event_callback(channel_, &callbacks, &capture_task_), kTag,
                      "registering the overflow callback");
  ESP_RETURN_ON_ERROR(i2s_channel_enable(channel_), kTag, "starting the PDM channel");
  ESP_LOGI(kTag, "PDM microphone on CLK %d, DATA %d, %s slot, %lu Hz, clock %lu Hz", config_.clk_gpio, config_.din_gpio,
           config_.right_slot ? "right" : "left", static_cast<unsigned long>(config_.sample_rate),
           static_cast<unsigned long>(config_.sample_rate * (config_.clock_128x ? 128 : 64)));
  return ESP_OK;
}

esp_err_t PdmMicrophone::read(pipeline::Capture& capture, std::uint32_t timeout_ms) {
  std::size_t bytes = 0;
  const esp_err_t err =
      i2s_channel_read(channel_, config_.samples.data(), config_.samples.size_bytes(), &bytes, timeout_ms);
  if (err != ESP_OK && bytes == 0) return err;
  const auto arrival_us = static_cast<std::uint64_t>(esp_timer_get_time());
  // The driver drops the oldest unread buffer: the gap comes before this block.
  if (const std::uint32_t lost = take_overruns(); lost > 0) skip_lost(capture, lost, config_.block_samples);
  capture.push_pcm16(config_.samples.first(bytes / sizeof(std::int16_t)), arrival_us);
  return ESP_OK;
}

}  // namespace micstream::firmware

#endif  // SOC_I2S_SUPPORTS_PDM2PCM
