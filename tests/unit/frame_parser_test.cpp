// The incremental parser, fed the way TCP delivers: split at every byte
// position, in random pieces, many frames in one read. Every malformed header
// is refused with its own error at the first byte that shows it.
#include "micstream/frame_parser.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "sample_messages.h"
#include "test_util.h"

namespace micstream::proto {
namespace {

using test::Bytes;
using Status = FrameParser::Status;

template <class Message>
Bytes frame_of(const Message& m) {
  std::array<std::uint8_t, kMaxFrameSize> buffer{};
  auto r = encode(m, buffer);
  EXPECT_TRUE(r.ok());
  return Bytes(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(r.value));
}

// One frame of every type, back to back.
Bytes stream_of_every_type(std::vector<Bytes>* frames = nullptr) {
  std::vector<Bytes> all = {frame_of(test::sample_welcome()), frame_of(test::sample_hello()),
                            frame_of(test::sample_audio()),   frame_of(test::sample_stats()),
                            frame_of(test::sample_ping()),    frame_of(test::sample_pong()),
                            frame_of(test::sample_error()),   frame_of(test::sample_config())};
  Bytes stream;
  for (const auto& f : all) stream.insert(stream.end(), f.begin(), f.end());
  if (frames) *frames = all;
  return stream;
}

struct Collected {
  std::vector<Bytes> frames;  // header + payload, rebuilt from what the parser reported
  Errc error = Errc::ok;
};

// Feeds `stream` in pieces whose sizes come from `next_piece`, as a caller would.
template <class PieceSize>
Collected feed_in_pieces(const Bytes& stream, PieceSize next_piece, std::size_t storage_size = kMaxFrameSize) {
  std::vector<std::uint8_t> storage(storage_size);
  FrameParser parser(storage);
  Collected out;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    const std::size_t piece = std::min(next_piece(), stream.size() - pos);
    // An exact-size copy, so ASan catches any read past the piece.
    const Bytes chunk(stream.begin() + static_cast<std::ptrdiff_t>(pos),
                      stream.begin() + static_cast<std::ptrdiff_t>(pos + piece));
    std::span<const std::uint8_t> rest(chunk);
    while (!rest.empty()) {
      const auto step = parser.feed(rest);
      EXPECT_LE(step.consumed, rest.size());
      rest = rest.subspan(step.consumed);
      if (step.status == Status::error) {
        out.error = parser.error();
        return out;
      }
      if (step.status == Status::frame) {
        const FrameView& f = parser.frame();
        Bytes whole = {'M', 'S', kVersion, static_cast<std::uint8_t>(f.type)};
        const auto n = static_cast<std::uint32_t>(f.payload.size());
        whole.insert(whole.end(), {static_cast<std::uint8_t>(n), static_cast<std::uint8_t>(n >> 8),
                                   static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 24)});
        whole.insert(whole.end(), f.payload.begin(), f.payload.end());
        out.frames.push_back(whole);
        EXPECT_TRUE(parser.idle());
      } else {
        EXPECT_TRUE(rest.empty()) << "need_more must consume everything";
      }
    }
    pos += piece;
  }
  return out;
}

TEST(FrameParser, ManyFramesInOneRead) {
  std::vector<Bytes> expected;
  const Bytes stream = stream_of_every_type(&expected);
  const Collected got = feed_in_pieces(stream, [&] { return stream.size(); });
  EXPECT_EQ(got.error, Errc::ok);
  EXPECT_EQ(got.frames, expected);
}

TEST(FrameParser, OneByteAtATime) {
  std::vector<Bytes> expected;
  const Bytes stream = stream_of_every_type(&expected);
  const Collected got = feed_in_pieces(stream, [] { return std::size_t{1}; });
  EXPECT_EQ(got.error, Errc::ok);
  EXPECT_EQ(got.frames, expected);
}

TEST(FrameParser, SplitAtEveryBytePosition) {
  std::vector<Bytes> expected;
  const Bytes stream = stream_of_every_type(&expected);
  for (std::size_t split = 1; split < stream.size(); ++split) {
    bool first = true;
    const Collected got = feed_in_pieces(stream, [&] {
      const std::size_t n = first ? split : stream.size();
      first = false;
      return n;
    });
    ASSERT_EQ(got.error, Errc::ok) << "split " << split;
    ASSERT_EQ(got.frames, expected) << "split " << split;
  }
}

TEST(FrameParser, RandomSplits) {
  std::vector<Bytes> expected;
  const Bytes stream = stream_of_every_type(&expected);
  test::Xorshift32 rng(12345);
  for (int round = 0; round < 500; ++round) {
    const Collected got = feed_in_pieces(stream, [&] { return std::size_t{1} + rng.below(64); });
    ASSERT_EQ(got.error, Errc::ok) << "round " << round;
    ASSERT_EQ(got.frames, expected) << "round " << round;
  }
}

