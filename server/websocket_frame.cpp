#include "websocket_frame.h"

#include <algorithm>

namespace micstream::server {

namespace {
constexpr std::uint8_t kFin = 0x80;
constexpr std::uint8_t kMask = 0x80;
constexpr std::uint8_t kReservedBits = 0x70;
constexpr std::size_t kMaskSize = 4;

bool is_known_opcode(std::uint8_t op) { return op <= 0x2 || (op >= 0x8 && op <= 0xA); }
bool is_control(WsOpcode op) { return static_cast<std::uint8_t>(op) >= 0x8; }

// RFC 6455 7.4: the codes a peer may send. 1004-1006 and 1015 are reserved
// (1005 and 1006 mean "no code" and "no close frame" locally), 1012-2999 are
// for future standards, 3000-4999 for libraries and applications.
bool is_valid_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}
}  // namespace

bool is_valid_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    const unsigned char lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    // RFC 3629 section 4: the lead byte fixes the length, and narrows the
    // second byte's range to rule out overlongs (E0, F0), surrogates (ED) and
    // code points above U+10FFFF (F4). C0, C1 and F5..FF never appear.
    std::size_t length = 0;
    unsigned char second_min = 0x80;
    unsigned char second_max = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) second_min = 0xA0;
      if (lead == 0xED) second_max = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) second_min = 0x90;
      if (lead == 0xF4) second_max = 0x8F;
    } else {
      return false;
    }
    if (size - i < length) return false;
    if (bytes[i + 1] < second_min || bytes[i + 1] > second_max) return false;
    for (std::size_t k = 2; k < length; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

std::string make_ws_header(WsOpcode opcode, std::size_t payload_size) {
  std::string h;
  h.push_back(static_cast<char>(kFin | static_cast<std::uint8_t>(opcode)));
  if (payload_size < 126) {
    h.push_back(static_cast<char>(payload_size));
  } else if (payload_size <= 0xFFFF) {
    h.push_back(static_cast<char>(126));
    h.push_back(static_cast<char>(payload_size >> 8));
    h.push_back(static_cast<char>(payload_size & 0xFF));
  } else {
    h.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8) h.push_back(static_cast<char>((std::uint64_t{payload_size} >> shift) & 0xFF));
  }
  return h;
}

std::string make_ws_frame(WsOpcode opcode, std::string_view payload) {
  std::string frame = make_ws_header(opcode, payload.size());
  frame.append(payload);
  return frame;
}

std::string make_ws_close(WsCloseCode code, std::string_view reason) {
  std::string payload;
  payload.push_back(static_cast<char>(static_cast<std::uint16_t>(code) >> 8));
  payload.push_back(static_cast<char>(static_cast<std::uint16_t>(code) & 0xFF));
  payload.append(reason.substr(0, 123));  // control frames carry at most 125 bytes
  return make_ws_frame(WsOpcode::close, payload);
}

std::string_view WsClientFrameReader::payload() const {
  if (is_control(opcode_)) return {control_.data(), control_size_};
  return message_;
}

bool WsClientFrameReader::fail(const char* why, WsCloseCode code) {
  error_ = why;
  error_code_ = code;
  return false;
}

bool WsClientFrameReader::check_frame_start() {
  const std::uint8_t b0 = header_[0];
  const std::uint8_t b1 = header_[1];
  if (b0 & kReservedBits) return fail("reserved bits set (no extension was negotiated)", WsCloseCode::protocol_error);
  if (!is_known_opcode(b0 & 0x0F)) return fail("unknown opcode", WsCloseCode::protocol_error);
  if (!(b1 & kMask)) return fail("client frames must be masked", WsCloseCode::protocol_error);
  frame_opcode_ = static_cast<WsOpcode>(b0 & 0x0F);
  frame_is_final_ = (b0 & kFin) != 0;
  const std::uint8_t length = b1 & 0x7F;
  if (is_control(frame_opcode_)) {
    if (!frame_is_final_) return fail("fragmented control frame", WsCloseCode::protocol_error);
    if (length > kMaxControlPayload) return fail("control frame too long", WsCloseCode::protocol_error);
  } else if (frame_opcode_ == WsOpcode::continuation) {
    if (!in_message_) return fail("continuation frame with no message to continue", WsCloseCode::protocol_error);
  } else if (in_message_) {
    return fail("new message before the fragmented one ended", WsCloseCode::protocol_error);
  }
  header_size_ = 2 + (length == 126 ? 2 : length == 127 ? 8 : 0) + kMaskSize;
  return true;
}

