#include "pdm_microphone.h"

#if SOC_I2S_SUPPORTS_PDM2PCM

#include "driver/i2s_pdm.h"
#include "esp_check.h"
#include "esp_log.h"

namespace micstream::firmware {

namespace {

constexpr char kTag[] = "pdm_mic";

}  // namespace

PdmMicrophone::PdmMicrophone(const PdmMicrophoneConfig& config)
    : I2sMicrophone({.port = I2S_NUM_0,  // the PDM-to-PCM filter is on I2S0 only
                     .block_samples = config.block_samples,
                     .driver_blocks = config.driver_blocks,
                     .block = std::as_writable_bytes(config.samples),
                     .sample_bytes = sizeof(std::int16_t),
                     .tag = kTag}),
      config_(config) {}

esp_err_t PdmMicrophone::init_mode(i2s_chan_handle_t channel) {
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
  ESP_RETURN_ON_ERROR(i2s_channel_init_pdm_rx_mode(channel, &pdm_config), kTag,
                      "PDM receive at %lu Hz on CLK %d, DATA %d", static_cast<unsigned long>(config_.sample_rate),
                      config_.clk_gpio, config_.din_gpio);
  ESP_LOGI(kTag, "PDM microphone on CLK %d, DATA %d, %s slot, %lu Hz, clock %lu Hz", config_.clk_gpio, config_.din_gpio,
           config_.right_slot ? "right" : "left", static_cast<unsigned long>(config_.sample_rate),
           static_cast<unsigned long>(config_.sample_rate * (config_.clock_128x ? 128 : 64)));
  return ESP_OK;
}

void PdmMicrophone::push(pipeline::Capture& capture, std::size_t samples, std::uint64_t arrival_us) {
  capture.push_pcm16(config_.samples.first(samples), arrival_us);
}

}  // namespace micstream::firmware

#endif  // SOC_I2S_SUPPORTS_PDM2PCM
