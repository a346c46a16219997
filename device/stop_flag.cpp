#include "stop_flag.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace micstream::device {

StopFlag::StopFlag() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

StopFlag::~StopFlag() {
  if (fd_ >= 0) ::close(fd_);
}

void StopFlag::request() {
  requested_.store(true, std::memory_order_release);
  if (fd_ >= 0) {
    const std::uint64_t one = 1;
    (void)!::write(fd_, &one, sizeof one);  // never read: it stays readable
  }
}

bool StopFlag::sleep_ms(std::uint32_t ms) const {
  if (requested()) return true;
  pollfd fds{fd_, POLLIN, 0};
  const timespec timeout{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1000000L};
  while (::ppoll(&fds, fd_ >= 0 ? 1 : 0, &timeout, nullptr) < 0 && errno == EINTR) {
  }
  return requested();
}

}  // namespace micstream::device
