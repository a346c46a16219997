// The bytes a link has framed but the kernel has not taken yet. Bounded, so a
// stalled connection costs frames, never memory or the capture schedule.
// Frames are built in place at the tail (reserve, write, commit): audio is
// encoded straight into the buffer the socket writes from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace micstream::device {

class SendBuffer {
 public:
  explicit SendBuffer(std::size_t capacity) : storage_(capacity) {}

  /// Room for size bytes at the tail, or an empty span when they do not fit
  /// next to what is pending. Valid until the next call on this buffer.
  [[nodiscard]] std::span<std::uint8_t> reserve(std::size_t size);

  /// Appends size bytes (at most what the last reserve() gave) written there.
  void commit(std::size_t size) { end_ += size; }

  /// Writes as much as the socket takes without blocking. Returns 0 (all or
  /// part written, or the socket is full) or the errno of a broken socket.
  [[nodiscard]] int flush(int fd);

  [[nodiscard]] std::size_t pending() const { return end_ - begin_; }
  [[nodiscard]] std::size_t free_space() const { return storage_.size() - pending(); }
  [[nodiscard]] std::size_t capacity() const { return storage_.size(); }
  void clear() { begin_ = end_ = 0; }

 private:
  std::vector<std::uint8_t> storage_;
  std::size_t begin_ = 0;  // first byte not yet sent
  std::size_t end_ = 0;    // one past the last committed byte
};

}  // namespace micstream::device
