// Installing an image only when the operator signed it: the detached
// signature (image URL + ".sig", core's image_signature.h) is fetched and
// checked first, the image is streamed into the next OTA slot with
// esp_https_ota, what landed in flash is read back and hashed, and only an
// image of the signed size and SHA-256 is handed to esp_https_ota_finish(),
// which validates it and sets the boot partition; any other ends in
// esp_https_ota_abort(). firmware/host runs this file against the real server.
#pragma once

#include <cstdint>
#include <string_view>

#include "esp_app_desc.h"

namespace micstream::firmware {

enum class InstallResult : std::uint8_t {
  installed,    ///< verified and set as the boot partition: restart into it
  up_to_date,   ///< the server offers the running image
  rolled_back,  ///< the server offers the image that was rolled back before
  refused,      ///< no signature, a bad one, or an image that does not match it
  failed,       ///< the network, the server or the flash failed
};

struct InstallRequest {
  const char* image_url = nullptr;             ///< its signature is at image_url + ".sig"
  std::string_view public_key;                 ///< CONFIG_MICSTREAM_OTA_SIGNING_KEY
  const esp_app_desc_t* running = nullptr;     ///< the running image's description
  const esp_app_desc_t* rolled_back = nullptr; ///< the last image rolled back, or nullptr
  int timeout_ms = 10000;                      ///< of each network read
};

/// The whole update; blocks for the download. Every outcome but installed is
/// logged with its reason; the boot partition is left alone then.
[[nodiscard]] InstallResult install_signed_image(const InstallRequest& request);

}  // namespace micstream::firmware
