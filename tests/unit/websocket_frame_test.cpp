// The listener WebSocket framing: server frames byte for byte (RFC 6455's own
// examples); client frames and fragmented messages read the same whole, a
// byte at a time and split at every position; every malformed frame refused
// with the close code it deserves; and the UTF-8 check on the classic cases.
#include "websocket_frame.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "test_util.h"

namespace micstream::server {
namespace {

using namespace std::literals;
using test::Bytes;
using Status = WsClientFrameReader::Status;

Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// RFC 6455 5.7: a masked "Hello" from a client, mask 37 fa 21 3d.
const Bytes kMaskedHello = test::from_hex("81 85 37 fa 21 3d 7f 9f 4d 51 58");

constexpr std::array<std::uint8_t, 4> kMask = {0x37, 0xfa, 0x21, 0x3d};
constexpr bool kFinal = true;
constexpr bool kMore = false;

/// A masked client frame's header, declaring size payload bytes.
Bytes client_header(bool fin, std::uint8_t opcode, std::uint64_t size) {
  Bytes h{static_cast<std::uint8_t>((fin ? 0x80 : 0x00) | opcode)};
  if (size < 126) {
    h.push_back(static_cast<std::uint8_t>(0x80 | size));
  } else if (size <= 0xFFFF) {
    h.insert(h.end(), {0x80 | 126, static_cast<std::uint8_t>(size >> 8), static_cast<std::uint8_t>(size)});
  } else {
    h.push_back(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) h.push_back(static_cast<std::uint8_t>(size >> shift));
  }
  h.insert(h.end(), kMask.begin(), kMask.end());
  return h;
}

Bytes client_frame(bool fin, WsOpcode opcode, std::string_view payload) {
  Bytes f = client_header(fin, static_cast<std::uint8_t>(opcode), payload.size());
  for (std::size_t i = 0; i < payload.size(); ++i) f.push_back(static_cast<std::uint8_t>(payload[i]) ^ kMask[i % 4]);
  return f;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::string close_body(std::uint16_t code, std::string_view reason = {}) {
  return std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)} + std::string(reason);
}

// What the reader reported, and where in the stream it was when it did.
struct Event {
  Status status;
  WsOpcode opcode;  // frames only
  std::string payload;
  WsCloseCode code;  // errors only
  std::size_t end = 0;
  friend bool operator==(const Event&, const Event&) = default;
};

Event frame(WsOpcode opcode, std::string payload) { return {Status::frame, opcode, std::move(payload), {}, 0}; }
Event error(WsCloseCode code) { return {Status::error, {}, {}, code, 0}; }

void PrintTo(const Event& e, std::ostream* os) {
  if (e.status == Status::error) {
    *os << "error " << static_cast<int>(e.code);
  } else {
    *os << "frame opcode " << static_cast<int>(e.opcode) << " payload \"" << e.payload << "\" (" << e.payload.size()
        << " bytes)";
  }
  *os << " at " << e.end;
}

/// Feeds stream cut at the given offsets (each piece fed until it is used up)
/// and records every frame and the first error.
std::vector<Event> read_in_pieces(const Bytes& stream, const std::vector<std::size_t>& cuts, std::size_t max_payload) {
  WsClientFrameReader reader(max_payload);
  std::vector<Event> events;
  std::size_t pos = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(stream.size());
  for (const std::size_t piece_end : ends) {
    std::span<const std::uint8_t> rest = std::span(stream).subspan(pos, piece_end - pos);
    do {
      const auto step = reader.feed(rest);
      EXPECT_LE(step.consumed, rest.size());
      pos += step.consumed;
      rest = rest.subspan(step.consumed);
      if (step.status == Status::need_more) {
        EXPECT_TRUE(rest.empty()) << "need_more before the piece was used up";
      } else if (step.status == Status::frame) {
        events.push_back({Status::frame, reader.opcode(), std::string(reader.payload()), {}, pos});
      } else {
        EXPECT_NE(reader.error(), nullptr);
        events.push_back({Status::error, {}, {}, reader.error_close_code(), pos});
        const auto again = reader.feed(std::span(stream).subspan(pos));
        EXPECT_EQ(again.consumed, 0u) << "errors are sticky";
        EXPECT_EQ(again.status, Status::error) << "errors are sticky";
        return events;
      }
    } while (!rest.empty());
  }
  return events;
}

std::vector<Event> without_ends(std::vector<Event> events) {
  for (Event& e : events) e.end = 0;
  return events;
}

/// The stream gives `expected` fed whole, and the very same events (at the
/// same offsets) fed a byte at a time and split in two at every position.
void expect_events(const Bytes& stream, const std::vector<Event>& expected, std::size_t max_payload = 4096) {
  const std::vector<Event> whole = read_in_pieces(stream, {}, max_payload);
  EXPECT_EQ(without_ends(whole), expected) << "fed whole";

  std::vector<std::size_t> every_byte;
  for (std::size_t i = 1; i < stream.size(); ++i) every_byte.push_back(i);
  EXPECT_EQ(read_in_pieces(stream, every_byte, max_payload), whole) << "fed a byte at a time";

  for (std::size_t split = 0; split <= stream.size(); ++split) {
    EXPECT_EQ(read_in_pieces(stream, {split}, max_payload), whole) << "split at " << split;
  }
}

TEST(WebSocketFrame, ServerFramesMatchRfc6455Examples) {
  EXPECT_EQ(bytes(make_ws_frame(WsOpcode::text, "Hello")), test::from_hex("81 05 48 65 6c 6c 6f"));
  EXPECT_EQ(bytes(make_ws_header(WsOpcode::binary, 256)), test::from_hex("82 7e 01 00"));
  EXPECT_EQ(bytes(make_ws_header(WsOpcode::binary, 65536)), test::from_hex("82 7f 00 00 00 00 00 01 00 00"));
  EXPECT_EQ(bytes(make_ws_header(WsOpcode::binary, 125)), test::from_hex("82 7d"));
  EXPECT_EQ(bytes(make_ws_header(WsOpcode::binary, 65535)), test::from_hex("82 7e ff ff"));
  EXPECT_EQ(bytes(make_ws_close(WsCloseCode::going_away, "bye")), test::from_hex("88 05 03 e9 62 79 65"));
  EXPECT_EQ(make_ws_close(WsCloseCode::normal, std::string(300, 'x')).size(), 2u + 125u) << "control frames stay small";
}

TEST(WebSocketFrame, ReadsAMaskedClientFrameAtEverySplit) {
  EXPECT_EQ(client_frame(kFinal, WsOpcode::text, "Hello"), kMaskedHello) << "the test's own frame builder";
  expect_events(cat({kMaskedHello, kMaskedHello}), {frame(WsOpcode::text, "Hello"), frame(WsOpcode::text, "Hello")});
}

TEST(WebSocketFrame, ReadsExtendedLengthsAndControlFrames) {
  // A 300-byte masked binary frame (16-bit length) with mask 00 00 00 00.
  Bytes frame300 = test::from_hex("82 fe 01 2c 00 00 00 00");
  frame300.insert(frame300.end(), 300, 'a');
  WsClientFrameReader reader;
  const auto step = reader.feed(frame300);
  ASSERT_EQ(step.status, Status::frame);
  EXPECT_EQ(step.consumed, frame300.size());
  EXPECT_EQ(reader.payload(), std::string(300, 'a'));

  const Bytes empty_ping = test::from_hex("89 80 01 02 03 04");
  const std::string binary = "\x00\xff\xc0\xaf"s + std::string(1000, 'b');  // not UTF-8, and need not be
  expect_events(cat({frame300, empty_ping, client_frame(kFinal, WsOpcode::pong, "t=1"),
                     client_frame(kFinal, WsOpcode::binary, binary), client_frame(kFinal, WsOpcode::text, ""),
                     client_frame(kFinal, WsOpcode::ping, std::string(125, 'p'))}),
                {frame(WsOpcode::binary, std::string(300, 'a')), frame(WsOpcode::ping, ""),
                 frame(WsOpcode::pong, "t=1"), frame(WsOpcode::binary, binary), frame(WsOpcode::text, ""),
                 frame(WsOpcode::ping, std::string(125, 'p'))});
}

TEST(WebSocketFrame, ReadsA64BitLength) {
  const std::string payload(70000, 'x');
  Bytes f = client_frame(kFinal, WsOpcode::binary, payload);
  ASSERT_EQ(f[1], 0x80 | 127);
  WsClientFrameReader reader(100000);
  const auto step = reader.feed(f);
  ASSERT_EQ(step.status, Status::frame) << reader.error();
  EXPECT_EQ(step.consumed, f.size());
  EXPECT_EQ(reader.payload(), payload);
}

TEST(WebSocketFrame, ReassemblesAFragmentedMessage) {
  // RFC 6455 5.7's fragmented "Hello", masked.
  expect_events(cat({client_frame(kMore, WsOpcode::text, "Hel"), client_frame(kFinal, WsOpcode::continuation, "lo")}),
                {frame(WsOpcode::text, "Hello")});
  // Empty fragments anywhere, and a binary message.
  expect_events(cat({client_frame(kMore, WsOpcode::binary, ""), client_frame(kMore, WsOpcode::continuation, "\x01\x02"),
                     client_frame(kMore, WsOpcode::continuation, ""), client_frame(kFinal, WsOpcode::continuation, "\x03")}),
                {frame(WsOpcode::binary, "\x01\x02\x03")});
  // A character split across fragments is whole in the message.
  expect_events(cat({client_frame(kMore, WsOpcode::text, "caf\xc3"), client_frame(kMore, WsOpcode::continuation, ""),
                     client_frame(kFinal, WsOpcode::continuation, "\xa9!")}),
                {frame(WsOpcode::text, "caf\xc3\xa9!")});
  expect_events(cat({client_frame(kMore, WsOpcode::text, "\xf0\x9f"), client_frame(kFinal, WsOpcode::continuation, "\x98\x80")}),
                {frame(WsOpcode::text, "\xf0\x9f\x98\x80")});
}

TEST(WebSocketFrame, ControlFramesBetweenFragmentsAreReportedOnTheirOwn) {
  expect_events(cat({client_frame(kMore, WsOpcode::text, "{\"type\":"), client_frame(kFinal, WsOpcode::ping, "p1"),
                     client_frame(kMore, WsOpcode::continuation, "\"ping\","),
                     client_frame(kFinal, WsOpcode::pong, ""),
                     client_frame(kFinal, WsOpcode::ping, std::string(125, 'q')),
                     client_frame(kFinal, WsOpcode::continuation, "\"id\":1}"), kMaskedHello,
                     client_frame(kMore, WsOpcode::binary, "ab"), client_frame(kFinal, WsOpcode::close, close_body(1000)),
                     client_frame(kFinal, WsOpcode::continuation, "c")}),
                {frame(WsOpcode::ping, "p1"), frame(WsOpcode::pong, ""), frame(WsOpcode::ping, std::string(125, 'q')),
                 frame(WsOpcode::text, "{\"type\":\"ping\",\"id\":1}"), frame(WsOpcode::text, "Hello"),
                 frame(WsOpcode::close, close_body(1000)), frame(WsOpcode::binary, "abc")});
}

TEST(WebSocketFrame, BoundsTheWholeMessageByMaxPayload) {
  constexpr std::size_t kMax = 10;
  expect_events(client_frame(kFinal, WsOpcode::text, std::string(kMax, 'a')), {frame(WsOpcode::text, std::string(kMax, 'a'))}, kMax);
  expect_events(client_frame(kFinal, WsOpcode::text, std::string(kMax + 1, 'a')), {error(WsCloseCode::message_too_big)}, kMax);
  expect_events(cat({client_frame(kMore, WsOpcode::text, "12345"), client_frame(kMore, WsOpcode::continuation, "678"),
                     client_frame(kFinal, WsOpcode::continuation, "90")}),
                {frame(WsOpcode::text, "1234567890")}, kMax);
  expect_events(cat({client_frame(kMore, WsOpcode::binary, "12345"), client_frame(kMore, WsOpcode::continuation, "678"),
                     client_frame(kFinal, WsOpcode::continuation, "901")}),
                {error(WsCloseCode::message_too_big)}, kMax);
  // Control frames keep their own 125-byte limit, whatever max_payload is.
  expect_events(cat({client_frame(kMore, WsOpcode::text, std::string(kMax, 'a')),
                     client_frame(kFinal, WsOpcode::ping, std::string(100, 'p')),
                     client_frame(kFinal, WsOpcode::continuation, "")}),
                {frame(WsOpcode::ping, std::string(100, 'p')), frame(WsOpcode::text, std::string(kMax, 'a'))}, kMax);

  // Refused at the header, before any of the payload arrives.
  const Bytes huge = client_header(kFinal, 0x1, 0xFFFF'FFFF'FFFF'FFFFull);
  WsClientFrameReader reader(kMax);
  const auto step = reader.feed(huge);
  EXPECT_EQ(step.status, Status::error);
  EXPECT_EQ(step.consumed, huge.size());
  EXPECT_EQ(reader.error_close_code(), WsCloseCode::message_too_big);
}

TEST(WebSocketFrame, RefusesBrokenFragmentation) {
  const Bytes first = client_frame(kMore, WsOpcode::text, "Hel");
  expect_events(client_frame(kFinal, WsOpcode::continuation, "lo"), {error(WsCloseCode::protocol_error)});
  expect_events(cat({kMaskedHello, client_frame(kMore, WsOpcode::continuation, "lo")}),
                {frame(WsOpcode::text, "Hello"), error(WsCloseCode::protocol_error)});
  expect_events(cat({first, kMaskedHello}), {error(WsCloseCode::protocol_error)});
  expect_events(cat({first, client_frame(kMore, WsOpcode::binary, "x")}), {error(WsCloseCode::protocol_error)});
  expect_events(cat({first, client_frame(kFinal, WsOpcode::ping, ""), client_frame(kMore, WsOpcode::text, "x")}),
                {frame(WsOpcode::ping, ""), error(WsCloseCode::protocol_error)});
  expect_events(client_frame(kMore, WsOpcode::ping, ""), {error(WsCloseCode::protocol_error)});
  expect_events(cat({first, client_frame(kMore, WsOpcode::pong, "")}), {error(WsCloseCode::protocol_error)});
  expect_events(client_frame(kMore, WsOpcode::close, close_body(1000)), {error(WsCloseCode::protocol_error)});
}

TEST(WebSocketFrame, RefusesTextThatIsNotUtf8) {
  expect_events(client_frame(kFinal, WsOpcode::text, "\xc0\xaf"), {error(WsCloseCode::invalid_payload)});
  expect_events(client_frame(kFinal, WsOpcode::text, "ok \xed\xa0\x80"), {error(WsCloseCode::invalid_payload)});
  expect_events(cat({client_frame(kFinal, WsOpcode::ping, ""), client_frame(kFinal, WsOpcode::text, "\xe2\x82")}),
                {frame(WsOpcode::ping, ""), error(WsCloseCode::invalid_payload)});
  // Truncated at the end of the message, not of a fragment.
  expect_events(cat({client_frame(kMore, WsOpcode::text, "\xe2\x82\xac\xe2"), client_frame(kFinal, WsOpcode::continuation, "\x82")}),
                {error(WsCloseCode::invalid_payload)});
  // The text check is the message's, not the frame's: an error is reported
  // once the final fragment is in.
  const Bytes bad_first = client_frame(kMore, WsOpcode::text, "\xff");
  const Bytes last = client_frame(kFinal, WsOpcode::continuation, "ok");
  const std::vector<Event> events = read_in_pieces(cat({bad_first, last}), {}, 4096);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].end, bad_first.size() + last.size());
}

