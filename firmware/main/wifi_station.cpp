#include "wifi_station.h"

#include <cstring>

#include "esp_check.h"
#include "esp_log.h"
#include "esp_random.h"
#include "esp_wifi.h"
#include "sdkconfig.h"

namespace micstream::firmware {

namespace {

constexpr char kTag[] = "wifi";
constexpr EventBits_t kGotIp = BIT0;

#if CONFIG_MICSTREAM_WIFI_POWER_SAVE_MIN_MODEM
constexpr wifi_ps_type_t kPowerSave = WIFI_PS_MIN_MODEM;
#else
constexpr wifi_ps_type_t kPowerSave = WIFI_PS_NONE;
#endif

void copy_field(std::uint8_t* field, std::size_t size, const char* text) {
  const std::size_t length = std::strlen(text);
  std::memcpy(field, text, length < size ? length : size);
}

}  // namespace

WifiStation::WifiStation()
    : backoff_(BackoffPolicy{.initial_ms = CONFIG_MICSTREAM_WIFI_RETRY_INITIAL_MS,
                             .max_ms = CONFIG_MICSTREAM_WIFI_RETRY_MAX_MS,
                             .multiplier = 2,
                             .jitter_percent = CONFIG_MICSTREAM_RETRY_JITTER_PERCENT}) {}

esp_err_t WifiStation::start(const char* ssid, const char* password, const char* hostname) {
  ESP_RETURN_ON_FALSE(ssid[0] != '\0', ESP_ERR_INVALID_ARG, kTag,
                      "no WiFi network: set CONFIG_MICSTREAM_WIFI_SSID in menuconfig or the NVS key wifi_ssid");
  bits_ = xEventGroupCreateStatic(&bits_storage_);

  esp_timer_create_args_t timer = {};
  timer.callback = &WifiStation::on_retry_timer;
  timer.arg = this;
  timer.dispatch_method = ESP_TIMER_TASK;
  timer.name = "wifi_retry";
  ESP_RETURN_ON_ERROR(esp_timer_create(&timer, &retry_timer_), kTag, "creating the reconnect timer");

  netif_ = esp_netif_create_default_wifi_sta();
  ESP_RETURN_ON_FALSE(netif_ != nullptr, ESP_ERR_NO_MEM, kTag, "creating the station's network interface");
  ESP_RETURN_ON_ERROR(esp_netif_set_hostname(netif_, hostname), kTag, "setting the DHCP host name");

  const wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
  ESP_RETURN_ON_ERROR(esp_wifi_init(&init), kTag, "initialising WiFi");
  ESP_RETURN_ON_ERROR(
      esp_event_handler_instance_register(WIFI_EVENT, ESP_EVENT_ANY_ID, &WifiStation::on_event, this, nullptr), kTag,
      "registering for WiFi events");
  ESP_RETURN_ON_ERROR(
      esp_event_handler_instance_register(IP_EVENT, IP_EVENT_STA_GOT_IP, &WifiStation::on_event, this, nullptr), kTag,
      "registering for IP events");
  ESP_RETURN_ON_ERROR(
      esp_event_handler_instance_register(IP_EVENT, IP_EVENT_STA_LOST_IP, &WifiStation::on_event, this, nullptr), kTag,
      "registering for IP events");

  // The credentials come from Settings at every boot: keep WiFi's own copy
  // in RAM rather than in NVS.
  ESP_RETURN_ON_ERROR(esp_wifi_set_storage(WIFI_STORAGE_RAM), kTag, "setting WiFi storage");
  ESP_RETURN_ON_ERROR(esp_wifi_set_mode(WIFI_MODE_STA), kTag, "setting station mode");
  wifi_config_t config = {};
  copy_field(config.sta.ssid, sizeof config.sta.ssid, ssid);
  copy_field(config.sta.password, sizeof config.sta.password, password);
  // Open networks only when no password is set; with one, WPA2 or better.
  config.sta.threshold.authmode = password[0] == '\0' ? WIFI_AUTH_OPEN : WIFI_AUTH_WPA2_PSK;
  config.sta.scan_method = WIFI_ALL_CHANNEL_SCAN;  // the strongest access point of that name
  config.sta.sort_method = WIFI_CONNECT_AP_BY_SIGNAL;
  ESP_RETURN_ON_ERROR(esp_wifi_set_config(WIFI_IF_STA, &config), kTag, "setting the network");
  ESP_RETURN_ON_ERROR(esp_wifi_start(), kTag, "starting WiFi");  // WIFI_EVENT_STA_START connects
  ESP_RETURN_ON_ERROR(esp_wifi_set_ps(kPowerSave), kTag, "setting WiFi power save");
  ESP_LOGI(kTag, "joining \"%s\" as %s, power save %s", ssid, hostname,
           kPowerSave == WIFI_PS_NONE ? "off" : "minimum modem");
  return ESP_OK;
}

bool WifiStation::wait_connected(TickType_t ticks) {
  return (xEventGroupWaitBits(bits_, kGotIp, pdFALSE, pdTRUE, ticks) & kGotIp) != 0;
}

bool WifiStation::rssi(std::int8_t& dbm) const {
  wifi_ap_record_t ap = {};
  if (esp_wifi_sta_get_ap_info(&ap) != ESP_OK) return false;
  dbm = ap.rssi;
  return true;
}

void WifiStation::on_event(void* self, esp_event_base_t base, std::int32_t id, void* data) {
  static_cast<WifiStation*>(self)->handle(base, id, data);
}

void WifiStation::on_retry_timer(void* /*self*/) {
  if (const esp_err_t err = esp_wifi_connect(); err != ESP_OK) {
    ESP_LOGW(kTag, "reconnecting: %s", esp_err_to_name(err));
  }
}

void WifiStation::handle(esp_event_base_t base, std::int32_t id, void* data) {
  if (base == WIFI_EVENT && id == WIFI_EVENT_STA_START) {
    if (const esp_err_t err = esp_wifi_connect(); err != ESP_OK) {
      ESP_LOGW(kTag, "connecting: %s", esp_err_to_name(err));
    }
  } else if (base == WIFI_EVENT && id == WIFI_EVENT_STA_DISCONNECTED) {
    xEventGroupClearBits(bits_, kGotIp);
    const auto* event = static_cast<const wifi_event_sta_disconnected_t*>(data);
    const std::uint32_t delay_ms = backoff_.next_delay_ms(esp_random());
    ESP_LOGW(kTag, "not connected (reason %u), trying again in %lu ms", event != nullptr ? event->reason : 0U,
             static_cast<unsigned long>(delay_ms));
    (void)esp_timer_stop(retry_timer_);  // ESP_ERR_INVALID_STATE when it was not running
    if (const esp_err_t err = esp_timer_start_once(retry_timer_, std::uint64_t{delay_ms} * 1000); err != ESP_OK) {
      ESP_LOGE(kTag, "scheduling the reconnect: %s", esp_err_to_name(err));
    }
  } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
    const auto* event = static_cast<const ip_event_got_ip_t*>(data);
    ESP_LOGI(kTag, "got " IPSTR, IP2STR(&event->ip_info.ip));
    backoff_.reset();
    xEventGroupSetBits(bits_, kGotIp);
  } else if (base == IP_EVENT && id == IP_EVENT_STA_LOST_IP) {
    ESP_LOGW(kTag, "lost the IP address");
    xEventGroupClearBits(bits_, kGotIp);
  }
}

}  // namespace micstream::firmware
