#include "server_locator.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "esp_check.h"
#include "esp_log.h"
#include "esp_netif_ip_addr.h"
#include "lwip/netdb.h"
#include "mdns.h"

namespace micstream::firmware {

namespace {

constexpr char kTag[] = "locate";
constexpr char kService[] = "_micstream";
constexpr char kProto[] = "_tcp";
constexpr std::size_t kMaxAnswers = 4;

void set_ipv4(ServerAddress& out, std::uint32_t address_network_order, std::uint16_t port) {
  out.ingest = {};
  out.ingest.sin_family = AF_INET;
  out.ingest.sin_port = htons(port);
  out.ingest.sin_addr.s_addr = address_network_order;
}

// The TXT record's http=<port>, or 0.
std::uint16_t txt_http_port(const mdns_result_t& answer) {
  for (std::size_t i = 0; i < answer.txt_count; ++i) {
    const mdns_txt_item_t& item = answer.txt[i];
    if (item.key == nullptr || item.value == nullptr || std::strcmp(item.key, "http") != 0) continue;
    char* end = nullptr;
    const unsigned long port = std::strtoul(item.value, &end, 10);
    if (end != item.value && *end == '\0' && port > 0 && port <= 65535) return static_cast<std::uint16_t>(port);
  }
  return 0;
}

}  // namespace

ServerLocator::ServerLocator(const char* configured_host, std::uint16_t ingest_port, std::uint16_t http_port,
                             std::uint32_t mdns_timeout_ms)
    : configured_host_(configured_host),
      ingest_port_(ingest_port),
      http_port_(http_port),
      mdns_timeout_ms_(mdns_timeout_ms) {}

esp_err_t ServerLocator::start(const char* hostname) {
  if (!discovers()) {
    ESP_LOGI(kTag, "server %s, port %u", configured_host_, ingest_port_);
    return ESP_OK;
  }
  ESP_RETURN_ON_ERROR(mdns_init(), kTag, "starting mDNS");
  ESP_RETURN_ON_ERROR(mdns_hostname_set(hostname), kTag, "setting the mDNS host name");
  ESP_LOGI(kTag, "no server host configured: discovering %s.%s with mDNS", kService, kProto);
  return ESP_OK;
}

esp_err_t ServerLocator::locate(ServerAddress& out, std::span<char> error) const {
  if (!error.empty()) error[0] = '\0';
  return discovers() ? discover(out, error) : resolve(out, error);
}

esp_err_t ServerLocator::resolve(ServerAddress& out, std::span<char> error) const {
  addrinfo hints = {};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(configured_host_, nullptr, &hints, &found);
  if (rc != 0 || found == nullptr) {
    std::snprintf(error.data(), error.size(), "cannot resolve %s (getaddrinfo %d)", configured_host_, rc);
    if (found != nullptr) freeaddrinfo(found);
    return ESP_ERR_NOT_FOUND;
  }
  sockaddr_in address = {};
  std::memcpy(&address, found->ai_addr, sizeof address);
  freeaddrinfo(found);
  set_ipv4(out, address.sin_addr.s_addr, ingest_port_);
  std::snprintf(out.host, sizeof out.host, "%s", configured_host_);
  out.http_port = http_port_;
  return ESP_OK;
}

void ServerLocator::link_ended() const {
  if (!accepted_.exchange(false, std::memory_order_relaxed) && discovers()) {
    skip_.fetch_add(1, std::memory_order_relaxed);
  }
}

esp_err_t ServerLocator::discover(ServerAddress& out, std::span<char> error) const {
  mdns_result_t* answers = nullptr;
  const esp_err_t err = mdns_query_ptr(kService, kProto, mdns_timeout_ms_, kMaxAnswers, &answers);
  if (err != ESP_OK || answers == nullptr) {
    std::snprintf(error.data(), error.size(), "no %s.%s server answered mDNS within %lu ms (%s)", kService, kProto,
                  static_cast<unsigned long>(mdns_timeout_ms_), esp_err_to_name(err));
    if (answers != nullptr) mdns_query_results_free(answers);
    return err != ESP_OK ? err : ESP_ERR_NOT_FOUND;
  }
  // The usable answers, in the order mDNS gave them.
  struct Found {
    const mdns_result_t* answer;
    std::uint32_t ipv4;
  };
  Found found[kMaxAnswers] = {};
  std::size_t count = 0;
  for (const mdns_result_t* answer = answers; answer != nullptr && count < kMaxAnswers; answer = answer->next) {
    if (answer->port == 0) continue;
    std::uint32_t ipv4 = 0;
    for (const mdns_ip_addr_t* a = answer->addr; a != nullptr && ipv4 == 0; a = a->next) {
      if (a->addr.type == ESP_IPADDR_TYPE_V4) ipv4 = a->addr.u_addr.ip4.addr;
    }
    if (ipv4 == 0 && answer->hostname != nullptr) {
      // The answer named a host but carried no address: ask for it.
      esp_ip4_addr_t host = {};
      if (mdns_query_a(answer->hostname, mdns_timeout_ms_, &host) == ESP_OK) ipv4 = host.addr;
    }
    if (ipv4 != 0) found[count++] = {answer, ipv4};
  }
  esp_err_t result = ESP_ERR_NOT_FOUND;
  if (count > 0) {
    const std::size_t pick = skip_.load(std::memory_order_relaxed) % count;
    const mdns_result_t& answer = *found[pick].answer;
    set_ipv4(out, found[pick].ipv4, answer.port);
    esp_ip4_addr_t shown = {};
    shown.addr = found[pick].ipv4;
    std::snprintf(out.host, sizeof out.host, IPSTR, IP2STR(&shown));
    const std::uint16_t http = txt_http_port(answer);
    out.http_port = http != 0 ? http : http_port_;
    ESP_LOGI(kTag, "found %s at %s port %u (http %u), answer %u of %u",
             answer.instance_name != nullptr ? answer.instance_name : "server", out.host, answer.port, out.http_port,
             static_cast<unsigned>(pick + 1), static_cast<unsigned>(count));
    result = ESP_OK;
  }
  mdns_query_results_free(answers);
  if (result != ESP_OK) {
    std::snprintf(error.data(), error.size(), "mDNS answers for %s.%s carried no IPv4 address", kService, kProto);
  }
  return result;
}

}  // namespace micstream::firmware
