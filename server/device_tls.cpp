#include "device_tls.h"

#include <array>
#include <cstring>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "micstream/auth.h"

namespace micstream::server {

namespace {

// Where the context keeps its Secrets: an ex_data slot of our own (asio's
// context owns the app data slot for its verify callback).
int secrets_slot() {
  static const int slot = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

// OpenSSL asks for the key of the identity the client named; 0: no such
// device, and the handshake fails with unknown_psk_identity.
unsigned int find_psk(SSL* ssl, const char* identity, unsigned char* psk, unsigned int max_psk_len) {
  const auto* secrets = static_cast<const Secrets*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), secrets_slot()));
  if (secrets == nullptr || identity == nullptr) return 0;
  const std::string* secret = secrets->find(identity);
  if (secret == nullptr || max_psk_len < kLinkPskSize) return 0;
  std::array<std::uint8_t, kLinkPskSize> key{};
  if (derive_link_psk({reinterpret_cast<const std::uint8_t*>(secret->data()), secret->size()}, key) != Errc::ok) {
    return 0;
  }
  std::memcpy(psk, key.data(), key.size());
  OPENSSL_cleanse(key.data(), key.size());
  return static_cast<unsigned int>(key.size());
}

void check(int ok, const char* what) {
  if (ok != 1) {
    char reason[256];
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    throw std::runtime_error(std::string("device TLS: ") + what + ": " + reason);
  }
}

}  // namespace

boost::asio::ssl::context make_device_tls_context(const Secrets& secrets) {
  boost::asio::ssl::context context(boost::asio::ssl::context::tls_server);
  SSL_CTX* ctx = context.native_handle();
  // TLS 1.2 only: what every mbedTLS on an ESP32 speaks with a PSK, and one
  // suite, so nothing weaker is ever negotiated.
  check(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), "TLS 1.2");
  check(SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION), "TLS 1.2");
  check(SSL_CTX_set_cipher_list(ctx, "PSK-AES128-GCM-SHA256"), "the PSK cipher suite");
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION);
  check(SSL_CTX_set_ex_data(ctx, secrets_slot(), const_cast<Secrets*>(&secrets)), "keeping the secrets");  // read only
  SSL_CTX_set_psk_server_callback(ctx, find_psk);
  return context;
}

std::string psk_identity(TlsStream& stream) {
  const char* identity = SSL_get_psk_identity(stream.native_handle());
  return identity == nullptr ? std::string() : std::string(identity);
}

}  // namespace micstream::server