TEST(FrameParser, LargestAudioFrame) {
  std::vector<std::uint8_t> payload(kMaxPayload - kAudioHeaderSize);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 7);
  Audio a;
  a.header.codec = Codec::pcm16;
  a.header.channels = 2;
  a.header.sample_count = static_cast<std::uint16_t>(payload.size() / 4);
  a.payload = payload;
  const Bytes frame = frame_of(a);
  ASSERT_EQ(frame.size(), kMaxFrameSize);
  test::Xorshift32 rng(99);
  const Collected got = feed_in_pieces(frame, [&] { return std::size_t{1} + rng.below(1460); });
  ASSERT_EQ(got.frames.size(), 1u);
  EXPECT_EQ(got.frames[0], frame);
}

struct BadHeaderCase {
  const char* name;
  Bytes bytes;
  Errc error;
  std::size_t refused_at;  // bytes consumed when the error is reported
};

TEST(FrameParser, RefusesBadHeadersAtTheFirstWrongByte) {
  const std::vector<BadHeaderCase> cases = {
      {"garbage", test::from_hex("47 45 54 20 2f"), Errc::bad_magic, 1},  // "GET /"
      {"second magic byte", test::from_hex("4d 00"), Errc::bad_magic, 2},
      {"version 0", test::from_hex("4d 53 00 05"), Errc::unsupported_version, 3},
      {"version 2", test::from_hex("4d 53 02 05"), Errc::unsupported_version, 3},
      {"type 0", test::from_hex("4d 53 01 00"), Errc::unknown_frame_type, 4},
      {"type 9", test::from_hex("4d 53 01 09 18 00 00 00"), Errc::unknown_frame_type, 4},
      {"length 4 GiB", test::from_hex("4d 53 01 03 ff ff ff ff"), Errc::frame_too_large, 8},
      {"length max+1", test::from_hex("4d 53 01 03 01 40 00 00"), Errc::frame_too_large, 8},
      {"ping too short", test::from_hex("4d 53 01 05 17 00 00 00"), Errc::bad_length_for_type, 8},
      {"ping too long", test::from_hex("4d 53 01 05 19 00 00 00"), Errc::bad_length_for_type, 8},
      {"audio without payload", test::from_hex("4d 53 01 03 18 00 00 00"), Errc::bad_length_for_type, 8},
      {"empty error", test::from_hex("4d 53 01 07 00 00 00 00"), Errc::bad_length_for_type, 8},
  };
  for (const auto& c : cases) {
    std::array<std::uint8_t, kMaxFrameSize> storage{};
    FrameParser parser(storage);
    Bytes input = c.bytes;
    input.resize(input.size() + 32, 0xAB);  // more bytes follow; the parser must stop at the error
    const auto step = parser.feed(input);
    EXPECT_EQ(step.status, Status::error) << c.name;
    EXPECT_EQ(parser.error(), c.error) << c.name << ": " << error_message(parser.error());
    EXPECT_EQ(step.consumed, c.refused_at) << c.name;
    // The error is sticky: nothing more is consumed until reset().
    EXPECT_EQ(parser.feed(input).consumed, 0u) << c.name;
    parser.reset();
    EXPECT_EQ(parser.error(), Errc::ok);
  }
}

TEST(FrameParser, ErrorAfterGoodFramesKeepsThem) {
  std::vector<Bytes> expected;
  Bytes stream = stream_of_every_type(&expected);
  stream.insert(stream.end(), {0x4d, 0x53, 0x07});  // a third frame starts with version 7
  for (std::size_t piece : {std::size_t{1}, std::size_t{5}, stream.size()}) {
    const Collected got = feed_in_pieces(stream, [&] { return piece; });
    EXPECT_EQ(got.frames, expected);
    EXPECT_EQ(got.error, Errc::unsupported_version);
  }
}

TEST(FrameParser, TruncatedFrameWaitsForMore) {
  const Bytes frame = frame_of(test::sample_stats());
  std::array<std::uint8_t, kMaxFrameSize> storage{};
  FrameParser parser(storage);
  const auto step = parser.feed(std::span(frame).first(frame.size() - 1));
  EXPECT_EQ(step.status, Status::need_more);
  EXPECT_FALSE(parser.idle());
  const auto last = parser.feed(std::span(frame).last(1));
  EXPECT_EQ(last.status, Status::frame);
  EXPECT_EQ(parser.frame().type, FrameType::stats);
}

TEST(FrameParser, SmallStorageSetsTheLargestPayload) {
  // A device that only receives small frames parses with a small buffer.
  const Bytes config = frame_of(test::sample_config());
  const Collected ok = feed_in_pieces(config, [] { return std::size_t{3}; }, 64);
  ASSERT_EQ(ok.frames.size(), 1u);
  const Bytes audio = frame_of(test::sample_audio());  // 8 + 24 + 8 bytes
  const Collected refused = feed_in_pieces(audio, [] { return std::size_t{100}; }, 39);
  EXPECT_EQ(refused.error, Errc::frame_too_large);
  std::array<std::uint8_t, 4> tiny{};
  FrameParser unusable(tiny);
  EXPECT_EQ(unusable.feed(config).status, Status::error);
  EXPECT_EQ(unusable.error(), Errc::buffer_too_small);
}

}  // namespace
}  // namespace micstream::proto
