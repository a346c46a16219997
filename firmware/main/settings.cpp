#include "settings.h"

#include <cstdio>
#include <cstring>

#include "esp_check.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "nvs.h"
#include "sdkconfig.h"

namespace micstream::firmware {

namespace {

constexpr char kTag[] = "settings";
constexpr char kNamespace[] = "micstream";

static_assert(sizeof(CONFIG_MICSTREAM_WIFI_SSID) <= sizeof(Settings::wifi_ssid),
              "CONFIG_MICSTREAM_WIFI_SSID is longer than 32 bytes");
static_assert(sizeof(CONFIG_MICSTREAM_WIFI_PASSWORD) <= sizeof(Settings::wifi_password),
              "CONFIG_MICSTREAM_WIFI_PASSWORD is longer than 64 bytes");
static_assert(sizeof(CONFIG_MICSTREAM_SERVER_HOST) <= sizeof(Settings::server_host),
              "CONFIG_MICSTREAM_SERVER_HOST is longer than 63 bytes");
static_assert(sizeof(CONFIG_MICSTREAM_DEVICE_ID) <= sizeof(Settings::device_id),
              "CONFIG_MICSTREAM_DEVICE_ID is longer than 32 characters");
static_assert(sizeof(CONFIG_MICSTREAM_DEVICE_SECRET) - 1 <= kMaxSecretSize,
              "CONFIG_MICSTREAM_DEVICE_SECRET is longer than 64 bytes");

template <std::size_t N>
void copy_text(char (&field)[N], std::string_view text) {
  const std::size_t n = text.size() < N - 1 ? text.size() : N - 1;
  std::memcpy(field, text.data(), n);
  field[n] = '\0';
}

// Replaces field with the NVS string under key when there is one.
template <std::size_t N>
void override_text(nvs_handle_t nvs, const char* key, char (&field)[N]) {
  char value[N];
  std::size_t size = sizeof value;
  const esp_err_t err = nvs_get_str(nvs, key, value, &size);
  if (err == ESP_OK) {
    copy_text(field, value);
    ESP_LOGI(kTag, "%s from NVS", key);
  } else if (err != ESP_ERR_NVS_NOT_FOUND) {
    ESP_LOGW(kTag, "NVS key %s ignored (%s; at most %u bytes)", key, esp_err_to_name(err),
             static_cast<unsigned>(N - 1));
  }
}

void override_secret(nvs_handle_t nvs, Settings& settings) {
  char value[kMaxSecretSize + 1];
  std::size_t size = sizeof value;
  const esp_err_t err = nvs_get_str(nvs, "secret", value, &size);
  if (err == ESP_OK) {
    settings.secret_size = std::strlen(value);
    std::memcpy(settings.secret, value, settings.secret_size);
    ESP_LOGI(kTag, "secret from NVS");
  } else if (err != ESP_ERR_NVS_NOT_FOUND) {
    ESP_LOGW(kTag, "NVS key secret ignored (%s; at most %u bytes)", esp_err_to_name(err),
             static_cast<unsigned>(kMaxSecretSize));
  }
}

}  // namespace

esp_err_t load_settings(Settings& settings) {
  copy_text(settings.wifi_ssid, CONFIG_MICSTREAM_WIFI_SSID);
  copy_text(settings.wifi_password, CONFIG_MICSTREAM_WIFI_PASSWORD);
  copy_text(settings.server_host, CONFIG_MICSTREAM_SERVER_HOST);
  copy_text(settings.device_id, CONFIG_MICSTREAM_DEVICE_ID);
  settings.secret_size = sizeof(CONFIG_MICSTREAM_DEVICE_SECRET) - 1;
  std::memcpy(settings.secret, CONFIG_MICSTREAM_DEVICE_SECRET, settings.secret_size);

  nvs_handle_t nvs = 0;
  const esp_err_t opened = nvs_open(kNamespace, NVS_READONLY, &nvs);
  if (opened == ESP_OK) {
    override_text(nvs, "wifi_ssid", settings.wifi_ssid);
    override_text(nvs, "wifi_pass", settings.wifi_password);
    override_text(nvs, "server_host", settings.server_host);
    override_text(nvs, "device_id", settings.device_id);
    override_secret(nvs, settings);
    nvs_close(nvs);
  } else if (opened != ESP_ERR_NVS_NOT_FOUND) {  // not found: nothing was ever written
    ESP_LOGW(kTag, "cannot open NVS namespace %s (%s): menuconfig values only", kNamespace, esp_err_to_name(opened));
  }

  if (settings.device_id[0] != '\0' && !proto::is_valid_device_id(settings.device_id)) {
    // Refusing to boot would also cut the device off from OTA updates: fall
    // back to the id every board has.
    ESP_LOGE(kTag, "device id \"%s\" is not 1..32 characters of [A-Za-z0-9._-]: using the MAC-based id",
             settings.device_id);
    settings.device_id[0] = '\0';
  }
  if (settings.device_id[0] == '\0') {
    std::uint8_t mac[6] = {};
    ESP_RETURN_ON_ERROR(esp_read_mac(mac, ESP_MAC_WIFI_STA), kTag, "reading the WiFi MAC address");
    std::snprintf(settings.device_id, sizeof settings.device_id, "mic-%02x%02x%02x", mac[3], mac[4], mac[5]);
  }
  return ESP_OK;
}

}  // namespace micstream::firmware
