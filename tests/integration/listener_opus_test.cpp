// The codec a listener asks for (docs/protocol.md, "The listener WebSocket"):
// Opus ("Opus for listeners"): 20 ms packets from one encoder per device,
// decoded here with libopus and judged by the tone they carry, while the
// others keep getting the device's frames as it sent them; or none (a
// connection for the device list only).
#include <gtest/gtest.h>

#include <opus/opus.h>

#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "harness.h"
#include "micstream/listener_audio.h"
#include "test_device.h"
#include "tone_analysis.h"
#include "ws_listener.h"

#ifndef MICSTREAM_SERVER_BINARY
#error "MICSTREAM_SERVER_BINARY must name the micstream-server executable"
#endif

namespace micstream::itest {
namespace {

constexpr std::uint8_t kOpus = static_cast<std::uint8_t>(listener::ListenerCodec::opus);

DeviceParams mic() {
  DeviceParams p;
  p.id = "mic-01";
  p.secret = "secret-01";
  p.codec = Codec::pcm16;
  p.channels = 1;
  p.samples_per_frame = 320;  // 20 ms
  p.sample_rate = 16000;
  return p;
}

/// The packets decoded in order by libopus at 48 kHz, mono, full scale ±1.
std::vector<float> decode_opus(const std::vector<AudioMessage>& packets) {
  int error = 0;
  std::unique_ptr<OpusDecoder, decltype(&opus_decoder_destroy)> decoder(opus_decoder_create(48000, 1, &error),
                                                                       &opus_decoder_destroy);
  EXPECT_EQ(error, OPUS_OK);
  std::vector<float> out;
  std::vector<float> pcm(5760);
  for (const AudioMessage& m : packets) {
    const int n = opus_decode_float(decoder.get(), m.payload.data(), static_cast<opus_int32>(m.payload.size()),
                                    pcm.data(), static_cast<int>(pcm.size()), 0);
    EXPECT_EQ(n, 960) << "packet " << m.sequence << " of " << m.payload.size() << " bytes";
    if (n > 0) out.insert(out.end(), pcm.begin(), pcm.begin() + n);
  }
  return out;
}

class ListenerOpusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.binary = MICSTREAM_SERVER_BINARY;
    o.secrets = {{"mic-01", "secret-01"}};
    server_ = std::make_unique<ServerProcess>(o);
  }
  void TearDown() override {
    EXPECT_EQ(server_->terminate(5s), std::optional<int>(0)) << "the server did not exit 0 on SIGTERM";
    if (HasFailure()) std::cerr << "---- server log:\n" << server_->log_tail(8000) << "---- end\n";
  }
  [[nodiscard]] std::uint16_t port() const { return server_->http_port(); }