TEST(WebSocketFrame, ChecksTheCloseFramePayload) {
  expect_events(client_frame(kFinal, WsOpcode::close, ""), {frame(WsOpcode::close, "")});
  for (const std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}) {
    SCOPED_TRACE(code);
    expect_events(client_frame(kFinal, WsOpcode::close, close_body(code)), {frame(WsOpcode::close, close_body(code))});
  }
  for (const std::uint16_t code : {0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 2000, 2999, 5000, 65535}) {
    SCOPED_TRACE(code);
    expect_events(client_frame(kFinal, WsOpcode::close, close_body(code)), {error(WsCloseCode::protocol_error)});
  }
  expect_events(client_frame(kFinal, WsOpcode::close, "\x03"), {error(WsCloseCode::protocol_error)});
  // Even when the control buffer still holds a valid code from a ping.
  expect_events(cat({client_frame(kFinal, WsOpcode::ping, close_body(1000)), client_frame(kFinal, WsOpcode::close, "\x03")}),
                {frame(WsOpcode::ping, close_body(1000)), error(WsCloseCode::protocol_error)});
  const std::string reason = close_body(1000, "au revoir \xf0\x9f\x91\x8b");
  expect_events(client_frame(kFinal, WsOpcode::close, reason), {frame(WsOpcode::close, reason)});
  expect_events(client_frame(kFinal, WsOpcode::close, close_body(1001, "\xce\xba\xe1\xbd")), {error(WsCloseCode::invalid_payload)});
  expect_events(client_frame(kFinal, WsOpcode::close, close_body(1000, std::string(123, 'r'))),
                {frame(WsOpcode::close, close_body(1000, std::string(123, 'r')))});
}

