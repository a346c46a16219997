// The socket plumbing the devices and the listeners share: the server's
// resolved addresses and the one epoll set of the process.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace micstream::loadgen {

/// A resolved server port: its first address, and that address as text
/// ("127.0.0.1:8080", "[::1]:8080") for messages and the Host header.
struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;

  [[nodiscard]] const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&addr); }
};

/// Resolves host:port, or dies.
Endpoint resolve(const std::string& host, int port);

/// The epoll set. An event's tag says whose descriptor it is: a kind in the
/// high 32 bits, the device's or listener's index in the low ones.
class Poller {
 public:
  static constexpr std::uint64_t kDevice = 1ULL << 32;
  static constexpr std::uint64_t kListener = 2ULL << 32;
  static constexpr std::uint64_t kIndexMask = 0xffffffffULL;

  Poller();  // dies when epoll_create1 fails
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  void add(int fd, std::uint32_t events, std::uint64_t tag) const;  // dies on failure
  void mod(int fd, std::uint32_t events, std::uint64_t tag) const;  // dies on failure
  [[nodiscard]] int fd() const { return ep_; }

 private:
  int ep_ = -1;
};

}  // namespace micstream::loadgen
