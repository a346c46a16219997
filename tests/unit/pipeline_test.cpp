// The capture -> queue -> sender pipeline on fakes: a source that never
// waits, a link that refuses, cuts and answers with CONFIG or ERROR. No frame
// may be sent twice or out of order, every gap in the sample index must be a
// counted drop, and a reconnect resumes with the next frame.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

#include "micstream/pipeline/capture.h"
#include "micstream/pipeline/frame_queue.h"
#include "micstream/pipeline/sender.h"
#include "pipeline_fakes.h"

namespace micstream::pipeline {
namespace {

constexpr std::uint16_t kFrame = 320;
constexpr std::size_t kDepth = 25;  // 500 ms of 20 ms frames

struct Rig {
  test::FakeClock clock;
  test::NoMutex mutex;
  test::FakeSignal signal{clock};
  test::FixedRandom random;
  test::FakeServer server{clock};
  SenderObserver observer;
  std::vector<std::int16_t> storage = std::vector<std::int16_t>((kDepth + 2) * kFrame);
  std::vector<AudioFrame> slots;
  std::vector<std::uint8_t> tx = std::vector<std::uint8_t>(sender_buffer_size(1, kFrame));
  std::vector<std::uint8_t> secret = {'s', '3', 'c', 'r', 'e', 't'};
  std::unique_ptr<FrameQueue> queue;
  std::unique_ptr<Capture> capture;
  std::unique_ptr<Sender> sender;
  std::uint64_t ticks = 0;

  explicit Rig(Codec codec = Codec::pcm16, bool tls = false) {
    server.secret = secret;
    server.tls = tls;
    for (std::size_t i = 0; i < kDepth + 2; ++i) slots.push_back({0, 0, std::span(storage).subspan(i * kFrame, kFrame)});
    queue = std::make_unique<FrameQueue>(slots, mutex, signal);
    CaptureConfig cc;
    cc.dc_cutoff_hz = 0;  // bit-exact PCM through the pipeline
    capture = std::make_unique<Capture>(cc, *queue);
    SenderConfig sc;
    (void)sc.device_id.assign("mic-01");
    sc.secret = secret;
    sc.codec = codec;
    sc.tls = tls;
    sc.backoff = {.initial_ms = 500, .max_ms = 4000, .multiplier = 2, .jitter_percent = 0};
    sender = std::make_unique<Sender>(sc, *queue, *capture, Sender::Ports{server, clock, random, observer}, tx);
  }

  static std::int16_t sample(std::uint64_t index) {
    return static_cast<std::int16_t>(std::lround(10000 * std::sin(2 * M_PI * 440 * static_cast<double>(index) / 16000)));
  }

  // 20 ms pass: capture delivers a frame (it never waits), the sender runs.
  void tick() {
    const std::uint64_t t = 1000000 + (ticks + 1) * 20000;
    if (clock.now < t) clock.now = t;
    std::vector<std::int16_t> pcm(kFrame);
    for (std::size_t i = 0; i < kFrame; ++i) pcm[i] = sample(ticks * kFrame + i);
    capture->push_pcm16(pcm, t);
    ++ticks;
    // Disconnected, the task waits or tries once; streaming, it drains the queue.
    if (!sender->streaming()) sender->run_once();
    for (int i = 0; i < 40 && sender->streaming() && queue->queued() > 0; ++i) sender->run_once();
    if (sender->streaming()) sender->run_once();  // PING, STATS and what the server sent
  }

