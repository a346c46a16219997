// pipeline::Transport over an lwIP BSD socket: the server located afresh for
// every connection, a non-blocking connect bounded by select(), TCP_NODELAY
// (every frame leaves at once), TCP keepalive, sends bounded by SO_SNDTIMEO
// and completed across partial sends. The socket is closed on every failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "micstream/pipeline/ports.h"
#include "server_locator.h"

namespace micstream::firmware {

struct TransportOptions {
  std::uint32_t keepalive_idle_s = 5;
  std::uint32_t keepalive_interval_s = 2;
  std::uint32_t keepalive_count = 3;
};

class SocketTransport final : public pipeline::Transport {
 public:
  SocketTransport(const ServerLocator& locator, TransportOptions options);
  ~SocketTransport() override { close(); }
  SocketTransport(const SocketTransport&) = delete;
  SocketTransport& operator=(const SocketTransport&) = delete;

  Status connect(std::uint32_t timeout_ms) override;
  Status send(std::span<const std::uint8_t> bytes, std::uint32_t timeout_ms) override;
  Status receive(std::span<std::uint8_t> out, std::uint32_t timeout_ms, std::size_t& received) override;
  void close() override;
  const char* last_error() override { return last_error_; }

 private:
  Status fail(Status status, const char* what, int error_number);
  void set_socket_options(int fd);

  const ServerLocator& locator_;
  TransportOptions options_;
  int fd_ = -1;
  std::uint32_t send_timeout_ms_ = 0;  // SO_SNDTIMEO in force on fd_, 0: none set yet
  char peer_[72] = {};                 // "host:port", for messages
  char last_error_[128] = "not connected";
};

}  // namespace micstream::firmware
