#include "signed_ota.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "esp_crt_bundle.h"
#include "esp_http_client.h"
#include "esp_https_ota.h"
#include "esp_log.h"
#include "esp_ota_ops.h"
#include "esp_partition.h"
#include "image_verifier.h"

namespace micstream::firmware {

namespace {

constexpr char kTag[] = "ota";

// Read back from flash a block at a time; static: the OTA task's stack is small.
std::uint8_t s_block[1024];

void configure(esp_http_client_config_t& http, const char* url, int timeout_ms) {
  http.url = url;
  http.timeout_ms = timeout_ms;
  http.keep_alive_enable = true;
  if (std::string_view(url).starts_with("https:")) http.crt_bundle_attach = esp_crt_bundle_attach;
}

bool same_image(const esp_app_desc_t& a, const esp_app_desc_t& b) {
  return std::memcmp(a.app_elf_sha256, b.app_elf_sha256, sizeof a.app_elf_sha256) == 0;
}

constexpr int kNoSignature = -2;  // fetch_signature(): the server has none

// The body of `url` into `out` (one byte more than a signature file, so a
// longer body shows as too long); its length, kNoSignature, or -1 when the
// network failed (logged).
int fetch_signature(const char* url, int timeout_ms, std::uint8_t (&out)[ota::kSignatureFileSize + 1]) {
  esp_http_client_config_t http = {};
  configure(http, url, timeout_ms);
  esp_http_client_handle_t client = esp_http_client_init(&http);
  if (client == nullptr) {
    ESP_LOGE(kTag, "cannot start an HTTP client for %s", url);
    return -1;
  }
  int size = -1;
  if (const esp_err_t err = esp_http_client_open(client, 0); err != ESP_OK) {
    ESP_LOGW(kTag, "no update check: cannot reach %s (%s)", url, esp_err_to_name(err));
  } else if (esp_http_client_fetch_headers(client) < 0) {
    ESP_LOGW(kTag, "no update check: no answer from %s", url);
  } else if (const int status = esp_http_client_get_status_code(client); status != HttpStatus_Ok) {
    ESP_LOGW(kTag, "no signature at %s (HTTP %d): an image is installed only with its signature", url, status);
    size = kNoSignature;
  } else {
    size = esp_http_client_read_response(client, reinterpret_cast<char*>(out), sizeof out);
    if (size < 0) ESP_LOGW(kTag, "reading %s failed", url);
  }
  (void)esp_http_client_close(client);
  (void)esp_http_client_cleanup(client);
  return size;
}

// SHA-256 of the first `size` bytes of the slot: what will boot, as written.
bool hash_slot(const esp_partition_t& slot, std::uint32_t size, std::uint8_t (&digest)[ota::kSha256Size]) {
  ImageHash hash;
  for (std::uint32_t at = 0; at < size;) {
    const std::uint32_t n = std::min<std::uint32_t>(sizeof s_block, size - at);
    if (const esp_err_t err = esp_partition_read(&slot, at, s_block, n); err != ESP_OK) {
      ESP_LOGE(kTag, "reading the new image back from flash failed: %s", esp_err_to_name(err));
      return false;
    }
    if (!hash.update(std::span(s_block, n))) return false;
    at += n;
  }
  return hash.finish(digest);
}

// Streams the image into the slot, never past the signed size; true when all
// of it arrived.
bool download(esp_https_ota_handle_t handle, const char* url, std::uint32_t signed_size) {
  esp_err_t err = ESP_ERR_HTTPS_OTA_IN_PROGRESS;
  while (err == ESP_ERR_HTTPS_OTA_IN_PROGRESS) {
    err = esp_https_ota_perform(handle);
    if (esp_https_ota_get_image_len_read(handle) > static_cast<int>(signed_size)) {
      ESP_LOGE(kTag, "refused %s: it is longer than the signed %u bytes", url, static_cast<unsigned>(signed_size));
      return false;
    }
  }
  if (err != ESP_OK || !esp_https_ota_is_complete_data_received(handle)) {
    ESP_LOGE(kTag, "download of %s failed after %d bytes: %s", url, esp_https_ota_get_image_len_read(handle),
             esp_err_to_name(err));
    return false;
  }
  return true;
}

}  // namespace

InstallResult install_signed_image(const InstallRequest& request) {
  const char* url = request.image_url;
  char sig_url[300];
  if (std::snprintf(sig_url, sizeof sig_url, "%s.sig", url) >= static_cast<int>(sizeof sig_url)) {
    ESP_LOGE(kTag, "the image URL is too long");
    return InstallResult::failed;
  }
  std::uint8_t file[ota::kSignatureFileSize + 1];
  const int file_size = fetch_signature(sig_url, request.timeout_ms, file);
  if (file_size < 0) return file_size == kNoSignature ? InstallResult::refused : InstallResult::failed;
  ota::ImageSignature signed_image;
  if (const SignatureCheck check = check_signature_file(
          request.public_key, std::span(file, static_cast<std::size_t>(file_size)), signed_image);
      !check.ok()) {
    ESP_LOGE(kTag, "refused %s: %s", sig_url, check.reason());
    return InstallResult::refused;
  }
  // esp_https_ota writes where esp_ota_get_next_update_partition(NULL) points
  // (its default, with no staging partition configured): read back from there.
  const esp_partition_t* slot = esp_ota_get_next_update_partition(nullptr);
  if (slot == nullptr || signed_image.image_size > slot->size) {
    ESP_LOGE(kTag, "refused %s: the signed image (%u bytes) does not fit an OTA slot", url,
             static_cast<unsigned>(signed_image.image_size));
    return InstallResult::refused;
  }

  esp_http_client_config_t http = {};
  configure(http, url, request.timeout_ms);
  esp_https_ota_config_t config = {};
  config.http_config = &http;
  esp_https_ota_handle_t handle = nullptr;
  if (const esp_err_t err = esp_https_ota_begin(&config, &handle); err != ESP_OK) {
    ESP_LOGW(kTag, "no image at %s (%s)", url, esp_err_to_name(err));
    return InstallResult::failed;
  }
  auto give_up = [&](InstallResult result) {
    (void)esp_https_ota_abort(handle);  // frees the handle; the boot partition stays
    return result;
  };
  esp_app_desc_t offered = {};
  if (const esp_err_t err = esp_https_ota_get_img_desc(handle, &offered); err != ESP_OK) {
    ESP_LOGE(kTag, "refused %s: not a firmware image (%s)", url, esp_err_to_name(err));
    return give_up(InstallResult::refused);
  }
  if (request.running != nullptr && same_image(offered, *request.running)) {
    ESP_LOGI(kTag, "up to date: the server offers the running image %s", request.running->version);
    return give_up(InstallResult::up_to_date);
  }
  if (request.rolled_back != nullptr && same_image(offered, *request.rolled_back)) {
    ESP_LOGW(kTag, "the server offers image %s, which was rolled back before: not installed", offered.version);
    return give_up(InstallResult::rolled_back);
  }
  if (const int length = esp_https_ota_get_image_size(handle);
      length >= 0 && static_cast<std::uint32_t>(length) != signed_image.image_size) {
    ESP_LOGE(kTag, "refused %s: it is %d bytes, the signed image %u", url, length,
             static_cast<unsigned>(signed_image.image_size));
    return give_up(InstallResult::refused);
  }

  ESP_LOGI(kTag, "installing %s from %s (%u bytes, signature verified)", offered.version, url,
           static_cast<unsigned>(signed_image.image_size));
  if (!download(handle, url, signed_image.image_size)) return give_up(InstallResult::failed);
  std::uint8_t digest[ota::kSha256Size];
  if (!hash_slot(*slot, signed_image.image_size, digest)) return give_up(InstallResult::failed);
  const int written = esp_https_ota_get_image_len_read(handle);
  if (const SignatureCheck check = check_image(signed_image, written < 0 ? 0 : std::uint64_t(written), digest);
      !check.ok()) {
    ESP_LOGE(kTag, "refused %s: %s", url, check.reason());
    return give_up(InstallResult::refused);
  }
  if (const esp_err_t err = esp_https_ota_finish(handle); err != ESP_OK) {  // frees the handle in every case
    ESP_LOGE(kTag, "the signed image did not validate: %s", esp_err_to_name(err));
    return InstallResult::failed;
  }
  ESP_LOGI(kTag, "image %s verified and installed", offered.version);
  return InstallResult::installed;
}

}  // namespace micstream::firmware
