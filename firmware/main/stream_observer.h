// The sender's observer on the ESP32: logs the link's events, hands CONFIG's
// check_update and the first accepted link to the OTA updater, tells the
// server locator how each link ended (so discovery moves past a server that
// never accepts one), and fills the
// STATS fields only the platform knows (heap, WiFi RSSI). Runs on the sender
// task; nothing here blocks.
#pragma once

#include <cstdint>

#include "micstream/pipeline/sender.h"
#include "ota_updater.h"
#include "server_locator.h"
#include "wifi_station.h"

namespace micstream::firmware {

class StreamObserver final : public pipeline::SenderObserver {
 public:
  StreamObserver(OtaUpdater& ota, const WifiStation& wifi, const ServerLocator& locator)
      : ota_(ota), wifi_(wifi), locator_(locator) {}

  void on_connected(std::uint32_t reconnects) override;
  void on_disconnected(const char* reason, std::uint32_t retry_in_ms) override;
  void on_server_error(const proto::ErrorMessage& error) override;
  void on_config(const proto::Config& config) override;
  void fill_stats(proto::Stats& stats) override;

 private:
  OtaUpdater& ota_;
  const WifiStation& wifi_;
  const ServerLocator& locator_;
};

}  // namespace micstream::firmware
