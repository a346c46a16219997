// The listener WebSocket framing: server frames byte for byte (RFC 6455's own
// examples), client frames parsed at every split, and every malformed frame
// refused with the close code it deserves.
#include "websocket_frame.h"

#include <gtest/gtest.h>

#include <vector>

#include "test_util.h"

namespace micstream::server {
namespace {

using test::Bytes;

Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// RFC 6455 5.7: a masked "Hello" from a client, mask 37 fa 21 3d.
const Bytes kMaskedHello = test::from_hex("81 85 37 fa 21 3d 7f 9f 4d 51 58");

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
  Bytes stream = kMaskedHello;
  stream.insert(stream.end(), kMaskedHello.begin(), kMaskedHello.end());
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    WsClientFrameReader reader;
    std::vector<std::string> texts;
    for (auto part : {std::span(stream).first(split), std::span(stream).subspan(split)}) {
      std::span<const std::uint8_t> rest = part;
      while (!rest.empty()) {
        const auto step = reader.feed(rest);
        rest = rest.subspan(step.consumed);
        ASSERT_NE(step.status, WsClientFrameReader::Status::error) << reader.error();
        if (step.status == WsClientFrameReader::Status::frame) {
          EXPECT_EQ(reader.opcode(), WsOpcode::text);
          texts.emplace_back(reader.payload());
        }
      }
    }
    EXPECT_EQ(texts, (std::vector<std::string>{"Hello", "Hello"})) << "split " << split;
  }
}

TEST(WebSocketFrame, ReadsExtendedLengthsAndControlFrames) {
  // A 300-byte masked binary frame (16-bit length) with mask 00 00 00 00.
  Bytes frame = test::from_hex("82 fe 01 2c 00 00 00 00");
  frame.insert(frame.end(), 300, 'a');
  WsClientFrameReader reader;
  auto step = reader.feed(frame);
  ASSERT_EQ(step.status, WsClientFrameReader::Status::frame);
  EXPECT_EQ(step.consumed, frame.size());
  EXPECT_EQ(reader.payload(), std::string(300, 'a'));

  const Bytes ping = test::from_hex("89 80 01 02 03 04");  // empty masked ping
  ASSERT_EQ(reader.feed(ping).status, WsClientFrameReader::Status::frame);
  EXPECT_EQ(reader.opcode(), WsOpcode::ping);
  EXPECT_TRUE(reader.payload().empty());
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
      {"fragment", test::from_hex("01 85 37 fa 21 3d"), WsCloseCode::unsupported_data},
      {"continuation", test::from_hex("80 85 37 fa 21 3d"), WsCloseCode::unsupported_data},
      {"long ping", test::from_hex("89 fe 00 7e"), WsCloseCode::protocol_error},
      {"too big", test::from_hex("81 ff 00 00 00 01 00 00 00 00 00 00 00 00"), WsCloseCode::message_too_big},
  };
  for (const auto& c : cases) {
    WsClientFrameReader reader;
    const auto step = reader.feed(c.bytes);
    EXPECT_EQ(step.status, WsClientFrameReader::Status::error) << c.name;
    EXPECT_EQ(reader.error_close_code(), c.code) << c.name;
    EXPECT_NE(reader.error(), nullptr) << c.name;
    EXPECT_EQ(reader.feed(kMaskedHello).status, WsClientFrameReader::Status::error) << c.name << ": sticky";
  }
}

}  // namespace
}  // namespace micstream::server
