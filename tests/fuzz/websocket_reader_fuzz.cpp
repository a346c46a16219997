// libFuzzer target for server::WsClientFrameReader, the listener WebSocket's
// client-frame reader, and server::is_valid_utf8.
//
// The input layout is in websocket_fuzz_input.h. The stream is read twice: in
// chunks whose sizes the input chooses, and all at once. Any broken invariant
// calls __builtin_trap(), which libFuzzer reports as a crash:
//   - feed() never consumes more than offered, consumes everything when it
//     says need_more, and consumes the byte that completes a frame or fails;
//   - a reported message is text or binary within max_payload, text valid
//     UTF-8; a control frame is ping, pong or close within 125 bytes, a close
//     payload empty or a code a peer may send with a UTF-8 reason;
//   - an error comes with a reason and 1002, 1007 or 1009, and is sticky:
//     feed() then consumes nothing and reports it again;
//   - both ways of feeding give the same frames and error at the same offsets;
//   - is_valid_utf8 agrees with an independent decoder, on the raw stream and
//     on every binary message (whose bytes are anything at all).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chunker.h"
#include "websocket_frame.h"
#include "websocket_fuzz_input.h"

namespace {

using micstream::fuzz::Chunker;
using micstream::server::is_valid_utf8;
using micstream::server::WsClientFrameReader;
using micstream::server::WsCloseCode;
using micstream::server::WsOpcode;
using Status = WsClientFrameReader::Status;

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

constexpr std::size_t kMaxControlPayload = 125;  // RFC 6455 5.5

// RFC 3629 stated the other way round from is_valid_utf8: decode by the bit
// patterns alone, then refuse what the value rules out (surrogates, above
// U+10FFFF) and any encoding longer than the shortest.
bool reference_is_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char lead = p[i];
    const std::size_t length = lead < 0x80             ? 1
                               : (lead & 0xE0) == 0xC0 ? 2
                               : (lead & 0xF0) == 0xE0 ? 3
                               : (lead & 0xF8) == 0xF0 ? 4
                                                       : 0;
    if (length == 0 || text.size() - i < length) return false;
    std::uint32_t code_point = length == 1 ? lead : lead & (0x7Fu >> length);
    for (std::size_t k = 1; k < length; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (p[i + k] & 0x3Fu);
    }
    if (code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) return false;
    const std::size_t shortest = code_point < 0x80 ? 1 : code_point < 0x800 ? 2 : code_point < 0x10000 ? 3 : 4;
    if (length != shortest) return false;
    i += length;
  }
  return true;
}

// RFC 6455 7.4: what a peer may put in a close frame.
bool is_sendable_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}

struct Event {
  Status status;
  WsOpcode opcode;    // frames
  WsCloseCode code;   // errors
  std::string payload;
  std::size_t end;    // stream offset just past the frame, or past the byte that failed
  friend bool operator==(const Event&, const Event&) = default;
};

void check_frame(WsOpcode opcode, std::string_view payload, std::size_t max_payload) {
  switch (opcode) {
    case WsOpcode::text:
      FUZZ_CHECK(payload.size() <= max_payload);
      FUZZ_CHECK(is_valid_utf8(payload) && reference_is_utf8(payload));
      break;
    case WsOpcode::binary:
      FUZZ_CHECK(payload.size() <= max_payload);
      break;
    case WsOpcode::close:
      FUZZ_CHECK(payload.size() <= kMaxControlPayload && payload.size() != 1);
      if (payload.size() >= 2) {
        const auto code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                                     static_cast<unsigned char>(payload[1]));
        FUZZ_CHECK(is_sendable_close_code(code));
        FUZZ_CHECK(reference_is_utf8(payload.substr(2)));
      }
      break;
    case WsOpcode::ping:
    case WsOpcode::pong:
      FUZZ_CHECK(payload.size() <= kMaxControlPayload);
      break;
    default:  // continuation, or an opcode that was never valid
      __builtin_trap();
  }
}

std::vector<Event> read(std::span<const std::uint8_t> stream, std::size_t max_payload, Chunker chunker) {
  WsClientFrameReader reader(max_payload);
  std::vector<Event> events;
  micstream::fuzz::feed_in_chunks(
      stream, chunker, [&](std::span<const std::uint8_t> bytes) { return reader.feed(bytes); },
      [](const auto& step) { FUZZ_CHECK(step.consumed == 0 && step.status == Status::need_more); },
      [&](const auto& step, std::size_t pos, std::span<const std::uint8_t> rest) {
        switch (step.status) {
          case Status::need_more:
            FUZZ_CHECK(rest.empty());
            FUZZ_CHECK(reader.error() == nullptr);
            return true;
          case Status::frame:
            FUZZ_CHECK(step.consumed > 0);
            FUZZ_CHECK(reader.error() == nullptr);
            check_frame(reader.opcode(), reader.payload(), max_payload);
            events.push_back({Status::frame, reader.opcode(), {}, std::string(reader.payload()), pos});
            return true;
          case Status::error:
            break;
        }
        FUZZ_CHECK(step.consumed > 0);
        FUZZ_CHECK(reader.error() != nullptr);
        const WsCloseCode code = reader.error_close_code();
        FUZZ_CHECK(code == WsCloseCode::protocol_error || code == WsCloseCode::invalid_payload ||
                   code == WsCloseCode::message_too_big);
        const auto again = reader.feed(stream.subspan(pos));
        FUZZ_CHECK(again.consumed == 0 && again.status == Status::error && reader.error_close_code() == code);
        events.push_back({Status::error, {}, code, {}, pos});
        return false;  // no reset: the session closes
      });
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = micstream::fuzz::split_input(data, size, micstream::fuzz::ws::kMaxShift);
  if (!input) return 0;
  const std::size_t max_payload = micstream::fuzz::ws::max_payload(input->selector);
  const std::span<const std::uint8_t> stream = input->stream;

  const std::vector<Event> chunked = read(stream, max_payload, input->chunker);
  const std::vector<Event> whole = read(stream, max_payload, Chunker::whole());
  FUZZ_CHECK(chunked == whole);

  const std::string_view raw(reinterpret_cast<const char*>(stream.data()), stream.size());
  FUZZ_CHECK(is_valid_utf8(raw) == reference_is_utf8(raw));
  for (const Event& e : whole) {
    if (e.status == Status::frame && e.opcode == WsOpcode::binary) {
      FUZZ_CHECK(is_valid_utf8(e.payload) == reference_is_utf8(e.payload));
    }
  }
  return 0;
}
