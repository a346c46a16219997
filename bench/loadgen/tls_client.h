// TLS for the listeners (--tls).
//
// OpenSSL never touches a socket here: each listener's SSL reads from and
// writes to memory BIOs, and the loadgen moves the ciphertext itself. So it
// still reads with recvmsg(), which keeps the kernel's receive timestamp of
// every read (the latency figures), and the epoll loop stays the one plain ws
// uses.
#pragma once

#include <memory>
#include <string>

#include <openssl/ssl.h>

#include "options.h"

namespace micstream::loadgen {

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

/// OpenSSL's queued errors as one line; clears the queue.
std::string openssl_errors();

/// The client context every listener's session comes from. Dies when the CA
/// cannot be loaded.
class TlsClient {
 public:
  explicit TlsClient(const Options& o);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  /// A client session on two memory BIOs, ready for SSL_do_handshake().
  [[nodiscard]] SslPtr new_session() const;

  /// How the server's certificate is checked, for the report.
  [[nodiscard]] const std::string& description() const { return description_; }

 private:
  std::string host_;
  bool verify_;
  bool host_is_ip_ = false;
  SSL_CTX* ctx_ = nullptr;
  std::string description_;
};

}  // namespace micstream::loadgen
