// The ESP-IDF calls main/signed_ota.cpp makes, on Linux: esp_http_client as a
// blocking HTTP/1.1 GET over a POSIX socket (http:// only, Content-Length
// bodies), esp_https_ota over it writing into an in-memory slot, following
// v5.x's contract: begin connects and checks the status, get_img_desc reads
// the image's first bytes, perform writes them then one read at a time and
// returns ESP_OK once the whole body arrived, finish sets the boot partition
// only after a complete download, abort never does.
#include "ota_shim.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "esp_crt_bundle.h"
#include "esp_http_client.h"
#include "esp_https_ota.h"
#include "esp_ota_ops.h"

using micstream::host_ota::flash;

struct esp_http_client {
  std::string host, port, path;
  int timeout_ms = 0;
  int fd = -1;
  std::string pending;  // body bytes read with the headers
  int status = 0;
  int64_t length = -1;  // Content-Length; -1 when absent
  int64_t body_read = 0;
  bool eof = false;
};

namespace {

// Image header (24) + first segment header (8) + app description (256) + 1, as esp_https_ota reads first.
constexpr int kImageHeaderSize = 24 + 8 + 256 + 1;
esp_partition_t s_partition = {0x110000, 0, "ota_1"};

int receive(esp_http_client& c, char* buffer, int len) {
  if (!c.pending.empty()) {
    const int n = std::min<int>(len, static_cast<int>(c.pending.size()));
    std::memcpy(buffer, c.pending.data(), static_cast<std::size_t>(n));
    c.pending.erase(0, static_cast<std::size_t>(n));
    return n;
  }
  const ssize_t n = ::recv(c.fd, buffer, static_cast<std::size_t>(len), 0);
  if (n == 0) c.eof = true;
  return static_cast<int>(n);
}

struct OtaHandle {
  esp_http_client_handle_t http = nullptr;
  enum { begun, in_progress, success } state = begun;
  std::string header;  // read by get_img_desc, written by the first perform
  int written = 0;
};

void write_slot(OtaHandle& h, const char* data, int size, esp_err_t& err) {
  auto& slot = flash().slot;
  if (h.written + size > static_cast<int>(slot.size())) {
    err = ESP_FAIL;  // esp_partition_write: past the partition's end
    return;
  }
  std::memcpy(slot.data() + h.written, data, static_cast<std::size_t>(size));
  h.written += size;
}

esp_err_t close_ota(OtaHandle* h) {
  esp_http_client_close(h->http);
  esp_http_client_cleanup(h->http);
  delete h;
  return ESP_OK;
}

}  // namespace

namespace micstream::host_ota {

Flash& flash() {
  static Flash f;
  return f;
}

void reset(std::size_t slot_size) {
  flash() = Flash{};
  flash().slot.assign(slot_size, 0xff);
  s_partition.size = static_cast<uint32_t>(slot_size);
}

}  // namespace micstream::host_ota

esp_http_client_handle_t esp_http_client_init(const esp_http_client_config_t* config) {
  std::string_view url = config->url;
  if (!url.starts_with("http://")) return nullptr;
  url.remove_prefix(7);
  const auto slash = url.find('/');
  const std::string_view authority = url.substr(0, slash);
  const auto colon = authority.rfind(':');
  auto* c = new esp_http_client;
  c->host = std::string(authority.substr(0, colon));
  c->port = colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
  c->path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  c->timeout_ms = config->timeout_ms;
  return c;
}

esp_err_t esp_http_client_open(esp_http_client_handle_t c, int) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(c->host.c_str(), c->port.c_str(), &hints, &found) != 0) return ESP_FAIL;
  c->fd = ::socket(found->ai_family, SOCK_STREAM, 0);
  const timeval timeout{c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
  ::setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  const bool connected = c->fd >= 0 && ::connect(c->fd, found->ai_addr, found->ai_addrlen) == 0;
  ::freeaddrinfo(found);
  if (!connected) return ESP_FAIL;
  const std::string request =
      "GET " + c->path + " HTTP/1.1\r\nHost: " + c->host + ":" + c->port + "\r\nConnection: close\r\n\r\n";
  return ::send(c->fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())
             ? ESP_OK
             : ESP_FAIL;
}

