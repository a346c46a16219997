#include "send_buffer.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstring>

namespace micstream::device {

std::span<std::uint8_t> SendBuffer::reserve(std::size_t size) {
  if (size > free_space()) return {};
  if (end_ + size > storage_.size()) {
    // Only the unsent tail of a partial write moves; usually the buffer is
    // empty by now and this is never reached.
    std::memmove(storage_.data(), storage_.data() + begin_, pending());
    end_ -= begin_;
    begin_ = 0;
  }
  return {storage_.data() + end_, size};
}

int SendBuffer::flush(int fd) {
  while (begin_ < end_) {
    // MSG_NOSIGNAL: a peer that closed must give EPIPE here, not kill the process.
    const ssize_t n = ::send(fd, storage_.data() + begin_, end_ - begin_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return errno;
    }
    begin_ += static_cast<std::size_t>(n);
  }
  begin_ = end_ = 0;  // empty: the next frame starts at the front, no compaction needed
  return 0;
}

}  // namespace micstream::device
