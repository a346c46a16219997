// The standard streams (docs/server.md "Standard streams"): GET
// /stream/<id>.wav, .opus and .mp3 against the real server, fed by test
// devices. What a player receives is checked byte by byte (WAV), page by page
// (Ogg Opus) and frame by frame (MP3); what external players (ffmpeg, VLC)
// hear of them is tests/streams/'s.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "harness.h"
#include "http_stream_reader.h"
#include "micstream/byte_io.h"
#include "micstream/codec.h"
#include "test_device.h"
#include "ws_listener.h"

#ifndef MICSTREAM_SERVER_BINARY
#error "MICSTREAM_SERVER_BINARY must name the micstream-server executable"
#endif

namespace micstream::itest {
namespace {

constexpr std::size_t kWavHeaderBytes = 44;

DeviceParams mic(Codec codec = Codec::pcm16, std::uint8_t channels = 1, std::uint16_t samples = 320,
                 std::uint32_t rate = 16000) {
  DeviceParams p;
  p.id = "mic-01";
  p.secret = "secret-01";
  p.codec = codec;
  p.channels = channels;
  p.samples_per_frame = samples;
  p.sample_rate = rate;
  return p;
}

/// The PCM16 (little-endian bytes) a frame's payload decodes to, by core's decoder.
std::string decoded_pcm(const SentFrame& frame) {
  std::vector<std::int16_t> pcm(std::size_t{frame.header.sample_count} * frame.header.channels);
  const auto n = decode_frame(frame.header.codec, frame.header.channels, frame.header.sample_count, frame.payload, pcm);
  EXPECT_TRUE(n.ok());
  std::string bytes(n.value * 2, '\0');
  ByteWriter w({reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size()});
  for (std::size_t i = 0; i < n.value; ++i) w.i16(pcm[i]);
  return bytes;
}

/// The Ogg CRC (RFC 3533: polynomial 0x04C11DB7, not reflected, zero start) of a page with its CRC field zeroed.
std::uint32_t ogg_crc(std::string page) {
  page.replace(22, 4, 4, '\0');
  std::uint32_t crc = 0;
  for (const char c : page) {
    crc ^= std::uint32_t{static_cast<unsigned char>(c)} << 24;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04C11DB7u : crc << 1;
  }
  return crc;
}

struct OggPage {
  std::uint8_t header_type = 0;
  std::uint64_t granule = 0;
  std::uint32_t serial = 0;
  std::uint32_t sequence = 0;
  bool crc_ok = false;
  std::string body;
};

/// Splits an Ogg byte stream into pages; stops at the first incomplete one. Throws on a page without "OggS".
std::vector<OggPage> ogg_pages(std::string_view bytes) {
  std::vector<OggPage> pages;
  std::size_t at = 0;
  while (bytes.size() - at >= 27) {
    if (bytes.substr(at, 4) != "OggS") throw std::runtime_error("no OggS at byte " + std::to_string(at));
    ByteReader r({reinterpret_cast<const std::uint8_t*>(bytes.data()) + at, bytes.size() - at});
    r.bytes(4);
    r.u8();  // version
    OggPage page;
    page.header_type = r.u8();
    page.granule = r.u64();
    page.serial = r.u32();
    page.sequence = r.u32();
    const std::uint32_t crc = r.u32();
    const std::uint8_t segments = r.u8();
    std::size_t body = 0;
    for (unsigned i = 0; i < segments; ++i) body += r.u8();
    if (r.failed() || r.remaining() < body) break;
    const std::size_t header = 27 + segments;
    page.body = std::string(bytes.substr(at + header, body));
    page.crc_ok = ogg_crc(std::string(bytes.substr(at, header + body))) == crc;
    pages.push_back(std::move(page));
    at += header + body;
  }
  return pages;
}

struct Mp3Frame {
  unsigned kbps = 0;
  unsigned sample_rate = 0;
  bool mono = false;
  unsigned samples = 0;  ///< a channel
};

/// Walks MP3 frames laid end to end (ISO 11172-3 / 13818-3 layer III headers);
/// stops at the first incomplete one. Throws where no frame header is.
std::vector<Mp3Frame> mp3_frames(std::string_view bytes) {
  static constexpr unsigned kMpeg1Kbps[] = {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320};
  static constexpr unsigned kMpeg2Kbps[] = {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160};
  static constexpr unsigned kRates[4][3] = {{11025, 12000, 8000}, {0, 0, 0}, {22050, 24000, 16000}, {44100, 48000, 32000}};
  std::vector<Mp3Frame> frames;
  std::size_t at = 0;
  while (bytes.size() - at >= 4) {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(bytes[at + i]); };
    if (b(0) != 0xFF || (b(1) & 0xE0) != 0xE0 || ((b(1) >> 1) & 3) != 1) {
      throw std::runtime_error("no layer III frame header at byte " + std::to_string(at));
    }
    const unsigned version = (b(1) >> 3) & 3;  // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    const unsigned bitrate_index = b(2) >> 4;
    const unsigned rate_index = (b(2) >> 2) & 3;
    if (version == 1 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3) {
      throw std::runtime_error("a reserved value in the frame header at byte " + std::to_string(at));
    }
    Mp3Frame f;
    f.kbps = version == 3 ? kMpeg1Kbps[bitrate_index] : kMpeg2Kbps[bitrate_index];
    f.sample_rate = kRates[version][rate_index];
    f.mono = (b(3) >> 6) == 3;
    f.samples = version == 3 ? 1152 : 576;
    const std::size_t length = (version == 3 ? 144000 : 72000) * f.kbps / f.sample_rate + ((b(2) >> 1) & 1);
    if (bytes.size() - at < length) break;
    frames.push_back(f);
    at += length;
  }
  return frames;
}

class StreamTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args = {}) {
    ServerOptions o;
    o.binary = MICSTREAM_SERVER_BINARY;
    o.secrets = {{"mic-01", "secret-01"}, {"mic-02", "secret-02"}};
    o.args = std::move(args);
    server_ = std::make_unique<ServerProcess>(o);
  }
  void TearDown() override {
    if (!server_) return;
    EXPECT_EQ(server_->terminate(5s), std::optional<int>(0)) << "the server did not exit 0 on SIGTERM";
    if (HasFailure()) std::cerr << "---- server log:\n" << server_->log_tail(8000) << "---- end\n";
  }

  [[nodiscard]] std::uint16_t port() const { return server_->http_port(); }

  std::unique_ptr<TestDevice> connect(const DeviceParams& p) {
    auto device = std::make_unique<TestDevice>(server_->ingest_port());
    device->handshake(p);
    device->sync_clock(2);
    // The stream's shape is known once /api/devices lists it.
    EXPECT_TRUE(wait_until([&] { return contains(http_get(port(), "/api/devices").body, "\"" + p.id + "\""); }, 3s));
    return device;
  }

  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    const auto v = Metrics::parse(http_get(port(), "/metrics").body).get(name, labels);
    EXPECT_TRUE(v.has_value()) << "no metric " << name;
    return v.value_or(-1);
  }

  std::unique_ptr<ServerProcess> server_;
};