struct BadFrame {
  const char* name;
  Bytes bytes;
  WsCloseCode code;
};

TEST(WebSocketFrame, RefusesMalformedClientFrames) {
  const std::vector<BadFrame> cases = {
      {"unmasked", test::from_hex("81 05 48 65 6c 6c 6f"), WsCloseCode::protocol_error},
      {"reserved bit", test::from_hex("c1 85 37 fa 21 3d"), WsCloseCode::protocol_error},
      {"unknown opcode", test::from_hex("83 80 00 00 00 00"), WsCloseCode::protocol_error},
      {"unknown control opcode", test::from_hex("8b 80 00 00 00 00"), WsCloseCode::protocol_error},
      {"continuation", test::from_hex("80 85 37 fa 21 3d"), WsCloseCode::protocol_error},
      {"fragmented ping", test::from_hex("09 80 37 fa 21 3d"), WsCloseCode::protocol_error},
      {"long ping", test::from_hex("89 fe 00 7e"), WsCloseCode::protocol_error},
      {"long close", test::from_hex("88 fe 00 7e"), WsCloseCode::protocol_error},
      {"too big", test::from_hex("81 ff 00 00 00 01 00 00 00 00 00 00 00 00"), WsCloseCode::message_too_big},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    expect_events(c.bytes, {error(c.code)});
    WsClientFrameReader reader;
    const auto step = reader.feed(cat({c.bytes, kMaskedHello}));
    EXPECT_EQ(step.status, Status::error);
    EXPECT_LE(step.consumed, c.bytes.size()) << "stops at the byte that is wrong";
    EXPECT_EQ(reader.feed(kMaskedHello).status, Status::error) << "sticky";
  }
}

