// Where the server is: the configured host name or address (DNS), or, when
// none is configured, an answer to an mDNS query for _micstream._tcp (the
// server advertises its ingest port, and its HTTP port in TXT "http").
// Asked again before every connection, so a server that moved is found.
// Discovery takes the first answer until a link to it ends without the
// server accepting it (a rogue server answering first cannot finish the TLS
// handshake); then it takes the next answer, and so on round.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "esp_err.h"
#include "lwip/sockets.h"

namespace micstream::firmware {

struct ServerAddress {
  sockaddr_in ingest = {};  ///< the link protocol's address and port
  char host[64] = {};       ///< as configured, or the address mDNS found (for URLs and logs)
  std::uint16_t http_port = 0;
};

class ServerLocator {
 public:
  /// configured_host: empty for mDNS discovery. Must outlive the locator.
  ServerLocator(const char* configured_host, std::uint16_t ingest_port, std::uint16_t http_port,
                std::uint32_t mdns_timeout_ms);

  /// Starts mDNS when discovery is needed (after esp_netif and the event
  /// loop); hostname: this device's mDNS name (the device id).
  [[nodiscard]] esp_err_t start(const char* hostname);

  /// Finds the server. On failure, error holds a sentence for the logs.
  /// Blocks for a DNS lookup or one mDNS query. Any task may call it.
  [[nodiscard]] esp_err_t locate(ServerAddress& out, std::span<char> error) const;

  [[nodiscard]] bool discovers() const { return configured_host_[0] == '\0'; }

  /// The sender's link to the located server: the server accepted HELLO.
  void link_accepted() const { accepted_.store(true, std::memory_order_relaxed); }
  /// The link ended; one the server never accepted moves discovery on to
  /// the next answer.
  void link_ended() const;

 private:
  esp_err_t resolve(ServerAddress& out, std::span<char> error) const;
  esp_err_t discover(ServerAddress& out, std::span<char> error) const;

  const char* configured_host_;
  std::uint16_t ingest_port_;
  std::uint16_t http_port_;
  std::uint32_t mdns_timeout_ms_;
  mutable std::atomic<bool> accepted_{false};  // the current link was accepted
  mutable std::atomic<std::uint32_t> skip_{0};  // answers to pass over, counted round
};

}  // namespace micstream::firmware
