// core/ allocates nothing on the audio path: every per-frame operation runs
// here with global operator new counting, and the count must stay at zero.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>

#include "micstream/auth.h"
#include "micstream/backoff.h"
#include "micstream/codec.h"
#include "micstream/dsp.h"
#include "micstream/frame_parser.h"
#include "micstream/pipeline/capture.h"
#include "micstream/pipeline/frame_queue.h"
#include "micstream/pipeline/sender.h"
#include "micstream/protocol.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

#ifdef MICSTREAM_TEST_FAKE_HMAC
// The core-only (-m32) build has no host crypto library: a stand-in keyed sum,
// enough for a link whose server does not check the proof.
namespace micstream {
bool hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> message,
                 std::span<std::uint8_t, kHmacSha256Size> mac) {
  for (std::size_t i = 0; i < mac.size(); ++i) mac[i] = static_cast<std::uint8_t>(key[i % key.size()] + i);
  for (std::size_t i = 0; i < message.size(); ++i) mac[i % mac.size()] ^= message[i];
  return true;
}
}  // namespace micstream
#endif

namespace micstream {
namespace {

// Ports that allocate nothing themselves: a clock moved by hand, and a server
// that sends WELCOME, answers PINGs and swallows everything else.
struct ManualClock : pipeline::Clock {
  std::uint64_t now = 1000000;
  std::uint64_t now_us() override { return now; }
  void sleep_ms(std::uint32_t ms) override { now += ms * 1000ull; }
};
struct NoLock : pipeline::Mutex {
  void lock() override {}
  void unlock() override {}
};
struct NoWait : pipeline::Signal {
  void notify() override {}
  void wait_ms(std::uint32_t) override {}
};
struct Zero : pipeline::Random {
  std::uint32_t next() override { return 0; }
};
struct SwallowingServer : pipeline::Transport {
  std::array<std::uint8_t, 64> reply{};  // what the device reads next
  std::size_t reply_size = 0;
  std::array<std::uint8_t, proto::kMaxFrameSize> storage{};
  proto::FrameParser parser{storage};
  Status connect(std::uint32_t) override {
    reply_size = proto::encode(proto::Welcome{}, reply).value;
    parser.reset();
    return Status::ok;
  }
  Status send(std::span<const std::uint8_t> b, std::uint32_t) override {
    while (!b.empty()) {
      const auto step = parser.feed(b);
      b = b.subspan(step.consumed);
      proto::Ping ping;
      if (step.status == proto::FrameParser::Status::frame && parser.frame().type == proto::FrameType::ping &&
          proto::decode(parser.frame().payload, ping) == Errc::ok) {
        reply_size = proto::encode(proto::Pong{ping.id, ping.device_time_us, 1, 2}, reply).value;
      }
    }
    return Status::ok;
  }
  Status receive(std::span<std::uint8_t> out, std::uint32_t, std::size_t& received) override {
    if (reply_size == 0) return Status::timeout;
    received = std::min(out.size(), reply_size);
    std::copy_n(reply.begin(), received, out.begin());
    reply_size = 0;  // replies are smaller than the device's receive chunk
    return Status::ok;
  }
  void close() override {}
  const char* last_error() override { return "none"; }
};

TEST(NoAllocation, ThePipelineInSteadyState) {
  ManualClock clock;
  NoLock mutex;
  NoWait signal;
  Zero random;
  SwallowingServer server;
  pipeline::SenderObserver observer;
  std::array<std::int16_t, 27 * 320> storage{};
  std::array<pipeline::AudioFrame, 27> slots{};
  for (std::size_t i = 0; i < slots.size(); ++i) slots[i].pcm = std::span(storage).subspan(i * 320, 320);
  pipeline::FrameQueue queue(slots, mutex, signal);
  pipeline::Capture capture({}, queue);
  const std::uint8_t secret[] = {'k'};
  pipeline::SenderConfig config;
  (void)config.device_id.assign("mic-01");
  config.secret = secret;
  std::array<std::uint8_t, pipeline::sender_buffer_size(1, 320)> tx{};
  pipeline::Sender sender(config, queue, capture, {server, clock, random, observer}, tx);
  std::array<std::uint16_t, 320> adc{};
  auto tick = [&] {
    clock.now += 20000;
    capture.push_adc12(adc, clock.now);
    sender.run_once();
  };
  for (int i = 0; i < 10; ++i) tick();  // connected (the proof's crypto may allocate, once a link)
  ASSERT_TRUE(sender.streaming());

  const long before = g_allocations.load();
  for (int i = 0; i < 500; ++i) tick();  // 10 s: frames, PINGs and STATS
  EXPECT_EQ(g_allocations.load() - before, 0);
  EXPECT_GE(sender.frames_sent(), 500u) << "the counted loop did stream";
}

TEST(NoAllocation, PerFrameWorkOfTheCore) {
  // Buffers are set up before counting starts, as a device does at boot.
  std::array<std::uint16_t, 320> adc{};
  for (std::size_t i = 0; i < adc.size(); ++i) adc[i] = static_cast<std::uint16_t>(2048 + (i * 37) % 400);
  std::array<std::int16_t, 320> pcm{};
  std::array<std::uint8_t, proto::kMaxFrameSize> frame{};
  std::array<std::uint8_t, proto::kMaxFrameSize> parser_storage{};
  std::array<std::int16_t, 320> decoded{};
  dsp::DcBlocker dc(10.0F, 16000, 1);
  dsp::Gain gain(300);
  FrameEncoder encoder(Codec::ima_adpcm, 1);
  proto::FrameParser parser(parser_storage);
  Backoff backoff;

  const long before = g_allocations.load();
  std::uint32_t sequence = 0;
  for (Codec codec : {Codec::pcm16, Codec::mulaw, Codec::ima_adpcm}) {
    encoder.set_codec(codec);
    for (int n = 0; n < 50; ++n) {
      dsp::adc12_to_pcm16(adc, 2048, pcm);
      dc.process(pcm);
      gain.process(pcm);
      (void)dsp::measure_level(pcm);
      const std::size_t payload_size = encoded_size(codec, 1, pcm.size());
      proto::AudioHeader header{sequence++, sequence * 320ull, sequence * 20000ull, codec, 1, 320};
      auto prefix = proto::encode_audio_prefix(header, payload_size, frame);
      ASSERT_TRUE(prefix.ok());
      auto encoded = encoder.encode(pcm, std::span(frame).subspan(prefix.value));
      ASSERT_TRUE(encoded.ok());
      const std::size_t frame_size = prefix.value + encoded.value;

      auto step = parser.feed(std::span(frame).first(frame_size));
      ASSERT_EQ(step.status, proto::FrameParser::Status::frame);
      proto::Audio audio;
      ASSERT_EQ(proto::decode(parser.frame().payload, audio), Errc::ok);
      ASSERT_TRUE(decode_frame(audio.header.codec, 1, audio.header.sample_count, audio.payload, decoded).ok());

      proto::Ping ping{sequence, 1};
      ASSERT_TRUE(proto::encode(ping, frame).ok());
      proto::Stats stats;
      ASSERT_TRUE(proto::encode(stats, frame).ok());
    }
  }
  (void)backoff.next_delay_ms(12345);
  EXPECT_EQ(g_allocations.load() - before, 0);

  // The counter works: a heap allocation is seen.
  auto* probe = new int(1);
  EXPECT_EQ(g_allocations.load() - before, 1);
  delete probe;
}

}  // namespace
}  // namespace micstream