TEST(WebSocketFrame, ReusesTheMessageBuffer) {
  WsClientFrameReader reader;
  ASSERT_EQ(reader.feed(client_frame(kFinal, WsOpcode::text, std::string(1000, 'a'))).status, Status::frame);
  const char* const buffer = reader.payload().data();
  test::Xorshift32 random;
  for (int i = 0; i < 200; ++i) {
    const std::size_t size = random.below(1001);
    const std::size_t first = random.below(static_cast<std::uint32_t>(size + 1));
    const Bytes message = cat({client_frame(kMore, WsOpcode::binary, std::string(first, 'b')),
                               client_frame(kFinal, WsOpcode::ping, "x"),
                               client_frame(kFinal, WsOpcode::continuation, std::string(size - first, 'c'))});
    std::span<const std::uint8_t> rest(message);
    std::vector<Status> reported;
    while (!rest.empty()) {
      const auto step = reader.feed(rest);
      rest = rest.subspan(step.consumed);
      reported.push_back(step.status);
    }
    ASSERT_EQ(reported, (std::vector<Status>{Status::frame, Status::frame})) << i;
    EXPECT_EQ(reader.payload().size(), size);
    EXPECT_EQ(reader.payload().data(), buffer) << "message " << i << " of " << size << " bytes moved the buffer";
  }
}

