// The Transport port on Linux: one TCP connection to the server. The socket
// is non-blocking and every wait is a poll() with the caller's timeout (and
// the stop flag's eventfd, so stopping never waits out a timeout): connect
// tries each resolved address within the time given, send() writes all bytes
// across partial sends or reports the link unusable, receive() waits for
// whatever arrives. TCP_NODELAY: frames are small and due every few ms.
// start_tls() wraps the connection in TLS-PSK with OpenSSL, over the same
// non-blocking socket and waits (docs/protocol.md, "TLS"); its writes can
// raise SIGPIPE, which the program ignores (main.cpp).
#pragma once

#include <openssl/ssl.h>
#include <spdlog/logger.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "micstream/pipeline/ports.h"
#include "stop_flag.h"

namespace micstream::device {

/// The device's TLS key: its id as the identity, the key derived from its
/// secret (derive_link_psk).
struct TlsPsk {
  std::string identity;
  std::vector<std::uint8_t> key;
};

class TcpTransport final : public pipeline::Transport {
 public:
  /// send_buffer_bytes: SO_SNDBUF (0: the kernel's, self-tuning to megabytes
  /// on a fast link; an ESP32's lwIP holds a few kB, so audio in flight when a
  /// link dies is bounded there).
  TcpTransport(std::string host, std::string port, int send_buffer_bytes, TlsPsk psk, const StopFlag& stop,
               std::shared_ptr<spdlog::logger> log);
  ~TcpTransport() override;
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  Status connect(std::uint32_t timeout_ms) override;
  Status send(std::span<const std::uint8_t> bytes, std::uint32_t timeout_ms) override;
  Status receive(std::span<std::uint8_t> out, std::uint32_t timeout_ms, std::size_t& received) override;
  Status start_tls(std::uint32_t timeout_ms) override;
  void close() override;
  const char* last_error() override { return error_; }

  /// "host:port", an IPv6 literal in brackets.
  [[nodiscard]] const std::string& server() const { return server_; }

 private:
  enum class Wait : std::uint8_t { ready, timeout, stopped, failed };
  /// Waits until the socket is ready for events or deadline_ns (CLOCK_MONOTONIC) passes.
  Wait wait(short events, std::int64_t deadline_ns);
  Status fail(const char* what, int error);
  /// An SSL_* call returned rc: waits for what it wants (true) or sets the error.
  bool tls_wait(int rc, const char* what, std::int64_t deadline_ns, Status& status);
  Status tls_send(std::span<const std::uint8_t> bytes, std::int64_t deadline_ns);
  Status tls_receive(std::span<std::uint8_t> out, std::uint32_t timeout_ms, std::size_t& received);
  static unsigned int psk_callback(SSL* ssl, const char* hint, char* identity, unsigned int max_identity,
                                   unsigned char* psk, unsigned int max_psk);
  void set_error(const char* format, ...) __attribute__((format(printf, 2, 3)));

  std::string host_;
  std::string port_;
  std::string server_;
  int send_buffer_bytes_;
  TlsPsk psk_;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> tls_context_{nullptr, SSL_CTX_free};
  std::unique_ptr<SSL, decltype(&SSL_free)> tls_{nullptr, SSL_free};  ///< from start_tls() until close()
  const StopFlag& stop_;
  std::shared_ptr<spdlog::logger> log_;
  int fd_ = -1;
  char error_[256] = "not connected";
};

}  // namespace micstream::device
