// Link protocol v1: every frame type round-trips, matches the test vectors of
// docs/protocol.md byte for byte, and every malformed field is refused with
// its own error.
#include "micstream/protocol.h"

#include <gtest/gtest.h>

#include <array>

#include "micstream/frame_parser.h"
#include "sample_messages.h"
#include "test_util.h"

namespace micstream::proto {
namespace {

using test::Bytes;

template <class Message>
Bytes encode_frame(const Message& m) {
  std::array<std::uint8_t, kMaxFrameSize> buffer{};
  auto r = encode(m, buffer);
  EXPECT_TRUE(r.ok()) << error_message(r.error);
  return Bytes(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(r.value));
}

// Parses a whole frame with the one parser and decodes its payload.
template <class Message>
Errc parse_and_decode(const Bytes& frame, Message& out, FrameType expected_type) {
  std::array<std::uint8_t, kMaxFrameSize> storage{};
  FrameParser parser(storage);
  auto step = parser.feed(frame);
  if (step.status == FrameParser::Status::error) return parser.error();
  EXPECT_EQ(step.status, FrameParser::Status::frame);
  EXPECT_EQ(step.consumed, frame.size());
  EXPECT_EQ(parser.frame().type, expected_type);
  return decode(parser.frame().payload, out);
}

const std::string& protocol_doc() {
  static const std::string doc = test::read_file(MICSTREAM_SOURCE_DIR "/docs/protocol.md");
  return doc;
}

// The doc's vector NAME must be exactly what the encoder writes for `m`.
template <class Message>
void expect_doc_vector(const std::string& name, const Message& m) {
  const Bytes encoded = encode_frame(m);
  EXPECT_EQ(test::doc_vector(protocol_doc(), name), encoded)
      << "docs/protocol.md vector '" << name << "' differs from the encoder, which writes:\n<!-- vector:" << name
      << " -->\n```\n" << test::to_hex(encoded) << "\n```";
}

TEST(Protocol, HelloRoundTripsAndMatchesDocVector) {
  const Hello m = test::sample_hello();
  Hello out;
  ASSERT_EQ(parse_and_decode(encode_frame(m), out, FrameType::hello), Errc::ok);
  EXPECT_EQ(out, m);
  expect_doc_vector("hello", m);
}

TEST(Protocol, WelcomeRoundTripsAndMatchesDocVector) {
  const Welcome m = test::sample_welcome();
  Welcome out;
  ASSERT_EQ(parse_and_decode(encode_frame(m), out, FrameType::welcome), Errc::ok);
  EXPECT_EQ(out, m);
  expect_doc_vector("welcome", m);
}

TEST(Protocol, AudioRoundTripsAndMatchesDocVector) {
  const Audio m = test::sample_audio();
  Audio out;
  ASSERT_EQ(parse_and_decode(encode_frame(m), out, FrameType::audio), Errc::ok);
  EXPECT_EQ(out.header, m.header);
  EXPECT_EQ(Bytes(out.payload.begin(), out.payload.end()), Bytes(m.payload.begin(), m.payload.end()));
  expect_doc_vector("audio", m);
}

TEST(Protocol, StatsRoundTripsAndMatchesDocVector) {
  const Stats m = test::sample_stats();
  Stats out;
  ASSERT_EQ(parse_and_decode(encode_frame(m), out, FrameType::stats), Errc::ok);
  EXPECT_EQ(out, m);
  expect_doc_vector("stats", m);
}

TEST(Protocol, PingPongRoundTripAndMatchDocVectors) {
  Ping ping;
  ASSERT_EQ(parse_and_decode(encode_frame(test::sample_ping()), ping, FrameType::ping), Errc::ok);
  EXPECT_EQ(ping, test::sample_ping());
  Pong pong;
  ASSERT_EQ(parse_and_decode(encode_frame(test::sample_pong()), pong, FrameType::pong), Errc::ok);
  EXPECT_EQ(pong, test::sample_pong());
  expect_doc_vector("ping", test::sample_ping());
  expect_doc_vector("pong", test::sample_pong());
}

TEST(Protocol, ErrorRoundTripsAndMatchesDocVector) {
  const ErrorMessage m = test::sample_error();
  ErrorMessage out;
  ASSERT_EQ(parse_and_decode(encode_frame(m), out, FrameType::error), Errc::ok);
  EXPECT_EQ(out, m);
  expect_doc_vector("error", m);
}

TEST(Protocol, ConfigRoundTripsAndMatchesDocVector) {
  const Config m = test::sample_config();
  Config out;
  ASSERT_EQ(parse_and_decode(encode_frame(m), out, FrameType::config), Errc::ok);
  EXPECT_EQ(out, m);
  expect_doc_vector("config", m);

  Config gain_only;
  gain_only.has_gain = true;
  gain_only.gain_cdb = -kMaxGainCentiDb;
  ASSERT_EQ(parse_and_decode(encode_frame(gain_only), out, FrameType::config), Errc::ok);
  EXPECT_EQ(out, gain_only);
}

TEST(Protocol, EveryFrameHasMagicVersionTypeAndLength) {
  const Bytes f = encode_frame(test::sample_ping());
  ASSERT_EQ(f.size(), kHeaderSize + 24);
  EXPECT_EQ(f[0], 'M');
  EXPECT_EQ(f[1], 'S');
  EXPECT_EQ(f[2], kVersion);
  EXPECT_EQ(f[3], static_cast<std::uint8_t>(FrameType::ping));
  EXPECT_EQ(f[4] | f[5] << 8 | f[6] << 16 | f[7] << 24, 24);
}

TEST(Protocol, EncodersRefuseBuffersTooSmall) {
  const Bytes whole = encode_frame(test::sample_hello());
  for (std::size_t size = 0; size < whole.size(); ++size) {
    Bytes small(size);
    EXPECT_EQ(encode(test::sample_hello(), small).error, Errc::buffer_too_small) << size;
  }
  Bytes exact(whole.size());
  EXPECT_TRUE(encode(test::sample_hello(), exact).ok());
  EXPECT_EQ(exact, whole);
}

TEST(Protocol, EncodersRefuseInvalidFields) {
  std::array<std::uint8_t, kMaxFrameSize> out{};
  Hello h = test::sample_hello();
  h.channels = 3;
  EXPECT_EQ(encode(h, out).error, Errc::invalid_value);
  h = test::sample_hello();
  h.sample_rate = 7999;
  EXPECT_EQ(encode(h, out).error, Errc::invalid_value);
  h = test::sample_hello();
  h.samples_per_frame = 0;
  EXPECT_EQ(encode(h, out).error, Errc::invalid_value);
  h = test::sample_hello();
  (void)h.device_id.assign("has space");
  EXPECT_EQ(encode(h, out).error, Errc::invalid_string);
  h = test::sample_hello();
  h.codec = static_cast<Codec>(9);
  EXPECT_EQ(encode(h, out).error, Errc::invalid_codec);

  Audio a = test::sample_audio();
  a.header.sample_count = 5;  // payload holds 4 PCM16 samples
  EXPECT_EQ(encode(a, out).error, Errc::payload_size_mismatch);

  Config c;
  c.has_gain = true;
  c.gain_cdb = kMaxGainCentiDb + 1;
  EXPECT_EQ(encode(c, out).error, Errc::invalid_value);

  ErrorMessage e;
  (void)e.reason.assign("line\nbreak");
  EXPECT_EQ(encode(e, out).error, Errc::invalid_string);
}

TEST(Protocol, AudioPrefixLeavesRoomForPayloadEncodedInPlace) {
  const Audio m = test::sample_audio();
  std::array<std::uint8_t, kMaxFrameSize> out{};
  auto prefix = encode_audio_prefix(m.header, m.payload.size(), out);
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(prefix.value, kHeaderSize + kAudioHeaderSize);
  std::copy(m.payload.begin(), m.payload.end(), out.begin() + static_cast<std::ptrdiff_t>(prefix.value));
  const Bytes whole(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(prefix.value + m.payload.size()));
  EXPECT_EQ(whole, encode_frame(m));

  std::array<std::uint8_t, kHeaderSize + kAudioHeaderSize + 7> short_buffer{};
  EXPECT_EQ(encode_audio_prefix(m.header, m.payload.size(), short_buffer).error, Errc::buffer_too_small);
}

// Payload-level errors: the frame header is fine, a field inside is not.
TEST(Protocol, DecodersReportFieldErrors) {
  Bytes hello = encode_frame(test::sample_hello());
  Bytes payload(hello.begin() + kHeaderSize, hello.end());
  Hello h;

  Bytes bad = payload;
  bad[0] = 0;  // codec 0
  EXPECT_EQ(decode(bad, h), Errc::invalid_codec);
  bad = payload;
  bad[1] = 0;  // channels 0
  EXPECT_EQ(decode(bad, h), Errc::invalid_value);
  bad = payload;
  bad[40] = 33;  // device id length beyond its limit
  EXPECT_EQ(decode(bad, h), Errc::truncated_field);
  bad = payload;
  bad[41] = ' ';  // forbidden character in the device id
  EXPECT_EQ(decode(bad, h), Errc::invalid_string);
  bad = payload;
  bad.push_back(0);
  EXPECT_EQ(decode(bad, h), Errc::trailing_bytes);
  for (std::size_t size = 0; size < payload.size(); ++size) {
    EXPECT_EQ(decode(std::span(payload).first(size), h), Errc::truncated_field) << size;
  }

  Bytes audio = encode_frame(test::sample_audio());
  Bytes audio_payload(audio.begin() + kHeaderSize, audio.end());
  Audio a;
  bad = audio_payload;
  bad.pop_back();
  EXPECT_EQ(decode(bad, a), Errc::payload_size_mismatch);
  bad = audio_payload;
  bad[20] = 0x7f;  // codec
  EXPECT_EQ(decode(bad, a), Errc::invalid_codec);
  bad = audio_payload;
  bad[22] = 0;  // sample count 0
  bad[23] = 0;
  EXPECT_EQ(decode(bad, a), Errc::invalid_value);

  Config c;
  EXPECT_EQ(decode(test::from_hex("08 00 00 00"), c), Errc::invalid_value);  // unknown flag bit
  ASSERT_EQ(decode(test::from_hex("04 00 00 00"), c), Errc::ok);
  EXPECT_TRUE(c.check_update);
  EXPECT_EQ(decode(test::from_hex("02 00 00 09"), c), Errc::invalid_codec);
  EXPECT_EQ(decode(test::from_hex("01 a1 0f 00"), c), Errc::invalid_value);  // +40.01 dB
  EXPECT_EQ(decode(test::from_hex("00 01 00 00"), c), Errc::invalid_value);  // gain bytes without the gain flag
  EXPECT_EQ(decode(test::from_hex("00 00 00 02"), c), Errc::invalid_value);  // codec byte without the codec flag

  ErrorMessage e;
  EXPECT_EQ(decode(test::from_hex("20 00 02 41"), e), Errc::truncated_field);
  EXPECT_EQ(decode(test::from_hex("20 00 01 07"), e), Errc::invalid_string);
  EXPECT_EQ(decode(test::from_hex("ff ff 00"), e), Errc::ok);  // unknown codes pass through
  EXPECT_FALSE(is_known_errc(static_cast<std::uint16_t>(e.code)));

  Ping p;
  EXPECT_EQ(decode(test::from_hex("01 00 00 00"), p), Errc::truncated_field);
}

TEST(Protocol, DeviceIdRules) {
  EXPECT_TRUE(is_valid_device_id("mic-01"));
  EXPECT_TRUE(is_valid_device_id("Kitchen_2.left"));
  EXPECT_TRUE(is_valid_device_id(std::string(32, 'a')));
  EXPECT_FALSE(is_valid_device_id(std::string(33, 'a')));
  EXPECT_FALSE(is_valid_device_id(""));
  EXPECT_FALSE(is_valid_device_id("a/b"));
  EXPECT_FALSE(is_valid_device_id("é"));
}

TEST(Protocol, EveryErrorCodeHasItsOwnMessage) {
  for (Errc e : {Errc::ok, Errc::bad_magic, Errc::unsupported_version, Errc::unknown_frame_type,
                 Errc::frame_too_large, Errc::bad_length_for_type, Errc::truncated_field, Errc::trailing_bytes,
                 Errc::invalid_string, Errc::invalid_codec, Errc::invalid_value, Errc::payload_size_mismatch,
                 Errc::buffer_too_small, Errc::auth_failed, Errc::unknown_device, Errc::unexpected_frame,
                 Errc::timeout, Errc::shutting_down, Errc::replaced, Errc::crypto_failure,
                 Errc::tls_required}) {
    EXPECT_TRUE(is_known_errc(static_cast<std::uint16_t>(e)));
    EXPECT_STRNE(error_message(e), error_message(static_cast<Errc>(0xFFFF)));
    EXPECT_STRNE(error_name(e), error_name(static_cast<Errc>(0xFFFF)));
  }
  EXPECT_FALSE(is_known_errc(17));
}

}  // namespace
}  // namespace micstream::proto
