// micstream firmware: a microphone on the ESP32, streamed to micstream-server.
// Boot order: NVS and settings, WiFi, server discovery, the OTA updater (so
// that a device whose microphone fails can still be updated), the crypto
// check, then the capture -> queue -> sender pipeline. Every setting is in
// menuconfig ("micstream"), overridable per device in NVS.
#include <cstddef>

#include "esp_app_desc.h"
#include "esp_check.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "hmac_sha256_mbedtls.h"
#include "nvs_flash.h"
#include "ota_updater.h"
#include "sdkconfig.h"
#include "server_locator.h"
#include "settings.h"
#include "streaming.h"
#include "wifi_station.h"

namespace micstream::firmware {

namespace {

constexpr char kTag[] = "micstream";

Settings s_settings;
char s_hostname[sizeof Settings::device_id];  // the device id as a DHCP/mDNS host name
WifiStation s_wifi;
ServerLocator s_locator(s_settings.server_host, CONFIG_MICSTREAM_SERVER_PORT, CONFIG_MICSTREAM_SERVER_HTTP_PORT,
                        CONFIG_MICSTREAM_MDNS_TIMEOUT_MS);
OtaUpdater s_ota(s_locator, s_wifi);

esp_err_t init_nvs() {
  esp_err_t err = nvs_flash_init();
  if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
    // The partition cannot be used as it is; WiFi needs it. Erasing it also
    // erases the per-device overrides, which then have to be written again.
    ESP_LOGW(kTag, "NVS unusable (%s): erasing it, per-device settings included", esp_err_to_name(err));
    ESP_RETURN_ON_ERROR(nvs_flash_erase(), kTag, "erasing NVS");
    err = nvs_flash_init();
  }
  return err;
}

// Host names allow letters, digits and '-': the device id's '.' and '_' become '-'.
void make_hostname(const char* device_id) {
  std::size_t i = 0;
  for (; device_id[i] != '\0' && i + 1 < sizeof s_hostname; ++i) {
    const char c = device_id[i];
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    s_hostname[i] = keep ? c : '-';
  }
  s_hostname[i] = '\0';
}

esp_err_t boot() {
  ESP_LOGI(kTag, "firmware %s, ESP-IDF %s", esp_app_get_description()->version, esp_app_get_description()->idf_ver);
  ESP_RETURN_ON_ERROR(init_nvs(), kTag, "initialising NVS");
  ESP_RETURN_ON_ERROR(load_settings(s_settings), kTag, "loading settings");
  make_hostname(s_settings.device_id);
  ESP_RETURN_ON_ERROR(esp_netif_init(), kTag, "initialising the network interfaces");
  ESP_RETURN_ON_ERROR(esp_event_loop_create_default(), kTag, "creating the event loop");
  ESP_RETURN_ON_ERROR(s_wifi.start(s_settings.wifi_ssid, s_settings.wifi_password, s_hostname), kTag, "starting WiFi");
  ESP_RETURN_ON_ERROR(s_locator.start(s_hostname), kTag, "starting server discovery");
  ESP_RETURN_ON_ERROR(s_ota.start(CONFIG_MICSTREAM_OTA_CHECK_AT_BOOT), kTag, "starting the OTA updater");
  ESP_RETURN_ON_FALSE(hmac_sha256_self_test(), ESP_FAIL, kTag,
                      "HMAC-SHA256 does not reproduce docs/protocol.md's HELLO proof: the server would refuse us");
  return start_streaming(s_settings, s_wifi, s_locator, s_ota);
}

}  // namespace

}  // namespace micstream::firmware

extern "C" void app_main() {
  // On failure the reason is logged; WiFi and the OTA updater keep running
  // when they started, so a fixed image can still be installed.
  if (const esp_err_t err = micstream::firmware::boot(); err != ESP_OK) {
    ESP_LOGE("micstream", "not streaming: %s", esp_err_to_name(err));
  }
}