  void run_ms(int ms) {
    for (int i = 0; i < ms / 20; ++i) tick();
  }
};

// The frames the server got must be in order, never repeated, and their
// payloads the exact samples of their indices.
void expect_clean_stream(const Rig& rig) {
  std::set<std::uint64_t> seen;
  std::uint64_t last = 0;
  bool first = true;
  for (const auto& a : rig.server.audio) {
    EXPECT_TRUE(seen.insert(a.header.first_sample).second) << "frame " << a.header.first_sample << " sent twice";
    if (!first) {
      EXPECT_GT(a.header.first_sample, last) << "out of order";
    }
    EXPECT_EQ(a.header.sequence, a.header.first_sample / kFrame);
    if (a.header.codec == Codec::pcm16) {
      for (std::size_t i = 0; i < kFrame; ++i) {
        const auto s = static_cast<std::int16_t>(a.payload[2 * i] | (a.payload[2 * i + 1] << 8));
        ASSERT_EQ(s, Rig::sample(a.header.first_sample + i)) << "frame " << a.header.first_sample << " sample " << i;
      }
    }
    last = a.header.first_sample;
    first = false;
  }
}

TEST(Pipeline, StreamsEveryFrameInOrderBitExact) {
  Rig rig;
  ASSERT_EQ(rig.sender->check(), Errc::ok);
  rig.run_ms(2000);
  ASSERT_EQ(rig.server.hellos.size(), 1u);
  EXPECT_EQ(rig.server.hellos[0].device_id.view(), "mic-01");
  EXPECT_EQ(rig.server.hellos[0].samples_per_frame, kFrame);
  // HELLO went out on the first tick, after the first frame was queued: all 100 arrive.
  ASSERT_EQ(rig.server.audio.size(), 100u);
  expect_clean_stream(rig);
  EXPECT_EQ(rig.server.audio.front().header.first_sample, 0u);
  EXPECT_EQ(rig.server.audio.back().header.first_sample, 99u * kFrame);
  // Capture time of a frame's first sample: when it was captured, on the device clock.
  EXPECT_EQ(rig.server.audio[10].header.capture_time_us, 1000000 + 11 * 20000 - 319 * 1000000 / 16000);
  EXPECT_EQ(rig.queue->dropped(), 0u);
  EXPECT_GE(rig.server.pings, 3);
  EXPECT_TRUE(rig.sender->clock_sync().has_estimate());
  // The fake server's clock runs 5 s ahead; NTP's bound: off by at most half the round trip.
  const auto& sync = rig.sender->clock_sync();
  EXPECT_LE(std::llabs(sync.offset_us() - 5000005), static_cast<long long>(sync.rtt_us() / 2 + 5));
}

TEST(Pipeline, ALinkCutLosesOnlyCountedFramesAndResumesWithTheNext) {
  Rig rig;
  rig.run_ms(1000);
  rig.server.cut_on_next_send = true;
  rig.server.refuse_connections = true;  // the server is away for 1.5 s
  rig.run_ms(1500);
  rig.server.refuse_connections = false;
  rig.run_ms(6000);  // past the first STATS of the new link

  expect_clean_stream(rig);
  EXPECT_EQ(rig.server.connections, 2);
  EXPECT_EQ(rig.sender->reconnects(), 1u);
  // Every sample index the server never saw is a frame the queue dropped
  // (oldest first), or the one frame the cut took with it.
  const std::uint64_t produced = rig.ticks;
  const std::uint64_t missing = produced - rig.server.audio.size();
  EXPECT_EQ(missing, rig.queue->dropped() + 1) << "the frame being sent when the link was cut is lost too";
  EXPECT_GT(rig.queue->dropped(), 0u);
  // The queue kept the newest 500 ms: the first frame after the reconnect is
  // at most the queue's depth behind the newest.
  std::uint64_t gaps = 0;
  for (std::size_t i = 1; i < rig.server.audio.size(); ++i) {
    if (rig.server.audio[i].header.first_sample != rig.server.audio[i - 1].header.first_sample + kFrame) ++gaps;
  }
  EXPECT_EQ(gaps, 1u);
  // STATS report the drops.
  ASSERT_FALSE(rig.server.stats.empty());
  EXPECT_EQ(rig.server.stats.back().frames_dropped, rig.queue->dropped());
}

TEST(Pipeline, RefusedConnectionsBackOffExponentially) {
  Rig rig;
  rig.server.refuse_connections = true;
  rig.run_ms(9000);
  const auto& t = rig.server.connect_times_us;
  ASSERT_GE(t.size(), 4u);
  // 500, 1000, 2000, 4000 (the cap) ms apart, within the 20 ms the task sleeps at a time.
  const std::uint64_t expected[] = {500000, 1000000, 2000000, 4000000};
  for (std::size_t i = 1; i < std::min<std::size_t>(t.size(), 5); ++i) {
    EXPECT_NEAR(static_cast<double>(t[i] - t[i - 1]), static_cast<double>(expected[i - 1]), 20000.0) << i;
  }
  EXPECT_EQ(rig.server.audio.size(), 0u);
  EXPECT_EQ(rig.queue->queued(), kDepth) << "capture never waited; the queue holds the newest frames";
}

TEST(Pipeline, ConfigSwitchesCodecAndGainWithoutARestart) {
  Rig rig;
  rig.run_ms(400);
  proto::Config config;
  config.has_codec = true;
  config.codec = Codec::mulaw;
  config.has_gain = true;
  config.gain_cdb = -600;
  rig.server.queue_frame(config);
  rig.run_ms(400);
  ASSERT_EQ(rig.server.connections, 1);
  EXPECT_EQ(rig.server.audio.front().header.codec, Codec::pcm16);
  EXPECT_EQ(rig.server.audio.back().header.codec, Codec::mulaw);
  EXPECT_EQ(rig.server.audio.back().payload.size(), kFrame);
  // -6 dB: the last frame's samples are about half of the source's.
  const auto& last = rig.server.audio.back();
  std::vector<std::int16_t> decoded(kFrame);
  ASSERT_TRUE(decode_frame(Codec::mulaw, 1, kFrame, last.payload, decoded).ok());
  double ratio_sum = 0;
  int n = 0;
  for (std::size_t i = 0; i < kFrame; ++i) {
    const int original = Rig::sample(last.header.first_sample + i);
    if (std::abs(original) > 5000) {
      ratio_sum += static_cast<double>(decoded[i]) / original;
      ++n;
    }
  }
  EXPECT_NEAR(ratio_sum / n, 0.501, 0.03);
  expect_clean_stream(rig);
}

TEST(Pipeline, AnErrorFromTheServerEndsTheLinkAndTheDeviceRetries) {
  Rig rig;
  rig.run_ms(200);
  proto::ErrorMessage error;
  error.code = Errc::auth_failed;
  (void)error.reason.assign("wrong secret");
  rig.server.queue_frame(error);
  rig.run_ms(100);
  EXPECT_FALSE(rig.sender->streaming());
  rig.run_ms(1000);
  EXPECT_EQ(rig.server.connections, 2) << "retried after the backoff";
  expect_clean_stream(rig);
}

TEST(Pipeline, NoAudioGoesOutBeforeTheServerAcceptsHello) {
  Rig rig;
  rig.server.refuse_hello = true;
  rig.run_ms(2000);
  EXPECT_GE(rig.server.hellos.size(), 2u) << "it kept trying";
  EXPECT_EQ(rig.server.audio.size(), 0u) << "frames sent to a link that refused HELLO would be lost unseen";
  EXPECT_EQ(rig.sender->frames_sent(), 0u);
  rig.server.refuse_hello = false;
  rig.run_ms(3000);
  ASSERT_FALSE(rig.server.audio.empty());
  EXPECT_EQ(rig.sender->frames_sent(), rig.server.audio.size());
  expect_clean_stream(rig);
}

TEST(Pipeline, GarbageFromTheServerCostsTheLinkOnly) {
  Rig rig;
  rig.run_ms(200);
  rig.server.to_device.push_back({'H', 'T', 'T', 'P', '/', '1', '.', '1'});
  rig.run_ms(100);
  EXPECT_FALSE(rig.sender->streaming());
  rig.run_ms(1000);
  EXPECT_TRUE(rig.sender->streaming());
  EXPECT_EQ(rig.server.connections, 2);
  expect_clean_stream(rig);
}

TEST(Pipeline, ATlsLinkProvesTheSecretOverTheWelcomeInsideTls) {
  Rig rig(Codec::pcm16, true);
  rig.run_ms(1000);
  EXPECT_EQ(rig.server.tls_handshakes, 1);
  ASSERT_EQ(rig.server.hellos.size(), 1u);
  EXPECT_TRUE(rig.server.hello_proved[0]) << "HELLO must prove the secret over the nonce of the WELCOME inside TLS";
  EXPECT_GT(rig.server.audio.size(), 30u);
  expect_clean_stream(rig);
}

TEST(Pipeline, APlainLinkProvesTheSecretOverItsOnlyWelcome) {
  Rig rig;
  rig.run_ms(500);
  EXPECT_EQ(rig.server.tls_handshakes, 0);
  ASSERT_EQ(rig.server.hellos.size(), 1u);
  EXPECT_TRUE(rig.server.hello_proved[0]);
}

TEST(Pipeline, AFailedTlsHandshakeNeverFallsBackToPlain) {
  Rig rig(Codec::pcm16, true);
  rig.server.fail_tls = true;
  rig.run_ms(3000);
  EXPECT_GE(rig.server.tls_refused, 2) << "it retried, with the backoff";
  EXPECT_EQ(rig.server.hellos.size(), 0u) << "no HELLO in the clear";
  EXPECT_EQ(rig.server.audio.size(), 0u);
  rig.server.fail_tls = false;
  rig.run_ms(4000);
  EXPECT_TRUE(rig.sender->streaming());
  expect_clean_stream(rig);
}

TEST(Pipeline, BytesAfterThePlainWelcomeCostTheLink) {
  Rig rig(Codec::pcm16, true);
  rig.server.bytes_after_plain_welcome = true;
  rig.run_ms(1000);
  EXPECT_EQ(rig.server.tls_handshakes, 0) << "a handshake must not start on top of unread bytes";
  EXPECT_GE(rig.server.connections, 2);
  EXPECT_EQ(rig.server.hellos.size(), 0u);
}

TEST(Pipeline, CaptureStampsFramesAcrossBlocksAndSkips) {
  test::FakeClock clock;
  test::NoMutex mutex;
  test::FakeSignal signal{clock};
  std::vector<std::int16_t> storage(5 * 4);
  std::vector<AudioFrame> slots;
  for (int i = 0; i < 5; ++i) slots.push_back({0, 0, std::span(storage).subspan(i * 4, 4)});
  FrameQueue queue(slots, mutex, signal);
  CaptureConfig cc;
  cc.sample_rate = 1000;  // 1 ms a sample
  cc.samples_per_frame = 4;
  cc.dc_cutoff_hz = 0;
  Capture capture(cc, queue);
  const std::int16_t block[6] = {1, 2, 3, 4, 5, 6};
  capture.push_pcm16(block, 10000);  // last sample at 10 ms: the first at 5 ms
  capture.skip(3);                   // samples 6..8 lost (and the partial frame 4..5)
  capture.push_pcm16(block, 20000);  // indices 9..14
  const AudioFrame* f = queue.take(0);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->first_sample, 0u);
  EXPECT_EQ(f->capture_time_us, 5000u);
  EXPECT_EQ(f->pcm[3], 4);
  queue.release();
  f = queue.take(0);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->first_sample, 9u);
  EXPECT_EQ(f->capture_time_us, 15000u);
  queue.release();
  EXPECT_EQ(queue.take(0), nullptr);
}

