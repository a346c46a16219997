// core/ allocates nothing on the audio path: every per-frame operation runs
// here with global operator new counting, and the count must stay at zero.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>

#include "micstream/backoff.h"
#include "micstream/codec.h"
#include "micstream/dsp.h"
#include "micstream/frame_parser.h"
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

namespace micstream {
namespace {

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
