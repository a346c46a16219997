// The incremental frame parser every part of the project uses: feed it bytes
// as they arrive (one at a time, or many frames in one read) and it reports
// whole frames or a typed error. It checks the header field by field as the
// bytes come in, so garbage is refused at its first wrong byte and a length is
// never trusted before it is checked against the maximum and the type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "micstream/error.h"
#include "micstream/protocol.h"

namespace micstream::proto {

class FrameParser {
 public:
  enum class Status : std::uint8_t {
    need_more,  ///< every byte given was consumed; no whole frame yet
    frame,      ///< a whole frame is ready in frame(); the rest of the input is unread
    error,      ///< the input is not protocol v1; see error(). Sticky until reset().
  };

  struct Step {
    std::size_t consumed;
    Status status;
  };

  /// storage holds one frame (header and payload); the caller owns it. Its size
  /// sets the largest payload accepted, at most kMaxPayload: a device that only
  /// receives small frames can give a small buffer. Must be >= kHeaderSize.
  explicit FrameParser(std::span<std::uint8_t> storage);

  /// Consumes bytes up to the end of the next frame, or all of them.
  /// Call again with the unconsumed rest after handling a frame.
  [[nodiscard]] Step feed(std::span<const std::uint8_t> bytes);

  /// The last frame found; valid after Status::frame until the next feed().
  [[nodiscard]] const FrameView& frame() const { return frame_; }

  [[nodiscard]] Errc error() const { return error_; }

  /// True between frames: no byte of an unfinished frame is held.
  [[nodiscard]] bool idle() const { return filled_ == 0; }

  /// Forgets any partial frame and any error.
  void reset();

 private:
  Errc check_header_byte(std::size_t index);

  std::span<std::uint8_t> storage_;
  std::size_t filled_ = 0;
  std::size_t frame_size_ = 0;  // header + payload, known once the header is whole
  FrameView frame_;
  Errc error_ = Errc::ok;
};

}  // namespace micstream::proto