// A broken precondition stops with what broke (MICSTREAM_ASSERT), not a read past free_[].
TEST(FrameQueueDeathTest, FewerThanThreeSlotsStopsWithTheCondition) {
  test::FakeClock clock;
  test::NoMutex mutex;
  test::FakeSignal signal{clock};
  std::vector<std::int16_t> storage(2);
  std::vector<AudioFrame> slots;
  for (int i = 0; i < 2; ++i) slots.push_back({0, 0, std::span(storage).subspan(i, 1)});
  EXPECT_DEATH({ FrameQueue too_shallow(slots, mutex, signal); }, "precondition failed: slots.size\\(\\) >= 3");
}

TEST(CaptureDeathTest, SlotsShorterThanTheFrameStopWithTheCondition) {
  test::FakeClock clock;
  test::NoMutex mutex;
  test::FakeSignal signal{clock};
  std::vector<std::int16_t> storage(3 * 4);
  std::vector<AudioFrame> slots;
  for (int i = 0; i < 3; ++i) slots.push_back({0, 0, std::span(storage).subspan(i * 4, 4)});
  FrameQueue queue(slots, mutex, signal);
  CaptureConfig cc;
  cc.samples_per_frame = 5;  // one more than each slot holds
  EXPECT_DEATH({ Capture capture(cc, queue); }, "precondition failed: queue.filling\\(\\).pcm.size\\(\\)");
}

