// Host stand-in for the mdns component's mdns.h: the part server_locator.cpp
// uses, same names and fields (firmware/host only). link_test.cpp answers the
// query with the server it started, as an Avahi-advertised server would.
#pragma once
#include <cstddef>
#include <cstdint>
#include "esp_err.h"
#include "esp_netif_ip_addr.h"
typedef struct {
  const char* key;
  const char* value;
} mdns_txt_item_t;
typedef struct mdns_ip_addr_s {
  esp_ip_addr_t addr;
  struct mdns_ip_addr_s* next;
} mdns_ip_addr_t;
typedef struct mdns_result_s {
  struct mdns_result_s* next;
  char* instance_name;
  char* hostname;
  std::uint16_t port;
  mdns_txt_item_t* txt;
  std::size_t txt_count;
  mdns_ip_addr_t* addr;
} mdns_result_t;
esp_err_t mdns_init();
esp_err_t mdns_hostname_set(const char* hostname);
esp_err_t mdns_query_ptr(const char* service_type, const char* proto, std::uint32_t timeout, std::size_t max_results,
                         mdns_result_t** results);
esp_err_t mdns_query_a(const char* host_name, std::uint32_t timeout, esp_ip4_addr_t* addr);
void mdns_query_results_free(mdns_result_t* results);
