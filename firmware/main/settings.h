// What differs from one device to the next: WiFi credentials, the server,
// the device's id and secret. menuconfig gives the defaults; NVS (namespace
// "micstream") overrides them per board, so one image serves every device
// (docs/firmware.md shows how to write the keys).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "esp_err.h"
#include "micstream/auth.h"
#include "micstream/protocol.h"

namespace micstream::firmware {

struct Settings {
  char wifi_ssid[33] = {};                             ///< NVS "wifi_ssid", at most 32 bytes
  char wifi_password[65] = {};                         ///< NVS "wifi_pass", at most 64 bytes; empty for an open network
  char server_host[64] = {};                           ///< NVS "server_host"; empty: discover with mDNS
  char device_id[proto::kMaxDeviceIdLength + 1] = {};  ///< NVS "device_id"
  std::uint8_t secret[kMaxSecretSize] = {};            ///< NVS "secret"
  std::size_t secret_size = 0;

  [[nodiscard]] std::span<const std::uint8_t> secret_bytes() const { return {secret, secret_size}; }
};

/// Fills settings from menuconfig, then from the NVS keys that exist. NVS must
/// be initialised. A value too long for its field is reported and the
/// menuconfig value kept; a device id that is empty or not 1..32 characters
/// of [A-Za-z0-9._-] becomes "mic-" and the last three bytes of the MAC.
[[nodiscard]] esp_err_t load_settings(Settings& settings);

}  // namespace micstream::firmware
