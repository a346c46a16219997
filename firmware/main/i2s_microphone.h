// What the standard (I2S) and the PDM microphone share: one I2S receive
// channel with the DMA geometry of a block, its overflow callback, and
// reading a block at a time into Capture. Each kind sets the channel's mode
// and says how its samples enter Capture.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "driver/i2s_types.h"
#include "microphone.h"

namespace micstream::firmware {

struct I2sChannelConfig {
  i2s_port_t port = I2S_NUM_AUTO;
  std::uint32_t block_samples = 0;  ///< samples a DMA buffer
  std::uint32_t driver_blocks = 0;  ///< DMA buffers
  std::span<std::byte> block;       ///< one block's storage: block_samples samples
  std::size_t sample_bytes = 0;     ///< of one sample as the driver delivers it
  const char* tag = "i2s";          ///< the log tag
};

class I2sMicrophone : public Microphone {
 public:
  esp_err_t start() final;
  esp_err_t read(pipeline::Capture& capture, std::uint32_t timeout_ms) final;

 protected:
  explicit I2sMicrophone(const I2sChannelConfig& config) : channel_config_(config) {}

  /// Puts the new channel in its mode (standard, PDM receive) and logs how.
  virtual esp_err_t init_mode(i2s_chan_handle_t channel) = 0;
  /// Pushes the first `samples` samples of the block just read into capture.
  virtual void push(pipeline::Capture& capture, std::size_t samples, std::uint64_t arrival_us) = 0;

 private:
  esp_err_t open_channel();

  I2sChannelConfig channel_config_;
  i2s_chan_handle_t channel_ = nullptr;
};

}  // namespace micstream::firmware
