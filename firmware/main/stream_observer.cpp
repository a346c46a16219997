#include "stream_observer.h"

#include <cstdlib>

#include "esp_log.h"
#include "esp_system.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "micstream/codec.h"
#include "micstream/error.h"

namespace micstream::firmware {

namespace {
constexpr char kTag[] = "link";
}  // namespace

void StreamObserver::on_connected(std::uint32_t reconnects) {
  // Called on the sender task after a whole handshake (TLS included): what
  // its stack never used so far, to size CONFIG_MICSTREAM_SENDER_TASK_STACK
  // by, and the heap the link's buffers left.
  ESP_LOGI(kTag, "streaming: the server accepted the link (reconnects so far: %lu; sender stack unused %u bytes, "
           "free heap %lu bytes)", static_cast<unsigned long>(reconnects),
           static_cast<unsigned>(uxTaskGetStackHighWaterMark(nullptr)),
           static_cast<unsigned long>(esp_get_free_heap_size()));
  locator_.link_accepted();
  ota_.confirm_image();
}

void StreamObserver::on_disconnected(const char* reason, std::uint32_t retry_in_ms) {
  locator_.link_ended();
  ESP_LOGW(kTag, "%s; trying again in %lu ms", reason, static_cast<unsigned long>(retry_in_ms));
}

void StreamObserver::on_server_error(const proto::ErrorMessage& error) {
  const auto reason = error.reason.view();
  ESP_LOGW(kTag, "the server sent ERROR %u (%s): %.*s", static_cast<unsigned>(error.code), error_name(error.code),
           static_cast<int>(reason.size()), reason.data());
}

void StreamObserver::on_config(const proto::Config& config) {
  if (config.has_gain) {
    const int magnitude = std::abs(static_cast<int>(config.gain_cdb));
    ESP_LOGI(kTag, "CONFIG: gain %c%d.%02d dB", config.gain_cdb < 0 ? '-' : '+', magnitude / 100, magnitude % 100);
  }
  if (config.has_codec) ESP_LOGI(kTag, "CONFIG: codec %s", codec_name(config.codec));
  if (config.check_update) {
    ESP_LOGI(kTag, "CONFIG: the server has a newer firmware image");
    ota_.request_update();
  }
}

void StreamObserver::fill_stats(proto::Stats& stats) {
  stats.free_heap_bytes = esp_get_free_heap_size();
  stats.min_free_heap_bytes = esp_get_minimum_free_heap_size();
  std::int8_t rssi = 0;
  stats.wifi_rssi_dbm = wifi_.rssi(rssi) ? rssi : proto::kRssiUnknown;
}

}  // namespace micstream::firmware
