#include "net.h"

#include <netdb.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util.h"

namespace micstream::loadgen {

Endpoint resolve(const std::string& host, int port) {
  Endpoint out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) die("cannot resolve %s: %s", host.c_str(), gai_strerror(rc));
  std::memcpy(&out.addr, res->ai_addr, res->ai_addrlen);
  out.len = res->ai_addrlen;
  char numeric[NI_MAXHOST] = {};
  getnameinfo(res->ai_addr, res->ai_addrlen, numeric, sizeof numeric, nullptr, 0, NI_NUMERICHOST);
  // Appends, not "[" + ...: that trips a false -Wrestrict warning of GCC 12 at -O3.
  out.text = res->ai_family == AF_INET6 ? std::string("[").append(numeric).append("]") : std::string(numeric);
  out.text.append(":").append(service);
  freeaddrinfo(res);
  return out;
}

Poller::Poller() : ep_(epoll_create1(EPOLL_CLOEXEC)) {
  if (ep_ < 0) die("epoll_create1: %s", std::strerror(errno));
}

Poller::~Poller() { close(ep_); }

void Poller::add(int fd, std::uint32_t events, std::uint64_t tag) const {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl ADD: %s", std::strerror(errno));
}

void Poller::mod(int fd, std::uint32_t events, std::uint64_t tag) const {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  if (epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev) != 0) die("epoll_ctl MOD: %s", std::strerror(errno));
}

}  // namespace micstream::loadgen