TEST_F(StreamTest, WavCarriesEveryPcm16SampleBitExactBehindAHeaderOfUnknownSize) {
  start();
  const DeviceParams p = mic();
  auto device = connect(p);
  HttpStreamReader player(port(), "/stream/mic-01.wav");
  ASSERT_EQ(player.status(), 200) << player.body();
  EXPECT_EQ(player.headers().at("content-type"), "audio/wav");
  EXPECT_EQ(player.headers().at("transfer-encoding"), "chunked");
  ASSERT_TRUE(wait_until([&] { return metric("micstream_stream_listeners") == 1; }, 2s));

  StreamSpec spec;
  spec.frames = 50;  // 1 s
  const auto sent = stream_audio(*device, p, spec);
  std::string expected;
  for (const SentFrame& f : sent) expected.append(reinterpret_cast<const char*>(f.payload.data()), f.payload.size());
  ASSERT_TRUE(player.read_body(kWavHeaderBytes + expected.size(), 3s)) << "got " << player.body().size() << " bytes";

  const std::string& body = player.body();
  ByteReader h({reinterpret_cast<const std::uint8_t*>(body.data()), kWavHeaderBytes});
  EXPECT_EQ(body.substr(0, 4), "RIFF");
  h.bytes(4);
  EXPECT_EQ(h.u32(), 0xFFFFFFFFu) << "RIFF size: unknown";
  EXPECT_EQ(body.substr(8, 8), "WAVEfmt ");
  h.bytes(8);
  EXPECT_EQ(h.u32(), 16u);
  EXPECT_EQ(h.u16(), 1u) << "PCM";
  EXPECT_EQ(h.u16(), 1u) << "channels";
  EXPECT_EQ(h.u32(), 16000u) << "sample rate";
  EXPECT_EQ(h.u32(), 32000u) << "bytes per second";
  EXPECT_EQ(h.u16(), 2u) << "block align";
  EXPECT_EQ(h.u16(), 16u) << "bits per sample";
  EXPECT_EQ(body.substr(36, 4), "data");
  h.bytes(4);
  EXPECT_EQ(h.u32(), 0xFFFFFFFFu) << "data size: unknown";
  EXPECT_TRUE(body.compare(kWavHeaderBytes, expected.size(), expected) == 0) << "the PCM is not the device's samples";
  EXPECT_EQ(body.size(), kWavHeaderBytes + expected.size()) << "more audio than the device sent";
}

