#include "micstream/frame_parser.h"

#include <algorithm>

namespace micstream::proto {

namespace {
constexpr std::size_t kLengthLastByte = 7;
}

FrameParser::FrameParser(std::span<std::uint8_t> storage)
    : storage_(storage.first(std::min(storage.size(), kMaxFrameSize))) {}

void FrameParser::reset() {
  filled_ = 0;
  frame_size_ = 0;
  error_ = Errc::ok;
}

// Checks header byte `index` as soon as it arrives, so a bad stream is refused
// at its first wrong byte rather than after a length's worth of garbage.
Errc FrameParser::check_header_byte(std::size_t index) {
  const std::uint8_t b = storage_[index];
  switch (index) {
    case 0:
    case 1: return b == kMagic[index] ? Errc::ok : Errc::bad_magic;
    case 2: return b == kVersion ? Errc::ok : Errc::unsupported_version;
    case 3: return is_valid_frame_type(b) ? Errc::ok : Errc::unknown_frame_type;
    case kLengthLastByte: {
      const std::uint32_t length = static_cast<std::uint32_t>(storage_[4]) | (std::uint32_t{storage_[5]} << 8) |
                                   (std::uint32_t{storage_[6]} << 16) | (std::uint32_t{storage_[7]} << 24);
      if (length > kMaxPayload || length > storage_.size() - kHeaderSize) return Errc::frame_too_large;
      const PayloadBounds bounds = payload_bounds(static_cast<FrameType>(storage_[3]));
      if (length < bounds.min || length > bounds.max) return Errc::bad_length_for_type;
      frame_size_ = kHeaderSize + length;
      return Errc::ok;
    }
    default: return Errc::ok;
  }
}

FrameParser::Step FrameParser::feed(std::span<const std::uint8_t> bytes) {
  if (error_ != Errc::ok) return {0, Status::error};
  if (storage_.size() < kHeaderSize) {
    error_ = Errc::buffer_too_small;
    return {0, Status::error};
  }
  std::size_t used = 0;
  while (used < bytes.size()) {
    if (filled_ < kHeaderSize) {
      storage_[filled_] = bytes[used++];
      if (Errc e = check_header_byte(filled_); e != Errc::ok) {
        error_ = e;
        return {used, Status::error};
      }
      ++filled_;
    } else {
      const std::size_t n = std::min(frame_size_ - filled_, bytes.size() - used);
      std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(used), n, storage_.begin() + static_cast<std::ptrdiff_t>(filled_));
      used += n;
      filled_ += n;
    }
    if (filled_ >= kHeaderSize && filled_ == frame_size_) {
      frame_ = {static_cast<FrameType>(storage_[3]), storage_.subspan(kHeaderSize, frame_size_ - kHeaderSize)};
      filled_ = 0;
      frame_size_ = 0;
      return {used, Status::frame};
    }
  }
  return {used, Status::need_more};
}

}  // namespace micstream::proto
