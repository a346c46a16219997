#include "socket_transport.h"

#include <fcntl.h>
#include <sys/select.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "esp_timer.h"
#include "lwip/sockets.h"

namespace micstream::firmware {

namespace {

timeval to_timeval(std::uint32_t ms) {
  timeval tv = {};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>(ms % 1000 * 1000);
  return tv;
}

// Closes the socket unless it was handed over: no path out of connect() leaks it.
class SocketGuard {
 public:
  explicit SocketGuard(int fd) : fd_(fd) {}
  ~SocketGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  SocketGuard(const SocketGuard&) = delete;
  SocketGuard& operator=(const SocketGuard&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

bool would_block(int error_number) { return error_number == EAGAIN || error_number == EWOULDBLOCK; }

}  // namespace

SocketTransport::SocketTransport(const ServerLocator& locator, TransportOptions options)
    : locator_(locator), options_(options) {}

pipeline::Transport::Status SocketTransport::fail(Status status, const char* what, int error_number) {
  if (error_number != 0) {
    std::snprintf(last_error_, sizeof last_error_, "%s %s: %s", what, peer_, std::strerror(error_number));
  } else {
    std::snprintf(last_error_, sizeof last_error_, "%s %s", what, peer_);
  }
  return status;
}

pipeline::Transport::Status SocketTransport::connect(std::uint32_t timeout_ms) {
  close();
  peer_[0] = '\0';
  ServerAddress server;
  if (locator_.locate(server, last_error_) != ESP_OK) return Status::failed;
  std::snprintf(peer_, sizeof peer_, "%s:%u", server.host, static_cast<unsigned>(ntohs(server.ingest.sin_port)));

  SocketGuard guard(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
  if (guard.get() < 0) return fail(Status::failed, "no socket for", errno);
  const int flags = ::fcntl(guard.get(), F_GETFL, 0);
  if (flags < 0 || ::fcntl(guard.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
    return fail(Status::failed, "cannot make the socket non-blocking for", errno);
  }

  if (::connect(guard.get(), reinterpret_cast<const sockaddr*>(&server.ingest), sizeof server.ingest) != 0) {
    if (errno != EINPROGRESS) return fail(Status::failed, "cannot connect to", errno);
    fd_set writable;
    FD_ZERO(&writable);
    FD_SET(guard.get(), &writable);
    timeval tv = to_timeval(timeout_ms);
    const int ready = ::select(guard.get() + 1, nullptr, &writable, nullptr, &tv);
    if (ready == 0) return fail(Status::timeout, "timed out connecting to", 0);
    if (ready < 0) return fail(Status::failed, "waiting for", errno);
    int error_number = 0;
    socklen_t size = sizeof error_number;
    if (::getsockopt(guard.get(), SOL_SOCKET, SO_ERROR, &error_number, &size) != 0) {
      return fail(Status::failed, "cannot connect to", errno);
    }
    if (error_number != 0) return fail(Status::failed, "cannot connect to", error_number);
  }

  // Blocking again: sends are bounded by SO_SNDTIMEO, receives by select().
  if (::fcntl(guard.get(), F_SETFL, flags) < 0) return fail(Status::failed, "cannot configure the socket for", errno);
  set_socket_options(guard.get());
  fd_ = guard.release();
  send_timeout_ms_ = 0;
  std::snprintf(last_error_, sizeof last_error_, "connected to %s", peer_);
  return Status::ok;
}

void SocketTransport::set_socket_options(int fd) {
  // None of these is needed for a working link, so a failure is not one.
  const int on = 1;
  const int idle = static_cast<int>(options_.keepalive_idle_s);
  const int interval = static_cast<int>(options_.keepalive_interval_s);
  const int count = static_cast<int>(options_.keepalive_count);
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  (void)::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

pipeline::Transport::Status SocketTransport::send(std::span<const std::uint8_t> bytes, std::uint32_t timeout_ms) {
  if (fd_ < 0) return fail(Status::failed, "not connected to", 0);
  if (timeout_ms != send_timeout_ms_) {
    const timeval tv = to_timeval(timeout_ms);
    if (::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
      return fail(Status::failed, "cannot set the send timeout for", errno);
    }
    send_timeout_ms_ = timeout_ms;
  }
  // The whole buffer or nothing usable: a frame cut short would desynchronise
  // the stream, so a partial send is completed within the same deadline.
  const std::int64_t deadline_us = esp_timer_get_time() + std::int64_t{timeout_ms} * 1000;
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), 0);
    if (sent > 0) {
      bytes = bytes.subspan(static_cast<std::size_t>(sent));
      if (!bytes.empty() && esp_timer_get_time() >= deadline_us) {
        return fail(Status::timeout, "sending timed out to", 0);
      }
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && would_block(errno)) return fail(Status::timeout, "sending timed out to", 0);
    return fail(Status::failed, "cannot send to", sent < 0 ? errno : ECONNRESET);
  }
  return Status::ok;
}

pipeline::Transport::Status SocketTransport::receive(std::span<std::uint8_t> out, std::uint32_t timeout_ms,
                                                     std::size_t& received) {
  received = 0;
  if (fd_ < 0) return fail(Status::failed, "not connected to", 0);
  if (timeout_ms > 0) {
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(fd_, &readable);
    timeval tv = to_timeval(timeout_ms);
    const int ready = ::select(fd_ + 1, &readable, nullptr, nullptr, &tv);
    if (ready == 0 || (ready < 0 && errno == EINTR)) return Status::timeout;
    if (ready < 0) return fail(Status::failed, "waiting for data from", errno);
  }
  const ssize_t n = ::recv(fd_, out.data(), out.size(), MSG_DONTWAIT);
  if (n > 0) {
    received = static_cast<std::size_t>(n);
    return Status::ok;
  }
  if (n == 0) return fail(Status::closed, "connection closed by", 0);
  if (errno == EINTR || would_block(errno)) return Status::timeout;
  return fail(Status::failed, "cannot receive from", errno);
}

void SocketTransport::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

}  // namespace micstream::firmware