TEST_F(StreamTest, AnAdpcmStereoDeviceIsHeardAsTheCoreDecodedPcm) {
  start();
  const DeviceParams p = mic(Codec::ima_adpcm, 2, 505, 24000);
  auto device = connect(p);
  HttpStreamReader player(port(), "/stream/mic-01.wav");
  ASSERT_EQ(player.status(), 200);
  ASSERT_TRUE(wait_until([&] { return metric("micstream_stream_listeners") == 1; }, 2s));
  StreamSpec spec;
  spec.frames = 30;
  const auto sent = stream_audio(*device, p, spec);
  std::string expected;
  for (const SentFrame& f : sent) expected += decoded_pcm(f);
  ASSERT_TRUE(player.read_body(kWavHeaderBytes + expected.size(), 3s)) << "got " << player.body().size() << " bytes";
  ByteReader h({reinterpret_cast<const std::uint8_t*>(player.body().data()) + 22, 4});
  EXPECT_EQ(h.u16(), 2u) << "channels";
  EXPECT_EQ(h.u16(), 24000u) << "sample rate (low half)";
  EXPECT_TRUE(player.body().compare(kWavHeaderBytes, expected.size(), expected) == 0);
}

TEST_F(StreamTest, OggOpusGivesEveryListenerItsHeadersThenLivePagesFromOneEncoderTimedFromItsOwnStart) {
  start();
  const DeviceParams p = mic();
  auto device = connect(p);
  HttpStreamReader early(port(), "/stream/mic-01.opus");
  ASSERT_EQ(early.status(), 200);
  EXPECT_EQ(early.headers().at("content-type"), "audio/ogg; codecs=opus");
  ASSERT_TRUE(wait_until([&] { return metric("micstream_stream_listeners") == 1; }, 2s));

  StreamSpec spec;
  spec.frames = 50;
  BackgroundStream first(*device, p, spec);
  first.join();
  HttpStreamReader late(port(), "/stream/mic-01.opus");
  HttpStreamReader wav(port(), "/stream/mic-01.wav");
  ASSERT_TRUE(wait_until([&] { return metric("micstream_stream_listeners") == 3; }, 2s));
  EXPECT_EQ(metric("micstream_stream_encoders"), 2) << "one Opus encoder for both Opus listeners, one for WAV";
  spec.first_sequence = 50;
  spec.first_sample = 50 * 320;
  stream_audio(*device, p, spec);
  early.read_for(300ms);
  late.read_for(300ms);

  for (HttpStreamReader* player : {&early, &late}) {
    const auto pages = ogg_pages(player->body());
    ASSERT_GE(pages.size(), 3u);
    // RFC 7845: the ID header alone on the first page (beginning of stream), the comment header next.
    EXPECT_EQ(pages[0].header_type & 0x02, 0x02) << "the first page begins the stream";
    ASSERT_GE(pages[0].body.size(), 19u);
    EXPECT_EQ(pages[0].body.substr(0, 8), "OpusHead");
    EXPECT_EQ(static_cast<unsigned>(pages[0].body[9]), 1u) << "channels";
    ByteReader rate({reinterpret_cast<const std::uint8_t*>(pages[0].body.data()) + 12, 4});
    EXPECT_EQ(rate.u32(), 16000u) << "the input sample rate";
    EXPECT_EQ(pages[1].body.substr(0, 8), "OpusTags");
    EXPECT_EQ(pages[1].granule, 0u);
    // Each listener's first audio page ends its first 20 ms packet: the
    // granule positions count from its own start, as in a file.
    EXPECT_EQ(pages[2].granule, 960u);
    std::uint64_t last_granule = 0;
    for (std::size_t i = 0; i < pages.size(); ++i) {
      EXPECT_TRUE(pages[i].crc_ok) << "page " << i << " has a wrong CRC";
      EXPECT_EQ(pages[i].serial, pages[0].serial);
      if (i < 2) continue;
      EXPECT_EQ(pages[i].granule, last_granule + 960) << "page " << i << ": one 20 ms packet a page";
      last_granule = pages[i].granule;
    }
  }
  // The late listener's pages are the early one's, page for page (the same
  // packets from one encoder), with the granule positions shifted by one constant.
  const auto early_pages = ogg_pages(early.body());
  const auto late_pages = ogg_pages(late.body());
  ASSERT_GE(late_pages.size(), 40u) << "the late listener heard less than a second";
  std::map<std::uint32_t, const OggPage*> early_by_sequence;
  for (const OggPage& page : early_pages) early_by_sequence[page.sequence] = &page;
  const std::uint64_t shift = early_by_sequence.at(late_pages[2].sequence)->granule - late_pages[2].granule;
  EXPECT_GE(shift, 48000u - 2 * 960u) << "the late listener joined a second in (less what the encoder holds)";
  for (std::size_t i = 2; i < late_pages.size(); ++i) {
    const OggPage* same = early_by_sequence.at(late_pages[i].sequence);
    EXPECT_EQ(same->body, late_pages[i].body) << "page " << i;
    EXPECT_EQ(same->granule - late_pages[i].granule, shift) << "page " << i;
  }
  // 2 s of audio at 48 kHz, less what the encoder still holds.
  EXPECT_GE(early_pages.back().granule, 2 * 48000u - 4 * 960u);
}