  std::unique_ptr<TestDevice> connect(const DeviceParams& p) {
    auto device = std::make_unique<TestDevice>(server_->ingest_port());
    device->handshake(p);
    device->sync_clock(2);
    EXPECT_TRUE(wait_until([&] { return contains(http_get(port(), "/api/devices").body, "\"" + p.id + "\""); }, 3s));
    return device;
  }
  std::unique_ptr<WsListener> listen(const std::string& target) {
    ListenerOptions o;
    o.target = target;
    auto l = std::make_unique<WsListener>(port(), o);
    EXPECT_TRUE(l->wait_text("stream", 3s)) << target << " was never subscribed";
    return l;
  }
  double metric(const std::string& name) {
    const auto v = Metrics::parse(http_get(port(), "/metrics").body).get(name);
    EXPECT_TRUE(v.has_value()) << "no metric " << name;
    return v.value_or(-1);
  }
  nlohmann::json device_entry() {
    const auto devices = nlohmann::json::parse(http_get(port(), "/api/devices").body);
    for (const auto& d : devices) {
      if (d["id"] == "mic-01") return d;
    }
    return {};
  }

  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ListenerOpusTest, OpusListenersShareOneEncoderAndHearTheTonePcmListenersKeepTheDevicesFrames) {
  const DeviceParams p = mic();
  auto device = connect(p);
  auto opus_a = listen("/ws?device=mic-01&codec=opus");
  auto opus_b = listen("/ws?device=mic-01&codec=opus");
  auto pcm = listen("/ws?device=mic-01");

  StreamSpec spec;
  spec.frames = 100;  // 2 s
  spec.tone_hz = 440;
  spec.first_sample = 16000;
  BackgroundStream streaming(*device, p, spec);
  ASSERT_TRUE(opus_a->wait_audio_count(10, 3s));
  EXPECT_EQ(metric("micstream_listener_opus_encoders"), 1) << "two Opus listeners, one encoder";
  EXPECT_EQ(device_entry()["opus_listeners"], 2);
  const auto sent = streaming.join();
  ASSERT_TRUE(pcm->wait_audio_count(sent.size(), 3s));
  ASSERT_TRUE(opus_a->wait_audio_count(95, 3s)) << "got " << opus_a->audio_count() << " Opus packets for 2 s";
  ASSERT_TRUE(opus_b->wait_audio_count(95, 3s));

  // The PCM listener gets the device's own frames.
  const auto frames = pcm->audio();
  for (std::size_t i = 0; i < sent.size(); ++i) {
    ASSERT_EQ(frames[i].error, Errc::ok);
    EXPECT_EQ(frames[i].codec, static_cast<std::uint8_t>(Codec::pcm16));
    EXPECT_EQ(frames[i].payload, sent[i].payload) << "frame " << i;
  }

  const auto a = opus_a->audio();
  const auto b = opus_b->audio();
  std::size_t payload_bytes = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].error, Errc::ok) << "message " << i;
    EXPECT_EQ(a[i].codec, kOpus);
    EXPECT_EQ(a[i].channels, 1);
    EXPECT_EQ(a[i].sample_rate, 48000u);
    EXPECT_EQ(a[i].sample_count, 960u);
    EXPECT_EQ(a[i].sequence, i) << "the Opus stream numbers its own packets";
    EXPECT_EQ(a[i].first_sample, 960 * i) << "packets follow each other without a gap";
    payload_bytes += a[i].payload.size();
  }
  // The same encoder for both: the same bytes, once built.
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) EXPECT_EQ(a[i].payload, b[i].payload) << i;
  // The first packet starts at the device's first sample less the encoder's
  // delay (a few ms of lookahead and resampling).
  const auto lead_us = frames.front().capture_time_us - a.front().capture_time_us;
  EXPECT_GE(lead_us, 0);
  EXPECT_LE(lead_us, 20000);
  // Every packet's capture time is that of the device sample it starts on,
  // read from the frame holding it (the device's own stamps, however they jitter).
  const std::int64_t pre_skip = lead_us * 16000 / 1'000'000;  // device samples
  for (std::size_t i = 1; i < a.size(); ++i) {
    const auto start = static_cast<std::int64_t>(i) * 320 - pre_skip;  // 960 at 48 kHz: 320 device samples
    const auto& frame = frames[static_cast<std::size_t>(start / 320)];
    const auto expected = frame.capture_time_us + (start % 320) * 1'000'000 / 16000;
    EXPECT_NEAR(static_cast<double>(a[i].capture_time_us), static_cast<double>(expected), 70)
        << "packet " << i << "'s capture time is not its first sample's";
  }
  // --opus-bitrate 32000: 4,000 bytes a second, 80 a packet on average.
  const double bytes_per_packet = static_cast<double>(payload_bytes) / static_cast<double>(a.size());
  EXPECT_GT(bytes_per_packet, 40);
  EXPECT_LT(bytes_per_packet, 120);

  const auto decoded = decode_opus(a);
  const auto analysis = streams::analyse(decoded, 48000);
  const auto why = streams::failures(analysis, {.hz = 440, .tolerance_hz = 2, .min_seconds = 1.5, .min_level_dbfs = -12});
  EXPECT_TRUE(why.empty()) << streams::summary(analysis);
  EXPECT_EQ(analysis.longest_gap_ms(), 0) << streams::summary(analysis);
  EXPECT_TRUE(analysis.discontinuities.empty()) << streams::summary(analysis);
}

