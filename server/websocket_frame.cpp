#include "websocket_frame.h"

namespace micstream::server {

namespace {
constexpr std::uint8_t kFin = 0x80;
constexpr std::uint8_t kMask = 0x80;
constexpr std::uint8_t kReservedBits = 0x70;

bool is_known_opcode(std::uint8_t op) { return op <= 0x2 || (op >= 0x8 && op <= 0xA); }
bool is_control(WsOpcode op) { return static_cast<std::uint8_t>(op) >= 0x8; }
}  // namespace

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

WsClientFrameReader::Step WsClientFrameReader::fail(std::size_t consumed, const char* why, WsCloseCode code) {
  error_ = why;
  error_code_ = code;
  return {consumed, Status::error};
}

WsClientFrameReader::Step WsClientFrameReader::feed(std::span<const std::uint8_t> bytes) {
  if (error_ != nullptr) return {0, Status::error};
  std::size_t used = 0;
  while (used < bytes.size()) {
    if (header_filled_ < header_size_) {
      header_[header_filled_++] = bytes[used++];
      if (header_filled_ == 2) {
        const std::uint8_t b0 = header_[0];
        const std::uint8_t b1 = header_[1];
        if (b0 & kReservedBits) return fail(used, "reserved bits set (no extension was negotiated)", WsCloseCode::protocol_error);
        if (!is_known_opcode(b0 & 0x0F)) return fail(used, "unknown opcode", WsCloseCode::protocol_error);
        opcode_ = static_cast<WsOpcode>(b0 & 0x0F);
        if (!(b0 & kFin) || opcode_ == WsOpcode::continuation) {
          return fail(used, "fragmented messages are not supported", WsCloseCode::unsupported_data);
        }
        if (!(b1 & kMask)) return fail(used, "client frames must be masked", WsCloseCode::protocol_error);
        const std::uint8_t length = b1 & 0x7F;
        if (is_control(opcode_) && length > 125) return fail(used, "control frame too long", WsCloseCode::protocol_error);
        header_size_ = 2 + (length == 126 ? 2 : length == 127 ? 8 : 0) + 4;
        payload_size_ = length < 126 ? length : 0;
      }
      if (header_filled_ == header_size_) {
        const std::uint8_t length = header_[1] & 0x7F;
        if (length == 126) payload_size_ = (std::uint64_t{header_[2]} << 8) | header_[3];
        if (length == 127) {
          payload_size_ = 0;
          for (int i = 0; i < 8; ++i) payload_size_ = (payload_size_ << 8) | header_[2 + i];
        }
        if (payload_size_ > max_payload_) return fail(used, "message too big", WsCloseCode::message_too_big);
        payload_.clear();
        payload_.reserve(payload_size_);
      }
    } else {
      const std::size_t n = std::min<std::size_t>(payload_size_ - payload_.size(), bytes.size() - used);
      payload_.append(reinterpret_cast<const char*>(bytes.data() + used), n);
      used += n;
    }
    if (header_filled_ == header_size_ && header_size_ > 2 && payload_.size() == payload_size_) {
      const std::uint8_t* mask = &header_[header_size_ - 4];
      for (std::size_t i = 0; i < payload_.size(); ++i) payload_[i] = static_cast<char>(payload_[i] ^ mask[i % 4]);
      header_filled_ = 0;
      header_size_ = 2;
      return {used, Status::frame};
    }
  }
  return {used, Status::need_more};
}

}  // namespace micstream::server