TEST_F(StreamTest, Mp3IsAnUnbrokenRunOfFramesAtTheChosenBitrateCarryingAllTheAudio) {
  start({"--mp3-bitrate", "32"});
  const DeviceParams p = mic();
  auto device = connect(p);
  HttpStreamReader player(port(), "/stream/mic-01.mp3");
  ASSERT_EQ(player.status(), 200);
  EXPECT_EQ(player.headers().at("content-type"), "audio/mpeg");
  ASSERT_TRUE(wait_until([&] { return metric("micstream_stream_listeners") == 1; }, 2s));
  StreamSpec spec;
  spec.frames = 100;  // 2 s, 32,000 samples
  stream_audio(*device, p, spec);
  player.read_for(500ms);
  const auto frames = mp3_frames(player.body());
  ASSERT_FALSE(frames.empty());
  unsigned samples = 0;
  for (const Mp3Frame& f : frames) {
    EXPECT_EQ(f.kbps, 32u);
    EXPECT_EQ(f.sample_rate, 16000u) << "LAME resampled a rate MP3 has";
    EXPECT_TRUE(f.mono);
    samples += f.samples;
  }
  // All of it but what LAME still holds (its look-ahead, under two frames).
  EXPECT_LE(samples, 32000u + 576u);
  EXPECT_GE(samples, 32000u - 2 * 1152u) << frames.size() << " frames";
}

TEST_F(StreamTest, AReconnectContinuesTheResponseAndANewSampleRateEndsIt) {
  start();
  DeviceParams p = mic();
  auto device = connect(p);
  HttpStreamReader player(port(), "/stream/mic-01.wav");
  ASSERT_TRUE(wait_until([&] { return metric("micstream_stream_listeners") == 1; }, 2s));
  StreamSpec spec;
  spec.frames = 10;
  auto sent = stream_audio(*device, p, spec);
  ASSERT_TRUE(player.read_body(kWavHeaderBytes + 10 * 640, 2s));

  device->close();
  ASSERT_TRUE(wait_until([&] { return metric("micstream_devices") == 0; }, 2s));
  device = connect(p);  // the same rate and channels: the same response goes on
  spec.first_sequence = 10;
  spec.first_sample = 10 * 320;
  spec.seed = 2;
  sent = stream_audio(*device, p, spec);
  ASSERT_TRUE(player.read_body(kWavHeaderBytes + 20 * 640, 2s)) << "no audio after the device came back";
  EXPECT_FALSE(player.ended());
  EXPECT_TRUE(player.body().compare(kWavHeaderBytes + 10 * 640, 640,
                                    reinterpret_cast<const char*>(sent[0].payload.data()), 640) == 0);

  device->close();
  ASSERT_TRUE(wait_until([&] { return metric("micstream_devices") == 0; }, 2s));
  device = connect(mic(Codec::pcm16, 1, 480, 48000));  // a WAV header cannot change: the response ends
  EXPECT_TRUE(player.wait_closed(3s)) << "the response went on after the sample rate changed";
  EXPECT_TRUE(player.ended()) << "the body did not end with its last chunk";
  HttpStreamReader again(port(), "/stream/mic-01.wav");
  ASSERT_TRUE(again.read_body(kWavHeaderBytes, 2s));
  ByteReader rate({reinterpret_cast<const std::uint8_t*>(again.body().data()) + 24, 4});
  EXPECT_EQ(rate.u32(), 48000u) << "a new request gets the new format";
  // The ended response's connection is closed by the server too, within its
  // grace, though this client keeps its side open: only the new one is left.
  EXPECT_TRUE(wait_until([&] { return metric("micstream_stream_listeners") == 1; }, 8s, 100ms));
}

