// The I2S drivers' (standard and PDM) receive-queue overflow callback, shared
// by both microphones that use them.
#pragma once

#include "driver/i2s_common.h"

namespace micstream::firmware {

/// The driver's queue of filled DMA buffers was full and it dropped the
/// oldest: one block lost. Runs in the I2S interrupt, from IRAM: it only
/// notifies the capture task (user_ctx points at its TaskHandle_t), which
/// counts the loss.
bool i2s_queue_overflow(i2s_chan_handle_t channel, i2s_event_data_t* event, void* capture_task);

}  // namespace micstream::firmware
