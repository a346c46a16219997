// Host stand-in for ESP-IDF's esp_netif_ip_addr.h: the types mdns.h uses (firmware/host only).
#pragma once
#include <cstdint>
struct esp_ip4_addr {
  std::uint32_t addr;  // network byte order
};
typedef struct esp_ip4_addr esp_ip4_addr_t;
typedef struct {
  union {
    esp_ip4_addr_t ip4;
    std::uint32_t ip6[4];
  } u_addr;
  std::uint8_t type;
} esp_ip_addr_t;
#define ESP_IPADDR_TYPE_V4 0U
#define esp_ip4_addr_get_byte(ipaddr, idx) (((const std::uint8_t*)(&(ipaddr)->addr))[idx])
#define IP2STR(ipaddr)                                                                              \
  esp_ip4_addr_get_byte(ipaddr, 0), esp_ip4_addr_get_byte(ipaddr, 1), esp_ip4_addr_get_byte(ipaddr, 2), \
      esp_ip4_addr_get_byte(ipaddr, 3)
#define IPSTR "%d.%d.%d.%d"
