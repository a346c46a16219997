#include "tls_transport.h"

#include <climits>
#include <cstdio>

#include "mbedtls/error.h"
#include "mbedtls/net_sockets.h"  // the MBEDTLS_ERR_NET_* codes the BIO callbacks return
#include "mbedtls/platform_util.h"
#include "mbedtls/version.h"
#if defined(MBEDTLS_PSA_CRYPTO_C)
#include "psa/crypto.h"
#endif

namespace micstream::firmware {

namespace {

constexpr int kSuites[] = {MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256, 0};
constexpr char kPersonalization[] = "micstream link";
constexpr std::uint32_t kCloseNotifyMs = 100;  // a goodbye never holds up a reconnect
constexpr std::uint64_t kUsPerMs = 1000;

std::uint32_t ms_left(std::uint64_t now_us, std::uint64_t deadline_us) {
  if (deadline_us <= now_us) return 0;
  return static_cast<std::uint32_t>((deadline_us - now_us + kUsPerMs - 1) / kUsPerMs);
}

}  // namespace

TlsTransport::TlsTransport(pipeline::Transport& inner, pipeline::Clock& clock, std::string_view identity,
                           std::span<const std::uint8_t> secret)
    : inner_(inner), clock_(clock), identity_(identity), secret_(secret) {
  mbedtls_entropy_init(&entropy_);
  mbedtls_ctr_drbg_init(&drbg_);
  mbedtls_ssl_config_init(&config_);
  mbedtls_ssl_init(&ssl_);
}

TlsTransport::~TlsTransport() {
  mbedtls_ssl_free(&ssl_);
  mbedtls_ssl_config_free(&config_);
  mbedtls_ctr_drbg_free(&drbg_);
  mbedtls_entropy_free(&entropy_);
}

pipeline::Transport::Status TlsTransport::fail(int rc, const char* what) {
  if (io_status_ != Status::ok) {  // the socket failed under mbedTLS: its reason is the one to tell
    own_error_ = false;
    return io_status_;
  }
  char reason[96] = "";
#if defined(MBEDTLS_ERROR_C)
  mbedtls_strerror(rc, reason, sizeof reason);
#endif
  std::snprintf(error_, sizeof error_, "%s: -0x%04x %s", what, static_cast<unsigned>(-rc), reason);
  own_error_ = true;
  return rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ? Status::closed : Status::failed;
}

bool TlsTransport::set_up() {
  int rc = 0;
#if defined(MBEDTLS_PSA_CRYPTO_C)
  if (psa_crypto_init() != PSA_SUCCESS) {
    (void)fail(MBEDTLS_ERR_SSL_ALLOC_FAILED, "cannot start PSA crypto");
    return false;
  }
#endif
  if ((rc = mbedtls_ctr_drbg_seed(&drbg_, mbedtls_entropy_func, &entropy_,
                                  reinterpret_cast<const unsigned char*>(kPersonalization),
                                  sizeof kPersonalization - 1)) != 0) {
    (void)fail(rc, "cannot seed the TLS random generator");
    return false;
  }
  if ((rc = mbedtls_ssl_config_defaults(&config_, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
    (void)fail(rc, "cannot configure TLS");
    return false;
  }
  mbedtls_ssl_conf_rng(&config_, mbedtls_ctr_drbg_random, &drbg_);
  // The server's one suite and version (server/device_tls.cpp): nothing
  // weaker can be negotiated, and no certificate is involved.
  mbedtls_ssl_conf_ciphersuites(&config_, kSuites);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  mbedtls_ssl_conf_min_tls_version(&config_, MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_max_tls_version(&config_, MBEDTLS_SSL_VERSION_TLS1_2);
#else
  mbedtls_ssl_conf_min_version(&config_, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&config_, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
  std::uint8_t psk[kLinkPskSize];
  if (derive_link_psk(secret_, psk) != Errc::ok) {
    std::snprintf(error_, sizeof error_, "cannot derive the TLS key from the device secret");
    own_error_ = true;
    return false;
  }
  rc = mbedtls_ssl_conf_psk(&config_, psk, sizeof psk, reinterpret_cast<const unsigned char*>(identity_.data()),
                            identity_.size());
  mbedtls_platform_zeroize(psk, sizeof psk);  // mbedTLS keeps its own copy
  if (rc != 0) {
    (void)fail(rc, "cannot set the TLS key");
    return false;
  }
  if ((rc = mbedtls_ssl_setup(&ssl_, &config_)) != 0) {
    (void)fail(rc, "cannot set up TLS (out of memory?)");
    return false;
  }
  mbedtls_ssl_set_bio(&ssl_, this, bio_send, bio_receive, nullptr);
  ready_ = true;
  return true;
}

int TlsTransport::bio_send(void* self, const unsigned char* bytes, std::size_t size) {
  auto& t = *static_cast<TlsTransport*>(self);
  if (size > INT_MAX) size = INT_MAX;
  t.io_status_ = t.inner_.send({bytes, size}, t.io_timeout_ms_);
  return t.io_status_ == Status::ok ? static_cast<int>(size) : MBEDTLS_ERR_NET_SEND_FAILED;
}

int TlsTransport::bio_receive(void* self, unsigned char* out, std::size_t size) {
  auto& t = *static_cast<TlsTransport*>(self);
  if (size > INT_MAX) size = INT_MAX;
  std::size_t received = 0;
  const Status status = t.inner_.receive({out, size}, t.io_timeout_ms_, received);
  switch (status) {
    case Status::ok: return static_cast<int>(received);
    case Status::timeout: return MBEDTLS_ERR_SSL_WANT_READ;  // not an error: the caller decides
    case Status::closed: t.io_status_ = status; return MBEDTLS_ERR_NET_CONN_RESET;
    case Status::failed: break;
  }
  t.io_status_ = status;
  return MBEDTLS_ERR_NET_RECV_FAILED;
}

pipeline::Transport::Status TlsTransport::connect(std::uint32_t timeout_ms) {
  close();
  own_error_ = false;
  return inner_.connect(timeout_ms);
}

pipeline::Transport::Status TlsTransport::start_tls(std::uint32_t timeout_ms) {
  io_status_ = Status::ok;
  if (in_tls_) return fail(MBEDTLS_ERR_SSL_BAD_INPUT_DATA, "TLS is already on");
  if (!ready_ && !set_up()) return Status::failed;
  if (const int rc = mbedtls_ssl_session_reset(&ssl_); rc != 0) return fail(rc, "cannot reset TLS");
  const std::uint64_t deadline = clock_.now_us() + std::uint64_t{timeout_ms} * kUsPerMs;
  for (;;) {
    io_timeout_ms_ = ms_left(clock_.now_us(), deadline);
    if (io_timeout_ms_ == 0) {
      std::snprintf(error_, sizeof error_, "TLS handshake: no answer within %u ms", static_cast<unsigned>(timeout_ms));
      own_error_ = true;
      return Status::timeout;
    }
    const int rc = mbedtls_ssl_handshake(&ssl_);
    if (rc == 0) break;
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
    return fail(rc, "TLS handshake failed (is this device's secret the server's?)");
  }
  in_tls_ = true;
  own_error_ = false;
  return Status::ok;
}

pipeline::Transport::Status TlsTransport::send(std::span<const std::uint8_t> bytes, std::uint32_t timeout_ms) {
  if (!in_tls_) {
    own_error_ = false;
    return inner_.send(bytes, timeout_ms);
  }
  io_status_ = Status::ok;
  const std::uint64_t deadline = clock_.now_us() + std::uint64_t{timeout_ms} * kUsPerMs;
  while (!bytes.empty()) {
    io_timeout_ms_ = ms_left(clock_.now_us(), deadline);
    // A record may take less than all: mbedTLS writes at most its output buffer at a time.
    const int rc = mbedtls_ssl_write(&ssl_, bytes.data(), bytes.size());
    if (rc > 0) {
      bytes = bytes.subspan(static_cast<std::size_t>(rc));
      continue;
    }
    return fail(rc, "TLS send");  // the stream is unusable now, as after a failed plain send
  }
  return Status::ok;
}

pipeline::Transport::Status TlsTransport::receive(std::span<std::uint8_t> out, std::uint32_t timeout_ms,
                                                  std::size_t& received) {
  received = 0;
  if (!in_tls_) {
    own_error_ = false;
    return inner_.receive(out, timeout_ms, received);
  }
  io_status_ = Status::ok;
  io_timeout_ms_ = timeout_ms;
  const int rc = mbedtls_ssl_read(&ssl_, out.data(), out.size());
  if (rc > 0) {
    received = static_cast<std::size_t>(rc);
    return Status::ok;
  }
  if (rc == MBEDTLS_ERR_SSL_WANT_READ) return Status::timeout;  // no whole record yet; mbedTLS keeps the part
  if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
    std::snprintf(error_, sizeof error_, "the server closed the TLS link");
    own_error_ = true;
    return Status::closed;
  }
  return fail(rc, "TLS receive");
}

void TlsTransport::close() {
  if (in_tls_) {
    io_timeout_ms_ = kCloseNotifyMs;
    (void)mbedtls_ssl_close_notify(&ssl_);
    in_tls_ = false;
  }
  inner_.close();
}

}  // namespace micstream::firmware
