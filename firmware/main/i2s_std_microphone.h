// An I2S MEMS microphone in standard (Philips) format, INMP441 style: the
// ESP32 drives SCK and WS, the microphone answers in one slot (its L/R pin)
// with 24-bit samples in 32-bit slots, read as 32-bit words whose top 16
// bits Capture keeps.
#pragma once

#include <cstdint>
#include <span>

#include "i2s_microphone.h"

namespace micstream::firmware {

struct I2sStdMicrophoneConfig {
  int bclk_gpio = -1;       ///< SCK, output
  int ws_gpio = -1;         ///< WS, output
  int din_gpio = -1;        ///< SD, input
  bool right_slot = false;  ///< L/R pin high: the microphone answers in the right slot
  std::uint32_t sample_rate = 0;
  std::uint32_t block_samples = 0;  ///< samples a DMA buffer
  std::uint32_t driver_blocks = 0;  ///< DMA buffers
  std::span<std::int32_t> words;    ///< one block: block_samples words
};

class I2sStdMicrophone final : public I2sMicrophone {
 public:
  explicit I2sStdMicrophone(const I2sStdMicrophoneConfig& config);

 private:
  esp_err_t init_mode(i2s_chan_handle_t channel) override;
  void push(pipeline::Capture& capture, std::size_t samples, std::uint64_t arrival_us) override;

  I2sStdMicrophoneConfig config_;
};

}  // namespace micstream::firmware