// ---- is_valid_utf8 ----

TEST(Utf8, AcceptsWellFormedText) {
  for (const std::string_view valid : {
           ""sv,
           "plain ASCII, with a NUL: \0 and DEL \x7f"sv,
           "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"sv,  // "kosme" in Greek, Kuhn 1
           "\xc2\x80"sv,                                      // U+0080, the first 2-byte
           "\xdf\xbf"sv,                                      // U+07FF, the last 2-byte
           "\xe0\xa0\x80"sv,                                  // U+0800, the first 3-byte
           "\xed\x9f\xbf"sv,                                  // U+D7FF, just below the surrogates
           "\xee\x80\x80"sv,                                  // U+E000, just above them
           "\xef\xbf\xbd"sv,                                  // U+FFFD
           "\xef\xbf\xbf"sv,                                  // U+FFFF (a noncharacter, but valid UTF-8)
           "\xf0\x90\x80\x80"sv,                              // U+10000, the first 4-byte
           "\xf0\x9f\x98\x80"sv,                              // U+1F600, an emoji
           "\xf4\x8f\xbf\xbf"sv,                              // U+10FFFF, the last code point
           "caf\xc3\xa9 \xe2\x82\xac 5 \xf0\x9f\x8e\xa4!"sv,
       }) {
    EXPECT_TRUE(is_valid_utf8(valid)) << test::to_hex(reinterpret_cast<const std::uint8_t*>(valid.data()), valid.size());
  }
}