TEST(FrameQueue, DropsTheOldestNeverTheFrameBeingSent) {
  test::FakeClock clock;
  test::NoMutex mutex;
  test::FakeSignal signal{clock};
  std::vector<std::int16_t> storage(5);
  std::vector<AudioFrame> slots;
  for (int i = 0; i < 5; ++i) slots.push_back({0, 0, std::span(storage).subspan(i, 1)});
  FrameQueue queue(slots, mutex, signal);
  ASSERT_EQ(queue.depth(), 3u);
  auto commit = [&](std::uint64_t index) {
    queue.filling().first_sample = index;
    queue.commit();
  };
  commit(0);
  const AudioFrame* sending = queue.take(0);
  ASSERT_EQ(sending->first_sample, 0u);
  for (std::uint64_t i = 1; i <= 10; ++i) commit(i);  // capture races ahead
  EXPECT_EQ(sending->first_sample, 0u) << "the frame being sent is untouched";
  EXPECT_EQ(queue.dropped(), 7u);
  queue.release();
  std::vector<std::uint64_t> got;
  while (const AudioFrame* f = queue.take(0)) {
    got.push_back(f->first_sample);
    queue.release();
  }
  EXPECT_EQ(got, (std::vector<std::uint64_t>{8, 9, 10}));
  EXPECT_EQ(queue.committed(), 11u);
}

}  // namespace
}  // namespace micstream::pipeline
