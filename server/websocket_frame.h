// The WebSocket framing (RFC 6455, section 5) the listener sessions speak
// after Beast has done the HTTP upgrade: server frames are built here once and
// shared by every listener (they are unmasked, so identical for all); client
// frames, always masked, are parsed incrementally. Only what a listener needs:
// text, binary and control frames of bounded size, no fragmentation, no
// extensions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace micstream::server {

enum class WsOpcode : std::uint8_t { continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };

/// Close codes (RFC 6455, 7.4.1) the server sends.
enum class WsCloseCode : std::uint16_t {
  normal = 1000,
  going_away = 1001,       ///< server shutting down
  protocol_error = 1002,
  unsupported_data = 1003,
  policy_violation = 1008, ///< listener too slow
  message_too_big = 1009,
};

/// A whole unmasked server frame (FIN set) carrying payload.
[[nodiscard]] std::string make_ws_frame(WsOpcode opcode, std::string_view payload);

/// The frame header alone, for a payload the caller appends (avoids a copy
/// when the payload is written straight after it). At most 10 bytes.
[[nodiscard]] std::string make_ws_header(WsOpcode opcode, std::size_t payload_size);

/// A close frame with its status code and a short reason.
[[nodiscard]] std::string make_ws_close(WsCloseCode code, std::string_view reason);

/// Incremental parser of client-to-server frames.
class WsClientFrameReader {
 public:
  enum class Status : std::uint8_t { need_more, frame, error };
  struct Step {
    std::size_t consumed;
    Status status;
  };

  explicit WsClientFrameReader(std::size_t max_payload = 4096) : max_payload_(max_payload) {}

  /// Consumes bytes up to the end of the next frame, or all of them.
  [[nodiscard]] Step feed(std::span<const std::uint8_t> bytes);

  /// After Status::frame: the frame's opcode and unmasked payload (valid until the next feed).
  [[nodiscard]] WsOpcode opcode() const { return opcode_; }
  [[nodiscard]] std::string_view payload() const { return payload_; }

  /// After Status::error: why, and the close code to answer with.
  [[nodiscard]] const char* error() const { return error_; }
  [[nodiscard]] WsCloseCode error_close_code() const { return error_code_; }

 private:
  Step fail(std::size_t consumed, const char* why, WsCloseCode code);

  std::size_t max_payload_;
  std::uint8_t header_[14] = {};
  std::size_t header_filled_ = 0;
  std::size_t header_size_ = 2;  // grows once the length form is known
  std::uint64_t payload_size_ = 0;
  std::string payload_;
  WsOpcode opcode_ = WsOpcode::text;
  const char* error_ = nullptr;
  WsCloseCode error_code_ = WsCloseCode::protocol_error;
};

}  // namespace micstream::server