TEST(Utf8, RefusesMalformedText) {
  for (const std::string_view invalid : {
           "\x80"sv, "\xbf"sv, "a\x80"sv,                   // lone continuation bytes (Kuhn 3.1)
           "\xc0\xaf"sv, "\xe0\x80\xaf"sv, "\xf0\x80\x80\xaf"sv,  // overlong "/" (Kuhn 4.1)
           "\xc1\xbf"sv, "\xe0\x9f\xbf"sv, "\xf0\x8f\xbf\xbf"sv,  // the largest overlongs (Kuhn 4.2)
           "\xc0\x80"sv,                                     // overlong NUL (Kuhn 4.3)
           "\xed\xa0\x80"sv, "\xed\xbf\xbf"sv,               // U+D800, U+DFFF (Kuhn 5.1)
           "\xed\xa0\x80\xed\xb0\x80"sv,                     // a surrogate pair, UTF-16 style (Kuhn 5.2)
           "\xf4\x90\x80\x80"sv, "\xf7\xbf\xbf\xbf"sv,       // above U+10FFFF
           "\xf8\x88\x80\x80\x80"sv, "\xfc\x84\x80\x80\x80\x80"sv,  // old 5- and 6-byte forms
           "\xf5"sv, "\xfe"sv, "\xff"sv,                     // bytes that never appear (Kuhn 3.5)
           "\xe2\x82"sv, "x\xf0\x9f\x98"sv, "\xc2"sv,        // truncated at the end (Kuhn 3.3)
           "\xe2\x82x"sv, "\xc2\xc2\xa9"sv, "\xf0\x9f\x98\xf0\x9f\x98\x80"sv,  // truncated inside
           "\xc0"sv,                                         // a lead that is never valid, alone
       }) {
    EXPECT_FALSE(is_valid_utf8(invalid)) << test::to_hex(reinterpret_cast<const std::uint8_t*>(invalid.data()), invalid.size());
  }
}

TEST(Utf8, ReadsNothingPastTheEnd) {
  // A view that stops inside a sequence whose next byte would complete it.
  const std::string_view euro = "\xe2\x82\xac";
  EXPECT_TRUE(is_valid_utf8(euro));
  EXPECT_FALSE(is_valid_utf8(euro.substr(0, 2)));
  EXPECT_FALSE(is_valid_utf8(euro.substr(0, 1)));
  // Exactly sized on the heap: ASan reports any read past it.
  const std::vector<char> truncated = {'o', 'k', '\xf0', '\x9f', '\x98'};
  EXPECT_FALSE(is_valid_utf8({truncated.data(), truncated.size()}));
}

// An independent statement of RFC 3629: every scalar value encoded the short
// way is valid; the same value padded to a longer (overlong) form, or a
// surrogate, is not.
std::string encode_utf8(std::uint32_t code_point, std::size_t length) {
  if (length == 1) return std::string(1, static_cast<char>(code_point));
  static constexpr std::uint8_t kLeadBits[] = {0, 0, 0xC0, 0xE0, 0xF0};
  std::string out(length, '\0');
  for (std::size_t i = length - 1; i > 0; --i) {
    out[i] = static_cast<char>(0x80 | (code_point & 0x3F));
    code_point >>= 6;
  }
  out[0] = static_cast<char>(kLeadBits[length] | code_point);
  return out;
}

std::size_t shortest_length(std::uint32_t code_point) {
  return code_point < 0x80 ? 1 : code_point < 0x800 ? 2 : code_point < 0x10000 ? 3 : 4;
}

TEST(Utf8, MatchesTheRfcForEveryCodePoint) {
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    const std::size_t length = shortest_length(cp);
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    ASSERT_EQ(is_valid_utf8(encode_utf8(cp, length)), !surrogate) << std::hex << cp;
    if (length < 4) {
      ASSERT_FALSE(is_valid_utf8(encode_utf8(cp, length + 1))) << "overlong " << std::hex << cp;
    }
  }
  // Past the last code point, in the 4-byte form the lead bytes F4..F7 allow.
  for (std::uint32_t cp = 0x110000; cp < 0x200000; cp += 0x3FF) {
    ASSERT_FALSE(is_valid_utf8(encode_utf8(cp, 4))) << std::hex << cp;
  }
}

}  // namespace
}  // namespace micstream::server
