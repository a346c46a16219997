// pipeline::Transport with TLS-PSK (docs/protocol.md, "TLS") around another
// Transport, the socket: plain until start_tls(), then mbedTLS's records over
// the inner transport's send and receive. TLS 1.2, the one suite
// TLS_PSK_WITH_AES_128_GCM_SHA256, the device id as the PSK identity and
// core's derive_link_psk() of the secret as the key: a server without the
// secret cannot finish the handshake. Portable mbedTLS code (2.28 and 3.x),
// so firmware/host runs this file on Linux against the real server.
//
// Memory: the mbedTLS context is set up once, at the first start_tls(); its
// record buffers (CONFIG_MBEDTLS_SSL_IN/OUT_CONTENT_LEN) stay for the life of
// the transport, and each handshake allocates its own state and frees it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/ssl.h"
#include "micstream/auth.h"
#include "micstream/pipeline/ports.h"

namespace micstream::firmware {

class TlsTransport final : public pipeline::Transport {
 public:
  /// identity (the device id) and secret must outlive the transport.
  TlsTransport(pipeline::Transport& inner, pipeline::Clock& clock, std::string_view identity,
               std::span<const std::uint8_t> secret);
  ~TlsTransport() override;
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  Status connect(std::uint32_t timeout_ms) override;
  Status send(std::span<const std::uint8_t> bytes, std::uint32_t timeout_ms) override;
  Status receive(std::span<std::uint8_t> out, std::uint32_t timeout_ms, std::size_t& received) override;
  Status start_tls(std::uint32_t timeout_ms) override;
  void close() override;
  const char* last_error() override { return own_error_ ? error_ : inner_.last_error(); }

 private:
  bool set_up();
  /// The Status for an mbedTLS error `rc`, with the reason in last_error().
  Status fail(int rc, const char* what);
  static int bio_send(void* self, const unsigned char* bytes, std::size_t size);
  static int bio_receive(void* self, unsigned char* out, std::size_t size);

  pipeline::Transport& inner_;
  pipeline::Clock& clock_;
  std::string_view identity_;
  std::span<const std::uint8_t> secret_;

  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context drbg_;
  mbedtls_ssl_config config_;
  mbedtls_ssl_context ssl_;
  bool ready_ = false;   // set_up() succeeded
  bool in_tls_ = false;  // between a successful start_tls() and close()

  // What the current mbedTLS call may wait on the socket, and how the inner
  // transport's last call ended (for the Status of an mbedTLS error).
  std::uint32_t io_timeout_ms_ = 0;
  Status io_status_ = Status::ok;
  bool own_error_ = false;
  char error_[160] = "not connected";
};

}  // namespace micstream::firmware
