// A PDM MEMS microphone: the ESP32 drives CLK, the microphone answers on
// DATA on one clock edge (its SELECT pin), and the I2S peripheral's PDM-to-PCM
// filter delivers 16-bit PCM. Only on chips with that filter (ESP32,
// ESP32-S3; not the ESP32-C3, whose PDM receiver gives raw bits).
#pragma once

#include <cstdint>
#include <span>

#include "soc/soc_caps.h"

#if SOC_I2S_SUPPORTS_PDM2PCM

#include "i2s_microphone.h"

namespace micstream::firmware {

struct PdmMicrophoneConfig {
  int clk_gpio = -1;        ///< CLK, output
  int din_gpio = -1;        ///< DATA, input
  bool right_slot = false;  ///< SELECT pin high
  bool clock_128x = false;  ///< PDM clock 128 x sample rate instead of 64 x
  std::uint32_t sample_rate = 0;
  std::uint32_t block_samples = 0;  ///< samples a DMA buffer
  std::uint32_t driver_blocks = 0;  ///< DMA buffers
  std::span<std::int16_t> samples;  ///< one block: block_samples samples
};

class PdmMicrophone final : public I2sMicrophone {
 public:
  explicit PdmMicrophone(const PdmMicrophoneConfig& config);

 private:
  esp_err_t init_mode(i2s_chan_handle_t channel) override;
  void push(pipeline::Capture& capture, std::size_t samples, std::uint64_t arrival_us) override;

  PdmMicrophoneConfig config_;
};

}  // namespace micstream::firmware

#endif  // SOC_I2S_SUPPORTS_PDM2PCM
