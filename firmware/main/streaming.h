// The capture -> queue -> sender pipeline on FreeRTOS: core's FrameQueue over
// a statically allocated frame pool, the capture task (high priority, on the
// second core where there is one) reading the microphone into core's
// Capture, and the sender task looping core's Sender::run_once(). Capture
// never waits for the network: when the link is slow or down, the queue
// drops its oldest frame and counts it.
#pragma once

#include "esp_err.h"
#include "ota_updater.h"
#include "server_locator.h"
#include "settings.h"
#include "wifi_station.h"

namespace micstream::firmware {

/// Starts the microphone and both tasks, once. settings and the services must
/// outlive them (they are the firmware's statics). Fails, with the reason
/// logged, when the microphone does not start or the settings cannot stream.
[[nodiscard]] esp_err_t start_streaming(const Settings& settings, WifiStation& wifi, const ServerLocator& locator,
                                        OtaUpdater& ota);

}  // namespace micstream::firmware
