#include "tcp_transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <utility>

#include "posix_clock.h"

namespace micstream::device {

namespace {

constexpr std::int64_t kNsPerMs = 1000000;

std::string address_text(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (address->sa_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text, sizeof text);
  } else if (address->sa_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text, sizeof text);
  }
  return text;
}

}  // namespace

TcpTransport::TcpTransport(std::string host, std::string port, int send_buffer_bytes, TlsPsk psk,
                           const StopFlag& stop, std::shared_ptr<spdlog::logger> log)
    : host_(std::move(host)),
      port_(std::move(port)),
      send_buffer_bytes_(send_buffer_bytes),
      psk_(std::move(psk)),
      stop_(stop),
      log_(std::move(log)) {
  const bool ipv6 = host_.find(':') != std::string::npos;
  server_ = ipv6 ? "[" + host_ + "]:" + port_ : host_ + ":" + port_;
}

TcpTransport::~TcpTransport() { close(); }

void TcpTransport::set_error(const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vsnprintf(error_, sizeof error_, format, args);
  va_end(args);
}

TcpTransport::Status TcpTransport::fail(const char* what, int error) {
  set_error("%s: %s", what, std::strerror(error));
  return Status::failed;
}

TcpTransport::Wait TcpTransport::wait(short events, std::int64_t deadline_ns) {
  for (;;) {
    if (stop_.requested()) return Wait::stopped;
    const std::int64_t left = deadline_ns - monotonic_ns();
    if (left <= 0) return Wait::timeout;
    pollfd fds[2] = {{fd_, events, 0}, {stop_.fd(), POLLIN, 0}};
    const timespec timeout{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
    const int rc = ::ppoll(fds, stop_.fd() >= 0 ? 2 : 1, &timeout, nullptr);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return Wait::failed;
    }
    if (rc == 0) return Wait::timeout;
    if (fds[1].revents != 0) return Wait::stopped;
    // POLLERR/POLLHUP: the call that follows reports why.
    if (fds[0].revents != 0) return Wait::ready;
  }
}

TcpTransport::Status TcpTransport::connect(std::uint32_t timeout_ms) {
  close();
  const std::int64_t deadline = monotonic_ns() + std::int64_t{timeout_ms} * kNsPerMs;
  log_->debug("connecting to {}", server_);
  // Resolved on every attempt so a server that moved is found. getaddrinfo
  // blocks, but only for names that are not literals or in /etc/hosts.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  if (const int rc = ::getaddrinfo(host_.c_str(), port_.c_str(), &hints, &list); rc != 0) {
    set_error("cannot resolve %s: %s", host_.c_str(), rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc));
    return Status::failed;
  }
  set_error("cannot connect to %s: no address", server_.c_str());
  Status status = Status::failed;
  // In order: "localhost" may be ::1 first while the server listens on 127.0.0.1 only.
  for (const addrinfo* a = list; a != nullptr && status != Status::ok; a = a->ai_next) {
    const std::string address = address_text(a->ai_addr);
    fd_ = ::socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd_ < 0) {
      set_error("cannot connect to %s: socket: %s", server_.c_str(), std::strerror(errno));
      continue;
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (send_buffer_bytes_ > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &send_buffer_bytes_, sizeof send_buffer_bytes_);
    }
    int error = 0;
    if (::connect(fd_, a->ai_addr, a->ai_addrlen) != 0) {
      error = errno;
      if (error == EINPROGRESS) {
        switch (wait(POLLOUT, deadline)) {
          case Wait::ready: {
            socklen_t size = sizeof error;
            if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
            break;
          }
          case Wait::timeout:
            set_error("cannot connect to %s (%s): timed out after %u ms", server_.c_str(), address.c_str(),
                      timeout_ms);
            status = Status::timeout;
            close();
            continue;
          case Wait::stopped:
            set_error("stopping");
            close();
            ::freeaddrinfo(list);
            return Status::failed;
          case Wait::failed: error = errno; break;
        }
      }
    }
    if (error != 0) {
      set_error("cannot connect to %s (%s): %s", server_.c_str(), address.c_str(), std::strerror(error));
      status = Status::failed;
      close();
      continue;
    }
    log_->debug("TCP connected to {} ({})", server_, address);
    status = Status::ok;
  }
  ::freeaddrinfo(list);
  return status;
}

TcpTransport::Status TcpTransport::send(std::span<const std::uint8_t> bytes, std::uint32_t timeout_ms) {
  if (fd_ < 0) {
    set_error("send: not connected");
    return Status::failed;
  }
  const std::int64_t deadline = monotonic_ns() + std::int64_t{timeout_ms} * kNsPerMs;
  if (tls_) return tls_send(bytes, deadline);
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes = bytes.subspan(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return fail("send", errno);
    // The socket's buffer is full: the server (or the network) is behind.
    switch (wait(POLLOUT, deadline)) {
      case Wait::ready: break;
      case Wait::timeout:
        set_error("send: %zu bytes still unsent after %u ms", bytes.size(), timeout_ms);
        return Status::timeout;
      case Wait::stopped: set_error("stopping"); return Status::failed;
      case Wait::failed: return fail("poll", errno);
    }
  }
  return Status::ok;
}

