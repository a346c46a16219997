#include "tls_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "util.h"

namespace micstream::loadgen {

std::string openssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? "no OpenSSL error queued" : out;
}

TlsClient::TlsClient(const Options& o) : host_(o.host), verify_(!o.tls_no_verify) {
  in6_addr scratch{};
  host_is_ip_ = inet_pton(AF_INET, host_.c_str(), &scratch) == 1 || inet_pton(AF_INET6, host_.c_str(), &scratch) == 1;
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) die("SSL_CTX_new: %s", openssl_errors().c_str());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);  // the server's own minimum
  if (verify_) {
    if (SSL_CTX_load_verify_locations(ctx_, o.ca_file.c_str(), nullptr) != 1) {
      die("cannot load the CA certificate %s: %s", o.ca_file.c_str(), openssl_errors().c_str());
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    description_ = "certificate verified against " + o.ca_file + " for " + host_;
  } else {
    description_ = "certificate not verified (--tls-no-verify)";
  }
  // No client session cache (OpenSSL's default): every listener makes a
  // full handshake, as many different clients would.
}

TlsClient::~TlsClient() { SSL_CTX_free(ctx_); }

SslPtr TlsClient::new_session() const {
  SslPtr ssl(SSL_new(ctx_));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (!ssl || in == nullptr || out == nullptr) die("SSL_new: %s", openssl_errors().c_str());
  SSL_set_bio(ssl.get(), in, out);  // the SSL owns both now
  SSL_set_connect_state(ssl.get());
  if (verify_) {
    // The certificate must name --host: an IP address SAN for an address.
    const int named = host_is_ip_ ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), host_.c_str())
                                  : SSL_set1_host(ssl.get(), host_.c_str());
    if (named != 1) die("cannot check the certificate for %s: %s", host_.c_str(), openssl_errors().c_str());
  }
  if (!host_is_ip_) SSL_set_tlsext_host_name(ssl.get(), host_.c_str());  // SNI takes names only
  return ssl;
}

}  // namespace micstream::loadgen