TEST_F(StreamTest, AStalledPlayerIsSkippedThenCutAndAnotherOfTheSameStreamIsNotDelayed) {
  constexpr int kStallMs = 1000;
  start({"--stream-queue-ms", "200", "--listener-stall-ms", std::to_string(kStallMs)});
  const DeviceParams p = mic(Codec::pcm16, 2, 480, 48000);  // 192 kB/s fills a stalled socket fast
  auto device = connect(p);
  HttpStreamReader stalled(port(), "/stream/mic-01.wav", {}, kStallReceiveBuffer);
  HttpStreamReader reading(port(), "/stream/mic-01.wav");
  ASSERT_TRUE(wait_until([&] { return metric("micstream_stream_listeners") == 2; }, 2s));

  StreamSpec spec;
  spec.frames = 300;  // 3 s
  BackgroundStream stream(*device, p, spec);
  std::vector<std::pair<std::size_t, std::chrono::steady_clock::time_point>> arrivals;
  const auto started = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - started < 3500ms) {
    reading.read_for(20ms);
    arrivals.emplace_back(reading.body().size(), std::chrono::steady_clock::now());
  }
  const auto& sent = stream.join();
  ASSERT_EQ(stream.error(), "");

  EXPECT_GE(metric("micstream_dropped_frames_total", {{"cause", "listener_skip"}}), 1) << "the stalled player was not skipped";
  EXPECT_GE(metric("micstream_listener_slow_disconnects_total"), 1) << "the stalled player was not cut";
  EXPECT_EQ(metric("micstream_stream_listeners"), 1);
  EXPECT_TRUE(stalled.wait_closed(3s)) << "the stalled player's connection is still open";

  // The reading player got every frame, and none was held back: at no
  // moment was it more than 100 ms of audio behind the device.
  std::string expected;
  for (const SentFrame& f : sent) expected.append(reinterpret_cast<const char*>(f.payload.data()), f.payload.size());
  ASSERT_EQ(reading.body().size(), kWavHeaderBytes + expected.size());
  EXPECT_TRUE(reading.body().compare(kWavHeaderBytes, expected.size(), expected) == 0);
  const std::size_t bytes_per_second = 48000 * 2 * 2;
  for (const auto& [bytes, at] : arrivals) {
    const double sent_s = std::chrono::duration<double>(at - started).count();
    const double heard_s = static_cast<double>(bytes > kWavHeaderBytes ? bytes - kWavHeaderBytes : 0) / bytes_per_second;
    if (sent_s < 3.0) {
      EXPECT_GT(heard_s, sent_s - 0.15) << "at " << sent_s << " s";
    }
  }
}

TEST_F(StreamTest, RequestsForWhatCannotBeStreamedGetAClearRefusal) {
  start();
  const auto unknown = http_get(port(), "/stream/nobody.wav");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_TRUE(contains(unknown.body, "no device nobody")) << unknown.body;
  const auto not_yet = http_get(port(), "/stream/mic-02.opus");  // in the secrets file, never connected
  EXPECT_EQ(not_yet.status, 503) << not_yet.body;
  EXPECT_EQ(not_yet.headers.count("retry-after"), 1u);
  EXPECT_TRUE(contains(not_yet.body, "has not connected")) << not_yet.body;
  const auto format = http_get(port(), "/stream/mic-01.flac");
  EXPECT_EQ(format.status, 404);
  EXPECT_TRUE(contains(format.body, ".wav")) << format.body;
  HttpRequest post{"POST", "/stream/mic-01.wav", {{"Content-Type", "application/json"}}, "{}"};
  EXPECT_EQ(http_request(port(), post).status, 405);
  auto device = connect(mic());
  const auto head = http_request(port(), {"HEAD", "/stream/mic-01.opus", {}, {}});
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.content_type, "audio/ogg; codecs=opus");
  EXPECT_EQ(metric("micstream_stream_encoders"), 0) << "a HEAD started an encoder";
}

}  // namespace
}  // namespace micstream::itest
