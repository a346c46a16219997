// The WiFi station: joins the configured network and rejoins it on every
// loss, after a delay from the shared backoff policy, driven by events (no
// task of its own). The sender waits for an IP address before each connect.
#pragma once

#include <cstdint>

#include "esp_err.h"
#include "esp_event.h"
#include "esp_netif.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "micstream/backoff.h"

namespace micstream::firmware {

class WifiStation {
 public:
  WifiStation();
  WifiStation(const WifiStation&) = delete;
  WifiStation& operator=(const WifiStation&) = delete;

  /// Starts the station (esp_netif and the default event loop must exist).
  /// hostname: the name offered to DHCP (the device id).
  [[nodiscard]] esp_err_t start(const char* ssid, const char* password, const char* hostname);

  /// Waits until the station has an IPv4 address; false when ticks passed first.
  bool wait_connected(TickType_t ticks);

  /// The access point's signal, dBm; false when not associated.
  [[nodiscard]] bool rssi(std::int8_t& dbm) const;

 private:
  static void on_event(void* self, esp_event_base_t base, std::int32_t id, void* data);
  static void on_retry_timer(void* self);
  void handle(esp_event_base_t base, std::int32_t id, void* data);

  StaticEventGroup_t bits_storage_{};
  EventGroupHandle_t bits_ = nullptr;
  esp_timer_handle_t retry_timer_ = nullptr;
  esp_netif_t* netif_ = nullptr;
  Backoff backoff_;  // only touched in the default event loop's task
};

}  // namespace micstream::firmware