TcpTransport::Status TcpTransport::receive(std::span<std::uint8_t> out, std::uint32_t timeout_ms,
                                           std::size_t& received) {
  received = 0;
  if (fd_ < 0) {
    set_error("receive: not connected");
    return Status::failed;
  }
  if (tls_) return tls_receive(out, timeout_ms, received);
  const std::int64_t deadline = monotonic_ns() + std::int64_t{timeout_ms} * kNsPerMs;
  for (;;) {
    const ssize_t n = ::recv(fd_, out.data(), out.size(), MSG_DONTWAIT);
    if (n > 0) {
      received = static_cast<std::size_t>(n);
      return Status::ok;
    }
    if (n == 0) {
      set_error("the server closed the connection");
      return Status::closed;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return fail("receive", errno);
    if (timeout_ms == 0) return Status::timeout;
    switch (wait(POLLIN, deadline)) {
      case Wait::ready: break;
      case Wait::timeout: return Status::timeout;
      case Wait::stopped: set_error("stopping"); return Status::failed;
      case Wait::failed: return fail("poll", errno);
    }
  }
}

unsigned int TcpTransport::psk_callback(SSL* ssl, const char* /*hint*/, char* identity, unsigned int max_identity,
                                        unsigned char* psk, unsigned int max_psk) {
  const auto* self = static_cast<const TcpTransport*>(SSL_get_app_data(ssl));
  if (self == nullptr) return 0;
  const TlsPsk& mine = self->psk_;
  if (mine.key.empty() || mine.key.size() > max_psk || mine.identity.size() >= max_identity) return 0;
  std::memcpy(identity, mine.identity.c_str(), mine.identity.size() + 1);
  std::memcpy(psk, mine.key.data(), mine.key.size());
  return static_cast<unsigned int>(mine.key.size());
}

TcpTransport::Status TcpTransport::start_tls(std::uint32_t timeout_ms) {
  if (fd_ < 0 || tls_) {
    set_error("start_tls: %s", fd_ < 0 ? "not connected" : "already in TLS");
    return Status::failed;
  }
  if (!tls_context_) {
    // The server's suite and version only (server/device_tls.cpp): nothing
    // weaker can be negotiated, and no certificate is involved.
    tls_context_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX* ctx = tls_context_.get();
    if (ctx == nullptr || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, "PSK-AES128-GCM-SHA256") != 1) {
      char reason[160];
      ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
      set_error("cannot set up TLS: %s", reason);
      tls_context_.reset();
      return Status::failed;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_psk_client_callback(ctx, psk_callback);
  }
  tls_.reset(SSL_new(tls_context_.get()));
  if (!tls_ || SSL_set_fd(tls_.get(), fd_) != 1) {
    set_error("cannot start TLS (out of memory)");
    tls_.reset();
    return Status::failed;
  }
  SSL_set_app_data(tls_.get(), this);
  const std::int64_t deadline = monotonic_ns() + std::int64_t{timeout_ms} * kNsPerMs;
  for (;;) {
    const int rc = SSL_connect(tls_.get());
    if (rc == 1) break;
    Status status = Status::failed;
    if (!tls_wait(SSL_get_error(tls_.get(), rc), "TLS handshake (is this device's secret the server's?)", deadline,
                  status)) {
      tls_.reset();  // nothing more may go over this socket, in TLS or not
      return status;
    }
  }
  log_->debug("TLS link to {}: {}, {}", server_, SSL_get_version(tls_.get()), SSL_get_cipher_name(tls_.get()));
  return Status::ok;
}

bool TcpTransport::tls_wait(int ssl_error, const char* what, std::int64_t deadline_ns, Status& status) {
  short events = 0;
  if (ssl_error == SSL_ERROR_WANT_READ) {
    events = POLLIN;
  } else if (ssl_error == SSL_ERROR_WANT_WRITE) {
    events = POLLOUT;
  } else {
    if (ssl_error == SSL_ERROR_ZERO_RETURN || (ssl_error == SSL_ERROR_SYSCALL && errno == 0)) {
      set_error("%s: the server closed the connection", what);
      status = Status::closed;
    } else if (ssl_error == SSL_ERROR_SYSCALL) {
      status = fail(what, errno);
    } else {
      char reason[160];
      ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
      set_error("%s: %s", what, reason);
      status = Status::failed;
    }
    ERR_clear_error();
    return false;
  }
  switch (wait(events, deadline_ns)) {
    case Wait::ready: return true;
    case Wait::timeout: set_error("%s: timed out", what); status = Status::timeout; return false;
    case Wait::stopped: set_error("stopping"); status = Status::failed; return false;
    case Wait::failed: status = fail("poll", errno); return false;
  }
  return false;
}

TcpTransport::Status TcpTransport::tls_send(std::span<const std::uint8_t> bytes, std::int64_t deadline_ns) {
  while (!bytes.empty()) {
    std::size_t n = 0;
    const int rc = SSL_write_ex(tls_.get(), bytes.data(), bytes.size(), &n);
    if (rc == 1) {
      bytes = bytes.subspan(n);
      continue;
    }
    // A write to retry is retried with the same bytes, as OpenSSL requires.
    Status status = Status::failed;
    if (!tls_wait(SSL_get_error(tls_.get(), rc), "send", deadline_ns, status)) return status;
  }
  return Status::ok;
}

TcpTransport::Status TcpTransport::tls_receive(std::span<std::uint8_t> out, std::uint32_t timeout_ms,
                                               std::size_t& received) {
  const std::int64_t deadline = monotonic_ns() + std::int64_t{timeout_ms} * kNsPerMs;
  for (;;) {
    std::size_t n = 0;
    const int rc = SSL_read_ex(tls_.get(), out.data(), out.size(), &n);
    if (rc == 1) {
      received = n;
      return Status::ok;
    }
    const int error = SSL_get_error(tls_.get(), rc);
    if (error == SSL_ERROR_WANT_READ && timeout_ms == 0) return Status::timeout;
    Status status = Status::failed;
    if (!tls_wait(error, "receive", deadline, status)) return status;
  }
}

void TcpTransport::close() {
  if (tls_) {
    // close_notify, without waiting for the answer: the socket closes next.
    (void)SSL_shutdown(tls_.get());
    ERR_clear_error();
    tls_.reset();
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

}  // namespace micstream::device
