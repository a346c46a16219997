// The WebSocket framing (RFC 6455, section 5) the listener sessions speak
// after Beast has done the HTTP upgrade: server frames are built here once and
// shared by every listener (they are unmasked, so identical for all); client
// frames, always masked, are parsed incrementally by WsClientFrameReader:
// text and binary messages, whole or fragmented (reassembled, with control
// frames allowed between the fragments), bounded by max_payload; ping, pong
// and close frames; text and close reasons checked to be valid UTF-8, close
// codes to be ones a peer may send. No extensions (any RSV bit is an error).
#pragma once

#include <array>
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
  invalid_payload = 1007,  ///< a text message or close reason that is not UTF-8
  policy_violation = 1008, ///< listener too slow
  message_too_big = 1009,
};

/// True when text is well-formed UTF-8 (RFC 3629): no overlong forms, no
/// surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence.
/// For anything from outside that must be text: WebSocket text, paths, ids.
[[nodiscard]] bool is_valid_utf8(std::string_view text);

/// A whole unmasked server frame (FIN set) carrying payload.
[[nodiscard]] std::string make_ws_frame(WsOpcode opcode, std::string_view payload);

/// The frame header alone, for a payload the caller appends (avoids a copy
/// when the payload is written straight after it). At most 10 bytes.
[[nodiscard]] std::string make_ws_header(WsOpcode opcode, std::size_t payload_size);

/// A close frame with its status code and a short reason.
[[nodiscard]] std::string make_ws_close(WsCloseCode code, std::string_view reason);

/// Incremental parser of client-to-server frames. Reports each text or binary
/// message once, reassembled, and each control frame on its own.
class WsClientFrameReader {
 public:
  enum class Status : std::uint8_t { need_more, frame, error };
  struct Step {
    std::size_t consumed;
    Status status;
  };

  static constexpr std::size_t kDefaultMaxPayload = 4096;  ///< ample for the page's JSON requests

  /// max_payload bounds a whole text or binary message; control frames have
  /// RFC 6455's own limit of 125 bytes.
  explicit WsClientFrameReader(std::size_t max_payload = kDefaultMaxPayload) : max_payload_(max_payload) {}

  /// Consumes bytes up to the end of the next message or control frame, or all
  /// of them. After an error it consumes nothing and reports the error again.
  [[nodiscard]] Step feed(std::span<const std::uint8_t> bytes);

  /// After Status::frame: the opcode (text, binary, close, ping or pong; for a
  /// fragmented message its first frame's) and the unmasked payload (valid
  /// until the next feed).
  [[nodiscard]] WsOpcode opcode() const { return opcode_; }
  [[nodiscard]] std::string_view payload() const;

  /// After Status::error: why, and the close code to answer with.
  [[nodiscard]] const char* error() const { return error_; }
  [[nodiscard]] WsCloseCode error_close_code() const { return error_code_; }

 private:
  static constexpr std::size_t kMaxControlPayload = 125;

  bool check_frame_start();  // the first two header bytes
  bool begin_payload();      // the whole header
  std::size_t take_payload(std::span<const std::uint8_t> bytes);
  bool check_close_payload();
  Status end_frame();
  bool fail(const char* why, WsCloseCode code);

  std::size_t max_payload_;

  // The frame being read.
  std::uint8_t header_[14] = {};
  std::size_t header_filled_ = 0;
  std::size_t header_size_ = 2;  // grows once the length form is known
  WsOpcode frame_opcode_ = WsOpcode::text;
  bool frame_is_final_ = true;
  std::size_t frame_size_ = 0;      // payload bytes, known once the header is whole
  std::size_t frame_received_ = 0;  // payload bytes so far (also the mask's phase)

  // The text or binary message being assembled from one or more data frames.
  // Its capacity is reused from message to message, growing only for a larger
  // message, and a frame that would take it past max_payload is refused first.
  bool in_message_ = false;
  WsOpcode message_opcode_ = WsOpcode::text;
  std::string message_;

  // A control frame has a buffer of its own: it may arrive between fragments.
  std::array<char, kMaxControlPayload> control_{};
  std::size_t control_size_ = 0;

  WsOpcode opcode_ = WsOpcode::text;  // of what was last reported
  const char* error_ = nullptr;
  WsCloseCode error_code_ = WsCloseCode::protocol_error;
};

}  // namespace micstream::server
