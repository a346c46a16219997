#include "ota_updater.h"

#include <cstdio>
#include <cstring>
#include <string_view>

#include "esp_app_desc.h"
#include "esp_check.h"
#include "esp_log.h"
#include "esp_ota_ops.h"
#include "esp_system.h"
#include "image_verifier.h"
#include "sdkconfig.h"
#include "signed_ota.h"

namespace micstream::firmware {

namespace {

constexpr char kTag[] = "ota";
constexpr std::uint32_t kUpdate = 1U << 0;  // fetch and install a newer image
constexpr std::uint32_t kKeep = 1U << 1;    // the server accepted a link: keep this image
constexpr std::uint32_t kGiveUp = 1U << 2;  // the trial ran out: roll back

constexpr char kNoKey[] =
    "OTA updates are off: no public key for signed images is configured (CONFIG_MICSTREAM_OTA_SIGNING_KEY)";

StackType_t s_stack[CONFIG_MICSTREAM_OTA_TASK_STACK];
StaticTask_t s_task;

// CONFIG_MICSTREAM_OTA_URL with {host} and {http_port} filled in; false when it does not fit.
bool build_url(const ServerAddress& server, char* url, std::size_t size) {
  std::string_view pattern = CONFIG_MICSTREAM_OTA_URL;
  char port[8];
  std::snprintf(port, sizeof port, "%u", static_cast<unsigned>(server.http_port));
  std::size_t used = 0;
  auto append = [&](std::string_view text) {
    if (used + text.size() >= size) return false;
    std::memcpy(url + used, text.data(), text.size());
    used += text.size();
    return true;
  };
  while (!pattern.empty()) {
    bool ok = false;
    if (pattern.starts_with("{host}")) {
      ok = append(server.host);
      pattern.remove_prefix(6);
    } else if (pattern.starts_with("{http_port}")) {
      ok = append(port);
      pattern.remove_prefix(11);
    } else {
      ok = append(pattern.substr(0, 1));
      pattern.remove_prefix(1);
    }
    if (!ok) return false;
  }
  url[used] = '\0';
  return true;
}

}  // namespace

OtaUpdater::OtaUpdater(const ServerLocator& locator, WifiStation& wifi) : locator_(locator), wifi_(wifi) {}

esp_err_t OtaUpdater::start(bool check_at_boot) {
  const esp_partition_t* running = esp_ota_get_running_partition();
  esp_ota_img_states_t state = ESP_OTA_IMG_UNDEFINED;
  on_trial_ = running != nullptr && esp_ota_get_state_partition(running, &state) == ESP_OK &&
              state == ESP_OTA_IMG_PENDING_VERIFY;
  task_ = xTaskCreateStatic(&OtaUpdater::task, "ota", sizeof s_stack / sizeof s_stack[0], this,
                            CONFIG_MICSTREAM_OTA_TASK_PRIORITY, s_stack, &s_task);
  ESP_RETURN_ON_FALSE(task_ != nullptr, ESP_FAIL, kTag, "creating the OTA task");
  if (on_trial_) {
    esp_timer_create_args_t timer = {};
    timer.callback = &OtaUpdater::on_trial_timeout;
    timer.arg = this;
    timer.dispatch_method = ESP_TIMER_TASK;
    timer.name = "ota_trial";
    ESP_RETURN_ON_ERROR(esp_timer_create(&timer, &trial_timer_), kTag, "creating the trial timer");
    ESP_RETURN_ON_ERROR(
        esp_timer_start_once(trial_timer_, std::uint64_t{CONFIG_MICSTREAM_OTA_VERIFY_MINUTES} * 60 * 1000 * 1000), kTag,
        "starting the trial timer");
    ESP_LOGW(kTag, "new image %s on trial: it is kept once the server accepts a link within %d minutes",
             esp_app_get_description()->version, CONFIG_MICSTREAM_OTA_VERIFY_MINUTES);
  }
  if (!has_signing_key(CONFIG_MICSTREAM_OTA_SIGNING_KEY)) ESP_LOGW(kTag, "%s", kNoKey);
  if (check_at_boot) request_update();
  return ESP_OK;
}

void OtaUpdater::notify(std::uint32_t bits) {
  if (task_ != nullptr) xTaskNotify(task_, bits, eSetBits);
}

void OtaUpdater::request_update() { notify(kUpdate); }

void OtaUpdater::confirm_image() { notify(kKeep); }

void OtaUpdater::on_trial_timeout(void* self) { static_cast<OtaUpdater*>(self)->notify(kGiveUp); }

void OtaUpdater::task(void* self) { static_cast<OtaUpdater*>(self)->run(); }

void OtaUpdater::run() {
  bool update_pending = false;
  for (;;) {
    // An update waits for WiFi without blocking the trial's verdicts: look
    // for an address once a second meanwhile.
    std::uint32_t bits = 0;
    xTaskNotifyWait(0, UINT32_MAX, &bits, update_pending ? pdMS_TO_TICKS(1000) : portMAX_DELAY);
    if ((bits & kKeep) != 0) keep_image();
    if ((bits & kGiveUp) != 0) give_up_image();
    if ((bits & kUpdate) != 0) update_pending = true;
    if (update_pending && wifi_.wait_connected(0)) {
      update_pending = false;
      update();
    }
  }
}

void OtaUpdater::keep_image() {
  if (!on_trial_) return;
  if (const esp_err_t err = esp_ota_mark_app_valid_cancel_rollback(); err != ESP_OK) {
    ESP_LOGE(kTag, "cannot mark this image valid: %s", esp_err_to_name(err));
    return;
  }
  on_trial_ = false;
  (void)esp_timer_stop(trial_timer_);
  ESP_LOGI(kTag, "the server accepted image %s: kept", esp_app_get_description()->version);
}

void OtaUpdater::give_up_image() {
  if (!on_trial_) return;
  ESP_LOGE(kTag, "image %s reached no server in %d minutes: rolling back to the previous image",
           esp_app_get_description()->version, CONFIG_MICSTREAM_OTA_VERIFY_MINUTES);
  const esp_err_t err = esp_ota_mark_app_invalid_rollback_and_reboot();  // returns only on failure
  ESP_LOGE(kTag, "rollback failed: %s", esp_err_to_name(err));
}

void OtaUpdater::update() {
  if (!has_signing_key(CONFIG_MICSTREAM_OTA_SIGNING_KEY)) {
    ESP_LOGW(kTag, "%s", kNoKey);
    return;
  }
  ServerAddress server;
  char error[128] = {};
  if (const esp_err_t err = locator_.locate(server, error); err != ESP_OK) {
    ESP_LOGW(kTag, "no update check: %s", error);
    return;
  }
  char url[256];
  if (!build_url(server, url, sizeof url)) {
    ESP_LOGE(kTag, "CONFIG_MICSTREAM_OTA_URL is too long once filled in");
    return;
  }

  esp_app_desc_t rejected = {};
  const esp_partition_t* invalid = esp_ota_get_last_invalid_partition();
  InstallRequest request;
  request.image_url = url;
  request.public_key = CONFIG_MICSTREAM_OTA_SIGNING_KEY;
  request.running = esp_app_get_description();
  if (invalid != nullptr && esp_ota_get_partition_description(invalid, &rejected) == ESP_OK) {
    request.rolled_back = &rejected;
  }
  request.timeout_ms = CONFIG_MICSTREAM_OTA_TIMEOUT_MS;
  if (install_signed_image(request) != InstallResult::installed) return;
  ESP_LOGI(kTag, "rebooting into the new image (on trial)");
  esp_restart();
}

}  // namespace micstream::firmware