int64_t esp_http_client_fetch_headers(esp_http_client_handle_t c) {
  std::string head;
  char buffer[1024];
  std::size_t end = std::string::npos;
  while ((end = head.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = ::recv(c->fd, buffer, sizeof buffer, 0);
    if (n <= 0 || head.size() > 16384) return ESP_FAIL;
    head.append(buffer, static_cast<std::size_t>(n));
  }
  c->pending = head.substr(end + 4);
  head.resize(end);
  if (!head.starts_with("HTTP/1.1 ") || head.size() < 12) return ESP_FAIL;
  c->status = std::atoi(head.c_str() + 9);
  for (std::size_t at = head.find("\r\n"); at != std::string::npos; at = head.find("\r\n", at + 2)) {
    std::string line = head.substr(at + 2, head.find("\r\n", at + 2) - at - 2);
    std::transform(line.begin(), line.end(), line.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (line.starts_with("content-length:")) c->length = std::atoll(line.c_str() + 15);
  }
  return c->length < 0 ? 0 : c->length;
}

int esp_http_client_get_status_code(esp_http_client_handle_t c) { return c->status; }

int64_t esp_http_client_get_content_length(esp_http_client_handle_t c) { return c->length; }

int esp_http_client_read(esp_http_client_handle_t c, char* buffer, int len) {
  if (c->length >= 0) len = static_cast<int>(std::min<int64_t>(len, c->length - c->body_read));
  if (len <= 0) return 0;
  const int n = receive(*c, buffer, len);
  if (n > 0) c->body_read += n;
  return n;
}

int esp_http_client_read_response(esp_http_client_handle_t c, char* buffer, int len) {
  int total = 0;
  while (total < len) {
    const int n = esp_http_client_read(c, buffer + total, len - total);
    if (n < 0) return -1;
    if (n == 0) break;
    total += n;
  }
  return total;
}

bool esp_http_client_is_complete_data_received(esp_http_client_handle_t c) {
  return c->length >= 0 ? c->body_read == c->length : c->eof;
}

esp_err_t esp_http_client_close(esp_http_client_handle_t c) {
  if (c->fd >= 0) ::close(c->fd);
  c->fd = -1;
  return ESP_OK;
}

esp_err_t esp_http_client_cleanup(esp_http_client_handle_t c) {
  esp_http_client_close(c);
  delete c;
  return ESP_OK;
}

esp_err_t esp_crt_bundle_attach(void*) { return ESP_FAIL; }

esp_err_t esp_partition_read(const esp_partition_t* partition, size_t src_offset, void* dst, size_t size) {
  const auto& slot = flash().slot;
  if (partition != &s_partition || src_offset + size > slot.size()) return ESP_ERR_INVALID_ARG;
  std::memcpy(dst, slot.data() + src_offset, size);
  return ESP_OK;
}

const esp_partition_t* esp_ota_get_next_update_partition(const esp_partition_t*) { return &s_partition; }

esp_err_t esp_https_ota_begin(const esp_https_ota_config_t* ota_config, esp_https_ota_handle_t* handle) {
  *handle = nullptr;
  esp_http_client_handle_t http = esp_http_client_init(ota_config->http_config);
  if (http == nullptr) return ESP_ERR_INVALID_ARG;
  if (esp_http_client_open(http, 0) != ESP_OK || esp_http_client_fetch_headers(http) < 0 ||
      esp_http_client_get_status_code(http) >= 400) {
    esp_http_client_cleanup(http);
    return ESP_FAIL;
  }
  auto* h = new OtaHandle;
  h->http = http;
  *handle = h;
  ++flash().begun;
  return ESP_OK;
}

esp_err_t esp_https_ota_get_img_desc(esp_https_ota_handle_t handle, esp_app_desc_t* new_app_info) {
  auto* h = static_cast<OtaHandle*>(handle);
  char buffer[kImageHeaderSize];
  const int n = esp_http_client_read_response(h->http, buffer, kImageHeaderSize);
  if (n != kImageHeaderSize) return ESP_FAIL;
  h->header.assign(buffer, static_cast<std::size_t>(n));
  std::memcpy(new_app_info, buffer + 32, sizeof *new_app_info);
  return new_app_info->magic_word == ESP_APP_DESC_MAGIC_WORD ? ESP_OK : ESP_FAIL;
}

esp_err_t esp_https_ota_perform(esp_https_ota_handle_t handle) {
  auto* h = static_cast<OtaHandle*>(handle);
  esp_err_t err = ESP_ERR_HTTPS_OTA_IN_PROGRESS;
  if (h->state == OtaHandle::begun) {
    if (h->header.empty() || static_cast<unsigned char>(h->header[0]) != 0xE9) return ESP_ERR_OTA_VALIDATE_FAILED;
    h->state = OtaHandle::in_progress;
    write_slot(*h, h->header.data(), static_cast<int>(h->header.size()), err);
    return err;
  }
  char buffer[1024];
  const int n = esp_http_client_read(h->http, buffer, sizeof buffer);
  if (n > 0) {
    write_slot(*h, buffer, n, err);
    return err;
  }
  if (n < 0 || !esp_http_client_is_complete_data_received(h->http)) return ESP_FAIL;
  h->state = OtaHandle::success;
  return ESP_OK;
}

bool esp_https_ota_is_complete_data_received(esp_https_ota_handle_t handle) {
  return esp_http_client_is_complete_data_received(static_cast<OtaHandle*>(handle)->http);
}

int esp_https_ota_get_image_len_read(esp_https_ota_handle_t handle) {
  const auto* h = static_cast<OtaHandle*>(handle);
  return h->state == OtaHandle::begun ? -1 : h->written;
}

int esp_https_ota_get_image_size(esp_https_ota_handle_t handle) {
  return static_cast<int>(esp_http_client_get_content_length(static_cast<OtaHandle*>(handle)->http));
}

esp_err_t esp_https_ota_finish(esp_https_ota_handle_t handle) {
  auto* h = static_cast<OtaHandle*>(handle);
  const bool complete = h->state == OtaHandle::success;
  close_ota(h);
  if (!complete) return ESP_ERR_OTA_VALIDATE_FAILED;
  ++flash().boot_set;
  return ESP_OK;
}

esp_err_t esp_https_ota_abort(esp_https_ota_handle_t handle) {
  ++flash().aborted;
  return close_ota(static_cast<OtaHandle*>(handle));
}
