// Over-the-air updates and the trial of a new image. A task of its own (so
// streaming goes on during a download) fetches the image from the server's
// HTTP port with esp_https_ota when asked: at boot and when the server sends
// CONFIG with check_update. It installs the image only when the operator's
// key signed it (signed_ota.h; no key configured: never) and it differs from
// the running one and from the last image that was rolled back, then reboots.
// A new image runs on trial (app rollback): it is kept once the server
// accepts its first link, and marked invalid, with a reboot into the previous
// image, when that has not happened within CONFIG_MICSTREAM_OTA_VERIFY_MINUTES.
#pragma once

#include <cstdint>

#include "esp_err.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "server_locator.h"
#include "wifi_station.h"

namespace micstream::firmware {

class OtaUpdater {
 public:
  OtaUpdater(const ServerLocator& locator, WifiStation& wifi);
  OtaUpdater(const OtaUpdater&) = delete;
  OtaUpdater& operator=(const OtaUpdater&) = delete;

  /// Starts the task (and the trial timer when the running image is new);
  /// checks for an update once WiFi is up when check_at_boot.
  [[nodiscard]] esp_err_t start(bool check_at_boot);

  /// Fetch and install a newer image if there is one. Any task; never blocks.
  void request_update();
  /// The server accepted a link: a new image on trial is kept. Any task; never blocks.
  void confirm_image();

 private:
  static void task(void* self);
  static void on_trial_timeout(void* self);
  void run();
  void update();
  void keep_image();
  void give_up_image();
  void notify(std::uint32_t bits);

  const ServerLocator& locator_;
  WifiStation& wifi_;
  TaskHandle_t task_ = nullptr;
  esp_timer_handle_t trial_timer_ = nullptr;
  bool on_trial_ = false;  // only touched by the OTA task after start()
};

}  // namespace micstream::firmware