bool WsClientFrameReader::begin_payload() {
  const std::uint8_t length = header_[1] & 0x7F;
  std::uint64_t size = length;
  if (length == 126) size = (std::uint64_t{header_[2]} << 8) | header_[3];
  if (length == 127) {
    size = 0;
    for (int i = 0; i < 8; ++i) size = (size << 8) | header_[2 + i];
  }
  if (is_control(frame_opcode_)) {
    control_size_ = 0;
  } else {
    if (!in_message_) {
      in_message_ = true;
      message_opcode_ = frame_opcode_;
      message_.clear();
    }
    // message_.size() <= max_payload_ always: the subtraction cannot wrap.
    if (size > max_payload_ - message_.size()) return fail("message too big", WsCloseCode::message_too_big);
    message_.reserve(message_.size() + static_cast<std::size_t>(size));
  }
  frame_size_ = static_cast<std::size_t>(size);
  frame_received_ = 0;
  return true;
}

std::size_t WsClientFrameReader::take_payload(std::span<const std::uint8_t> bytes) {
  const std::size_t n = std::min(frame_size_ - frame_received_, bytes.size());
  char* out = nullptr;
  if (is_control(frame_opcode_)) {
    out = control_.data() + control_size_;
    control_size_ += n;
  } else {
    const std::size_t old_size = message_.size();
    message_.resize(old_size + n);  // within the capacity reserved by begin_payload
    out = message_.data() + old_size;
  }
  const std::uint8_t* mask = &header_[header_size_ - kMaskSize];
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>(bytes[i] ^ mask[(frame_received_ + i) % kMaskSize]);
  frame_received_ += n;
  return n;
}

bool WsClientFrameReader::check_close_payload() {
  // RFC 6455 5.5.1: empty, or a 2-byte code followed by a UTF-8 reason.
  if (control_size_ == 0) return true;
  if (control_size_ == 1) return fail("close frame with a 1-byte payload", WsCloseCode::protocol_error);
  const auto code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(control_[0]) << 8) |
                                               static_cast<std::uint8_t>(control_[1]));
  if (!is_valid_close_code(code)) return fail("close frame with an invalid close code", WsCloseCode::protocol_error);
  if (!is_valid_utf8({control_.data() + 2, control_size_ - 2})) {
    return fail("close reason is not valid UTF-8", WsCloseCode::invalid_payload);
  }
  return true;
}

WsClientFrameReader::Status WsClientFrameReader::end_frame() {
  header_filled_ = 0;
  header_size_ = 2;
  if (is_control(frame_opcode_)) {
    opcode_ = frame_opcode_;
    if (opcode_ == WsOpcode::close && !check_close_payload()) return Status::error;
    return Status::frame;
  }
  if (!frame_is_final_) return Status::need_more;  // more fragments to come
  in_message_ = false;
  opcode_ = message_opcode_;
  if (opcode_ == WsOpcode::text && !is_valid_utf8(message_)) {
    fail("text message is not valid UTF-8", WsCloseCode::invalid_payload);
    return Status::error;
  }
  return Status::frame;
}

WsClientFrameReader::Step WsClientFrameReader::feed(std::span<const std::uint8_t> bytes) {
  if (error_ != nullptr) return {0, Status::error};
  std::size_t used = 0;
  while (used < bytes.size()) {
    if (header_filled_ < header_size_) {
      header_[header_filled_++] = bytes[used++];
      if (header_filled_ == 2 && !check_frame_start()) return {used, Status::error};
      if (header_filled_ < header_size_) continue;
      if (!begin_payload()) return {used, Status::error};
    } else {
      used += take_payload(bytes.subspan(used));
    }
    if (frame_received_ == frame_size_) {
      const Status status = end_frame();
      if (status != Status::need_more) return {used, status};
    }
  }
  return {used, Status::need_more};
}

}  // namespace micstream::server
