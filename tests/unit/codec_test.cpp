// The codecs: exact bytes where a standard fixes them (PCM16, G.711), the WAV
// 0x11 block layout for IMA ADPCM, frame independence, a quality floor, and
// the errors of the dispatching entry points.
#include "micstream/codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "micstream/ima_adpcm.h"
#include "micstream/mulaw.h"
#include "micstream/pcm16.h"
#include "test_util.h"

namespace micstream {
namespace {

using test::Bytes;
using Samples = std::vector<std::int16_t>;

const std::string& protocol_doc() {
  static const std::string doc = test::read_file(MICSTREAM_SOURCE_DIR "/docs/protocol.md");
  return doc;
}

Samples tone(double hz, double amplitude, std::size_t count, std::uint32_t rate = 16000) {
  Samples s(count);
  for (std::size_t i = 0; i < count; ++i) {
    s[i] = static_cast<std::int16_t>(std::lround(amplitude * std::sin(2 * M_PI * hz * static_cast<double>(i) / rate)));
  }
  return s;
}

double snr_db(const Samples& reference, const Samples& decoded) {
  double signal = 0;
  double noise = 0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double r = reference[i];
    signal += r * r;
    const double e = r - decoded[i];
    noise += e * e;
  }
  return 10 * std::log10(signal / std::max(noise, 1e-9));
}

// Encodes `input` as frames of `frame` samples a channel and decodes each frame on its own.
Samples round_trip(Codec codec, unsigned channels, const Samples& input, std::size_t frame) {
  FrameEncoder encoder(codec, channels);
  Samples out;
  Bytes payload(encoded_size(codec, channels, frame));
  Samples decoded(frame * channels);
  for (std::size_t pos = 0; pos + frame * channels <= input.size(); pos += frame * channels) {
    auto e = encoder.encode(std::span(input).subspan(pos, frame * channels), payload);
    EXPECT_TRUE(e.ok());
    EXPECT_EQ(e.value, payload.size());
    auto d = decode_frame(codec, channels, frame, payload, decoded);
    EXPECT_TRUE(d.ok());
    out.insert(out.end(), decoded.begin(), decoded.end());
  }
  return out;
}

TEST(Pcm16, LittleEndianBytes) {
  const Samples s = {0, 1000, -1000, 32767, -32768};
  Bytes b(10);
  EXPECT_EQ(pcm16::encode(s, b).value, 10u);
  EXPECT_EQ(b, test::from_hex("0000 e803 18fc ff7f 0080"));
  Samples back(5);
  EXPECT_EQ(pcm16::decode(b, back).value, 5u);
  EXPECT_EQ(back, s);
}

TEST(Pcm16, ShortOutputOrOddInputIsRefusedAndNothingWritten) {
  const Samples s = {1, 2, 3};
  Bytes b(5, 0xAA);
  EXPECT_EQ(pcm16::encode(s, b).error, Errc::buffer_too_small);
  EXPECT_EQ(b, Bytes(5, 0xAA));
  Samples back(2, 7);
  EXPECT_EQ(pcm16::decode(test::from_hex("0100 0200 0300"), back).error, Errc::buffer_too_small);
  EXPECT_EQ(pcm16::decode(test::from_hex("0100 02"), back).error, Errc::payload_size_mismatch);
  EXPECT_EQ(back, Samples(2, 7));
}

TEST(Mulaw, ShortOutputIsRefusedAndNothingWritten) {
  const Samples s = {1, 2, 3};
  Bytes b(2, 0xAA);
  EXPECT_EQ(mulaw::encode(s, b).error, Errc::buffer_too_small);
  EXPECT_EQ(b, Bytes(2, 0xAA));
  Samples back(2, 7);
  EXPECT_EQ(mulaw::decode(test::from_hex("ff ff ff"), back).error, Errc::buffer_too_small);
  EXPECT_EQ(back, Samples(2, 7));
}

TEST(Mulaw, G711ReferenceValues) {
  EXPECT_EQ(mulaw::encode_sample(0), 0xFF);
  EXPECT_EQ(mulaw::encode_sample(-1), 0x7F);
  EXPECT_EQ(mulaw::encode_sample(32767), 0x80);
  EXPECT_EQ(mulaw::encode_sample(-32768), 0x00);
  EXPECT_EQ(mulaw::decode_sample(0xFF), 0);
  EXPECT_EQ(mulaw::decode_sample(0x80), 32124);
  EXPECT_EQ(mulaw::decode_sample(0x00), -32124);
  EXPECT_EQ(mulaw::decode_sample(0xF0), 120);  // top of segment 0
}

TEST(Mulaw, EveryCodeSurvivesDecodeThenEncode) {
  for (int code = 0; code < 256; ++code) {
    const auto c = static_cast<std::uint8_t>(code);
    const std::uint8_t again = mulaw::encode_sample(mulaw::decode_sample(c));
    if (c == 0x7F) {
      EXPECT_EQ(again, 0xFF) << "negative zero encodes as positive zero";
    } else {
      EXPECT_EQ(again, c) << code;
    }
  }
}

TEST(Mulaw, DocVector) {
  const Samples s = {0, 1000, -1000, 32767, -32768, 100, -100, 5000};
  Bytes b(s.size());
  EXPECT_EQ(mulaw::encode(s, b).value, s.size());
  EXPECT_EQ(test::doc_vector(protocol_doc(), "mulaw"), b) << "encoder writes:\n" << test::to_hex(b);
}

TEST(ImaAdpcm, WavBlockGeometry) {
  // The sizes WAV writers use: samples per block = (align - 4ch) * 8 / (4ch) + 1.
  EXPECT_EQ(ima_adpcm::samples_per_block(1, 256), 505u);
  EXPECT_EQ(ima_adpcm::samples_per_block(1, 512), 1017u);
  EXPECT_EQ(ima_adpcm::samples_per_block(1, 1024), 2041u);
  EXPECT_EQ(ima_adpcm::samples_per_block(2, 2048), 2041u);
  EXPECT_EQ(ima_adpcm::samples_per_block(1, 255), 0u);
  EXPECT_EQ(ima_adpcm::samples_per_block(3, 1024), 0u);
  EXPECT_EQ(ima_adpcm::block_size(1, 505), 256u);
  EXPECT_EQ(ima_adpcm::block_size(2, 2041), 2048u);
  // A 20 ms frame at 16 kHz: the first sample in the header, 319 nibbles padded to 320.
  EXPECT_EQ(ima_adpcm::block_size(1, 320), 4u + 160u);
  EXPECT_EQ(ima_adpcm::block_size(1, 1), 4u);
  EXPECT_EQ(ima_adpcm::block_size(0, 10), 0u);
}

TEST(ImaAdpcm, DecodesAHandMadeBlock) {
  // Predictor 100, step index 0 (step 7), then nibbles 7 and 0xF, 0 ... :
  // code 7 adds 7/8 + 7 + 7/2 + 7/4 = 0 + 7 + 3 + 1 = 11 -> 111, index 0 + 8 = 8 (step 16);
  // code 0xF subtracts 16/8 + 16 + 8 + 4 = 30 -> 81, index 16.
  const Bytes block = test::from_hex("64 00 00 00  f7 00 00 00");
  Samples out(9);
  auto r = ima_adpcm::decode_block(block, 1, 9, out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, 9u);
  EXPECT_EQ(out[0], 100);
  EXPECT_EQ(out[1], 111);
  EXPECT_EQ(out[2], 81);
}

TEST(ImaAdpcm, DocVector) {
  const Samples s = tone(1000, 8000, 17);
  std::uint8_t index[1] = {0};
  Bytes b(ima_adpcm::block_size(1, s.size()));
  ASSERT_TRUE(ima_adpcm::encode_block(s, 1, index, b).ok());
  EXPECT_EQ(test::doc_vector(protocol_doc(), "ima-adpcm"), b) << "encoder writes:\n" << test::to_hex(b);
}

TEST(ImaAdpcm, StereoInterleavesGroupsOfEightByChannel) {
  // Left rises, right falls: after the headers, 4 bytes of left nibbles, then 4 of right.
  Samples s;
  for (int i = 0; i < 9; ++i) {
    s.push_back(static_cast<std::int16_t>(i * 2000));
    s.push_back(static_cast<std::int16_t>(-i * 2000));
  }
  std::uint8_t index[2] = {20, 20};
  Bytes b(ima_adpcm::block_size(2, 9));
  ASSERT_EQ(b.size(), 16u);
  ASSERT_TRUE(ima_adpcm::encode_block(s, 2, index, b).ok());
  for (int i = 8; i < 12; ++i) EXPECT_EQ(b[i] & 0x88, 0) << "left nibbles are positive steps";
  for (int i = 12; i < 16; ++i) EXPECT_EQ(b[i] & 0x88, 0x88) << "right nibbles are negative steps";
  Samples out(18);
  ASSERT_TRUE(ima_adpcm::decode_block(b, 2, 9, out).ok());
  EXPECT_GT(out[16], 8000);
  EXPECT_LT(out[17], -8000);
}

TEST(ImaAdpcm, RefusesBadBlocks) {
  Samples out(320);
  Bytes block(ima_adpcm::block_size(1, 320));
  block[2] = 89;  // step index beyond the table
  EXPECT_EQ(ima_adpcm::decode_block(block, 1, 320, out).error, Errc::invalid_value);
  block[2] = 88;
  EXPECT_TRUE(ima_adpcm::decode_block(block, 1, 320, out).ok());
  EXPECT_EQ(ima_adpcm::decode_block(std::span(block).first(block.size() - 1), 1, 320, out).error,
            Errc::payload_size_mismatch);
  EXPECT_EQ(ima_adpcm::decode_block(block, 1, 320, std::span(out).first(319)).error, Errc::buffer_too_small);
}

TEST(Codecs, NamesRoundTrip) {
  for (Codec c : {Codec::pcm16, Codec::mulaw, Codec::ima_adpcm}) {
    Codec parsed{};
    ASSERT_TRUE(codec_from_name(codec_name(c), parsed));
    EXPECT_EQ(parsed, c);
  }
  Codec unused{};
  EXPECT_FALSE(codec_from_name("opus", unused));
  EXPECT_FALSE(is_valid_codec(0));
  EXPECT_FALSE(is_valid_codec(4));
}

TEST(Codecs, EncodedSizes) {
  EXPECT_EQ(encoded_size(Codec::pcm16, 1, 320), 640u);
  EXPECT_EQ(encoded_size(Codec::pcm16, 2, 320), 1280u);
  EXPECT_EQ(encoded_size(Codec::mulaw, 1, 320), 320u);
  EXPECT_EQ(encoded_size(Codec::ima_adpcm, 1, 320), 164u);
  EXPECT_EQ(encoded_size(Codec::ima_adpcm, 2, 320), 328u);
  EXPECT_EQ(encoded_size(Codec::pcm16, 3, 320), 0u);
  EXPECT_EQ(encoded_size(Codec::mulaw, 1, 0), 0u);
}

TEST(Codecs, Pcm16IsLossless) {
  const Samples in = tone(440, 30000, 3200);
  EXPECT_EQ(round_trip(Codec::pcm16, 1, in, 320), in);
}

TEST(Codecs, QualityFloorOnA1kHzTone) {
  const Samples in = tone(1000, 16384, 16000);  // -6 dBFS
  const double mulaw_snr = snr_db(in, round_trip(Codec::mulaw, 1, in, 320));
  const double adpcm_snr = snr_db(in, round_trip(Codec::ima_adpcm, 1, in, 320));
  EXPECT_GE(mulaw_snr, 35.0);
  EXPECT_GE(adpcm_snr, 20.0);
  std::cout << "1 kHz -6 dBFS, 20 ms frames: mu-law SNR " << mulaw_snr << " dB, IMA ADPCM SNR " << adpcm_snr
            << " dB\n";
}

TEST(Codecs, StereoRoundTripKeepsChannelsApart) {
  const Samples left = tone(500, 12000, 3200);
  const Samples right = tone(1500, 12000, 3200);
  Samples in;
  for (std::size_t i = 0; i < left.size(); ++i) {
    in.push_back(left[i]);
    in.push_back(right[i]);
  }
  EXPECT_EQ(round_trip(Codec::pcm16, 2, in, 160), in);
  EXPECT_GE(snr_db(in, round_trip(Codec::mulaw, 2, in, 160)), 35.0);
  EXPECT_GE(snr_db(in, round_trip(Codec::ima_adpcm, 2, in, 160)), 20.0);
}

TEST(Codecs, EachFrameDecodesOnItsOwn) {
  // Decoding frame 2 after a corrupted frame 1 (or with no frame before it at
  // all) gives exactly the samples it gives in sequence: a lost frame costs
  // that frame only.
  const Samples in = tone(1000, 16000, 960);
  for (Codec codec : {Codec::pcm16, Codec::mulaw, Codec::ima_adpcm}) {
    FrameEncoder encoder(codec, 1);
    std::vector<Bytes> frames;
    for (std::size_t pos = 0; pos < in.size(); pos += 320) {
      Bytes payload(encoded_size(codec, 1, 320));
      ASSERT_TRUE(encoder.encode(std::span(in).subspan(pos, 320), payload).ok());
      frames.push_back(payload);
    }
    Samples in_sequence(320);
    Samples alone(320);
    Samples scratch(320);
    ASSERT_TRUE(decode_frame(codec, 1, 320, frames[0], scratch).ok());
    ASSERT_TRUE(decode_frame(codec, 1, 320, frames[1], scratch).ok());
    ASSERT_TRUE(decode_frame(codec, 1, 320, frames[2], in_sequence).ok());
    ASSERT_TRUE(decode_frame(codec, 1, 320, frames[2], alone).ok());
    EXPECT_EQ(alone, in_sequence) << codec_name(codec);
  }
}

TEST(Codecs, EncoderCarriesTheAdpcmStepIndexAcrossFrames) {
  // A loud tone drives the step index up in frame 1; frame 2 starts from there
  // instead of from 0, so it has no slow start.
  const Samples in = tone(1000, 20000, 640);
  FrameEncoder encoder(Codec::ima_adpcm, 1);
  Bytes payload(encoded_size(Codec::ima_adpcm, 1, 320));
  ASSERT_TRUE(encoder.encode(std::span(in).first(320), payload).ok());
  EXPECT_EQ(payload[2], 0);
  ASSERT_TRUE(encoder.encode(std::span(in).last(320), payload).ok());
  EXPECT_GT(payload[2], 40);
}

TEST(Codecs, SwitchingCodecTakesEffectNextFrame) {
  const Samples in = tone(1000, 20000, 320);
  FrameEncoder encoder(Codec::pcm16, 1);
  Bytes payload(640);
  EXPECT_EQ(encoder.encode(in, payload).value, 640u);
  encoder.set_codec(Codec::mulaw);
  EXPECT_EQ(encoder.encode(in, payload).value, 320u);
  EXPECT_EQ(encoder.codec(), Codec::mulaw);
}

TEST(Codecs, EntryPointErrors) {
  const Samples in(320);
  Bytes out(639);
  FrameEncoder encoder(Codec::pcm16, 1);
  EXPECT_EQ(encoder.encode(in, out).error, Errc::buffer_too_small);
  EXPECT_EQ(encoder.encode({}, out).error, Errc::invalid_value);
  FrameEncoder stereo(Codec::pcm16, 2);
  EXPECT_EQ(stereo.encode(std::span(in).first(3), out).error, Errc::invalid_value);
  Samples decoded(320);
  EXPECT_EQ(decode_frame(Codec::mulaw, 1, 320, std::span(out).first(319), decoded).error,
            Errc::payload_size_mismatch);
  EXPECT_EQ(decode_frame(Codec::mulaw, 1, 320, std::span(out).first(320), std::span(decoded).first(10)).error,
            Errc::buffer_too_small);
  EXPECT_EQ(decode_frame(static_cast<Codec>(0), 1, 320, out, decoded).error, Errc::invalid_value);
}

}  // namespace
}  // namespace micstream
