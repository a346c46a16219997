// The listener WebSocket's binary audio message (core's listener_audio.h)
// against docs/protocol.md's vector:listener-audio, and every limit refused.
#include "micstream/listener_audio.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "test_util.h"

namespace micstream::listener {
namespace {

using Bytes = std::vector<std::uint8_t>;

const Bytes& doc_vector() {
  static const Bytes v =
      test::doc_vector(test::read_file(MICSTREAM_SOURCE_DIR "/docs/protocol.md"), "listener-audio");
  return v;
}

// What the doc's vector says in words.
const Bytes kPayload = {0x00, 0x00, 0xe8, 0x03, 0x18, 0xfc, 0xff, 0x7f};  // PCM16 0, 1000, -1000, 32767
Audio documented() {
  Audio a;
  a.codec = ListenerCodec::pcm16;
  a.channels = 1;
  a.sequence = 7;
  a.first_sample = 2240;
  a.capture_server_us = 1'763'999'995'141'010;
  a.sample_rate = 16000;
  a.sample_count = 4;
  a.payload = kPayload;
  return a;
}

Bytes message_of(const Audio& a) {
  Bytes m(kAudioHeaderSize);
  EXPECT_EQ(encode_audio_header(a, std::span<std::uint8_t, kAudioHeaderSize>(m.data(), kAudioHeaderSize)), Errc::ok);
  m.insert(m.end(), a.payload.begin(), a.payload.end());
  return m;
}

TEST(ListenerAudio, TheEncoderWritesTheDocVector) {
  ASSERT_EQ(doc_vector().size(), kAudioHeaderSize + kPayload.size()) << "docs/protocol.md has no vector:listener-audio";
  EXPECT_EQ(message_of(documented()), doc_vector()) << "the encoder writes:\n" << test::to_hex(message_of(documented()));
}

TEST(ListenerAudio, TheDecoderReadsTheDocVector) {
  Audio a;
  ASSERT_EQ(decode_audio(doc_vector(), a), Errc::ok);
  const Audio d = documented();
  EXPECT_EQ(a.codec, d.codec);
  EXPECT_EQ(a.channels, d.channels);
  EXPECT_EQ(a.sequence, d.sequence);
  EXPECT_EQ(a.first_sample, d.first_sample);
  EXPECT_EQ(a.capture_server_us, d.capture_server_us);
  EXPECT_EQ(a.sample_rate, d.sample_rate);
  EXPECT_EQ(a.sample_count, d.sample_count);
  EXPECT_EQ(Bytes(a.payload.begin(), a.payload.end()), kPayload);
}

TEST(ListenerAudio, TheHeaderAloneDecodesWithThePayloadSizeItAnnounces) {
  const Bytes m = doc_vector();
  ASSERT_EQ(m.size(), kAudioHeaderSize + kPayload.size());
  const std::span<const std::uint8_t, kAudioHeaderSize> header(m.data(), kAudioHeaderSize);
  Audio a;
  ASSERT_EQ(decode_audio_header(header, kPayload.size(), a), Errc::ok);
  EXPECT_EQ(a.sequence, documented().sequence);
  EXPECT_EQ(a.capture_server_us, documented().capture_server_us);
  EXPECT_TRUE(a.payload.empty());
  EXPECT_EQ(decode_audio_header(header, kPayload.size() + 1, a), Errc::payload_size_mismatch);
}

TEST(ListenerAudio, EveryLimitIsRefusedBothWays) {
  struct Case {
    const char* what;
    std::size_t offset;
    std::uint8_t value;
    Errc expected;
  };
  for (const Case c : {Case{"kind 2", 0, 2, Errc::invalid_value}, Case{"codec 0", 1, 0, Errc::invalid_codec},
                       Case{"codec 5", 1, 5, Errc::invalid_codec}, Case{"Opus at 16 kHz", 1, 4, Errc::invalid_value},
                       Case{"0 channels", 2, 0, Errc::invalid_value}, Case{"3 channels", 2, 3, Errc::invalid_value},
                       Case{"reserved byte 3", 3, 1, Errc::invalid_value},
                       Case{"7,999 Hz", 24, 0x3f, Errc::invalid_value},  // 0x1f3f
                       Case{"0 samples", 28, 0, Errc::invalid_value}, Case{"5 samples", 28, 5, Errc::payload_size_mismatch},
                       Case{"reserved byte 30", 30, 1, Errc::invalid_value}}) {
    Bytes m = doc_vector();
    ASSERT_FALSE(m.empty());
    m[c.offset] = c.value;
    if (c.offset == 24) m[25] = 0x1f;
    Audio a;
    EXPECT_EQ(decode_audio(m, a), c.expected) << c.what;
  }
  Audio a;
  EXPECT_EQ(decode_audio(std::span(doc_vector()).first(31), a), Errc::truncated_field);
  EXPECT_EQ(decode_audio(std::span(doc_vector()).first(39), a), Errc::payload_size_mismatch);

  std::array<std::uint8_t, kAudioHeaderSize> header{};
  Audio bad = documented();
  bad.sample_rate = 48001;
  EXPECT_EQ(encode_audio_header(bad, header), Errc::invalid_value);
  bad = documented();
  bad.channels = 2;  // 4 samples of stereo PCM16 need 16 bytes
  EXPECT_EQ(encode_audio_header(bad, header), Errc::payload_size_mismatch);
  bad = documented();
  const Bytes big(2 * 8181, 0);
  bad.payload = big;
  bad.sample_count = 8181;  // one more than a frame holds
  EXPECT_EQ(encode_audio_header(bad, header), Errc::invalid_value);
}

// vector:listener-opus: one 20 ms Opus packet (f8 ff fe, the encoder's
// packet for silence, mono) as an Opus listener gets it.
const Bytes kOpusPacket = {0xf8, 0xff, 0xfe};
Audio documented_opus() {
  Audio a;
  a.codec = ListenerCodec::opus;
  a.channels = 1;
  a.sequence = 12;
  a.first_sample = 11520;
  a.capture_server_us = 1'763'999'995'141'010;
  a.sample_rate = kOpusSampleRate;
  a.sample_count = kOpusPacketSamples;
  a.payload = kOpusPacket;
  return a;
}

TEST(ListenerAudio, AnOpusMessageIsTheDocVectorBothWays) {
  const Bytes v = test::doc_vector(test::read_file(MICSTREAM_SOURCE_DIR "/docs/protocol.md"), "listener-opus");
  ASSERT_EQ(v.size(), kAudioHeaderSize + kOpusPacket.size()) << "docs/protocol.md has no vector:listener-opus";
  EXPECT_EQ(message_of(documented_opus()), v) << "the encoder writes:\n" << test::to_hex(message_of(documented_opus()));
  Audio a;
  ASSERT_EQ(decode_audio(v, a), Errc::ok);
  EXPECT_EQ(a.codec, ListenerCodec::opus);
  EXPECT_EQ(a.first_sample, 11520u);
  EXPECT_EQ(a.sample_rate, 48000u);
  EXPECT_EQ(a.sample_count, 960u);
  EXPECT_EQ(Bytes(a.payload.begin(), a.payload.end()), kOpusPacket);
  Codec device = Codec::pcm16;
  EXPECT_FALSE(device_codec(a.codec, device));
  EXPECT_STREQ(listener_codec_name(a.codec), "opus");
}

TEST(ListenerAudio, OpusLimitsAreRefused) {
  std::array<std::uint8_t, kAudioHeaderSize> header{};
  Audio bad = documented_opus();
  bad.sample_rate = 16000;  // Opus decodes to 48 kHz
  EXPECT_EQ(encode_audio_header(bad, header), Errc::invalid_value);
  bad = documented_opus();
  bad.sample_count = 320;  // the server's packets are 20 ms
  EXPECT_EQ(encode_audio_header(bad, header), Errc::invalid_value);
  bad = documented_opus();
  bad.channels = 3;
  EXPECT_EQ(encode_audio_header(bad, header), Errc::invalid_value);
  bad = documented_opus();
  bad.payload = {};
  EXPECT_EQ(encode_audio_header(bad, header), Errc::payload_size_mismatch);
  const Bytes huge(kMaxOpusPacketBytes + 1, 0);
  bad.payload = huge;
  EXPECT_EQ(encode_audio_header(bad, header), Errc::payload_size_mismatch);
  const Bytes largest(kMaxOpusPacketBytes, 0);
  bad.payload = largest;
  EXPECT_EQ(encode_audio_header(bad, header), Errc::ok);
}

}  // namespace
}  // namespace micstream::listener