TEST_F(ListenerOpusTest, LostDeviceAudioShowsAsAJumpOfTheSampleIndex) {
  const DeviceParams p = mic();
  auto device = connect(p);
  auto opus = listen("/ws?device=mic-01&codec=opus");
  StreamSpec spec;
  spec.frames = 25;
  spec.tone_hz = 440;
  stream_audio(*device, p, spec);
  spec.first_sequence = 35;  // ten frames (200 ms, 3,200 samples) never arrive
  spec.first_sample = 35 * 320;
  stream_audio(*device, p, spec);
  ASSERT_TRUE(opus->wait_audio_count(45, 3s));
  const auto a = opus->audio();
  std::vector<std::uint64_t> jumps;
  for (std::size_t i = 1; i < a.size(); ++i) {
    if (a[i].first_sample != a[i - 1].first_sample + 960) jumps.push_back(a[i].first_sample - a[i - 1].first_sample);
  }
  ASSERT_EQ(jumps.size(), 1u) << "one gap, where the device lost audio";
  EXPECT_EQ(jumps[0], 960u + 3 * 3200) << "200 ms at 48 kHz beyond the usual packet";
}

TEST_F(ListenerOpusTest, SubscribeSwitchesTheCodecABadCodecIsRefusedAndTheEncoderGoesWithItsLastListener) {
  const DeviceParams p = mic();
  auto device = connect(p);
  EXPECT_THROW(WsListener(port(), ListenerOptions{.target = "/ws?device=mic-01&codec=flac"}), std::exception)
      << "an unknown codec in the query is refused before the upgrade";
  HttpRequest upgrade;
  upgrade.target = "/ws?codec=flac";
  upgrade.headers = {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Version", "13"},
                     {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
  const auto refused = http_request(port(), upgrade);
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("codec"), std::string::npos) << refused.body;

  auto listener = listen("/ws?device=mic-01");
  StreamSpec spec;
  spec.frames = 10;
  spec.tone_hz = 440;
  stream_audio(*device, p, spec);
  ASSERT_TRUE(listener->wait_audio_count(10, 3s));
  EXPECT_EQ(listener->audio().back().codec, static_cast<std::uint8_t>(Codec::pcm16));

  ASSERT_TRUE(listener->send_text(R"({"type":"subscribe","device":"mic-01","codec":"flac"})"));
  const auto error = listener->wait_text("error", 3s);
  ASSERT_TRUE(error);
  EXPECT_NE((*error)["message"].get<std::string>().find("codec"), std::string::npos) << *error;

  ASSERT_TRUE(listener->send_text(R"({"type":"subscribe","device":"mic-01","codec":"opus"})"));
  ASSERT_TRUE(listener->wait_text("stream", 3s, [](const nlohmann::json&) { return true; }));
  spec.first_sequence = 10;
  spec.first_sample = 10 * 320;
  spec.frames = 20;
  stream_audio(*device, p, spec);
  ASSERT_TRUE(listener->wait(
      [](const std::vector<WsMessage>& all) {
        std::size_t opus = 0;
        for (const auto& m : all) opus += m.binary && parse_audio_message(m.data).codec == kOpus;
        return opus >= 15;
      },
      3s));
  EXPECT_FALSE(listener->ended()) << "a refused request costs no connection";
  EXPECT_EQ(metric("micstream_listener_opus_encoders"), 1);

  listener->close();
  ASSERT_TRUE(listener->wait_ended(3s));
  ASSERT_TRUE(wait_until([&] { return metric("micstream_listeners") == 0; }, 3s));
  spec.first_sequence = 30;
  spec.first_sample = 30 * 320;
  spec.frames = 2;
  stream_audio(*device, p, spec);
  EXPECT_TRUE(wait_until([&] { return metric("micstream_listener_opus_encoders") == 0; }, 2s))
      << "the encoder stays after its last listener";
}

TEST_F(ListenerOpusTest, AListenerAskingForNoAudioGetsTheMessagesButNotOneFrame) {
  const DeviceParams p = mic();
  auto device = connect(p);
  auto list_only = listen("/ws?codec=none");  // plain /ws: it follows the first device
  auto hearing = listen("/ws?device=mic-01");
  StreamSpec spec;
  spec.frames = 20;
  stream_audio(*device, p, spec);
  ASSERT_TRUE(hearing->wait_audio_count(20, 3s));
  EXPECT_EQ(list_only->audio_count(), 0u) << "audio for a connection that asked for none";
  EXPECT_EQ(list_only->texts("stream").back()["device"], "mic-01");
  EXPECT_FALSE(list_only->texts("devices").empty());
  EXPECT_EQ(device_entry()["listeners"], 1) << "a connection without audio is no listener of the device";
  EXPECT_EQ(device_entry()["opus_listeners"], 0);
}

}  // namespace
}  // namespace micstream::itest
