// Throughput of every codec through the API the device and the server use:
// micstream::FrameEncoder (encode) and micstream::decode_frame (decode), on
// 20 ms frames of 16 kHz mono (320 samples) of a tone-plus-noise signal.
//
// items/s = samples/s. bytes/s = encoded (wire) bytes produced by encode or
// consumed by decode, so the two directions of one codec compare directly.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "micstream/codec.h"
#include "test_signal.h"

namespace {

using micstream::Codec;
using micstream::bench::kSamplesPerFrame;

constexpr std::size_t kFrames = 50;  // one second of audio, cycled through

void BM_Encode(benchmark::State& state, Codec codec) {
  const std::vector<std::int16_t> signal = micstream::bench::make_signal(kFrames * kSamplesPerFrame);
  const std::size_t frame_bytes = micstream::encoded_size(codec, 1, kSamplesPerFrame);
  std::vector<std::uint8_t> out(frame_bytes);
  micstream::FrameEncoder encoder(codec, 1);
  std::size_t frame = 0;
  for (auto _ : state) {
    const std::span<const std::int16_t> in(signal.data() + frame * kSamplesPerFrame, kSamplesPerFrame);
    auto r = encoder.encode(in, out);
    if (!r.ok() || r.value != frame_bytes) {
      state.SkipWithError("encode failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    if (++frame == kFrames) frame = 0;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kSamplesPerFrame));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(frame_bytes));
  state.counters["frame_bytes"] = static_cast<double>(frame_bytes);
}

void BM_Decode(benchmark::State& state, Codec codec) {
  const std::vector<std::int16_t> signal = micstream::bench::make_signal(kFrames * kSamplesPerFrame);
  const std::size_t frame_bytes = micstream::encoded_size(codec, 1, kSamplesPerFrame);
  // Encode the whole second first, as a stream would be, so decode sees real payloads.
  std::vector<std::uint8_t> encoded(kFrames * frame_bytes);
  micstream::FrameEncoder encoder(codec, 1);
  for (std::size_t f = 0; f < kFrames; ++f) {
    auto r = encoder.encode(std::span<const std::int16_t>(signal.data() + f * kSamplesPerFrame, kSamplesPerFrame),
                            std::span<std::uint8_t>(encoded.data() + f * frame_bytes, frame_bytes));
    if (!r.ok()) {
      state.SkipWithError("encode failed");
      return;
    }
  }
  std::vector<std::int16_t> out(kSamplesPerFrame);
  std::size_t frame = 0;
  for (auto _ : state) {
    const std::span<const std::uint8_t> payload(encoded.data() + frame * frame_bytes, frame_bytes);
    auto r = micstream::decode_frame(codec, 1, kSamplesPerFrame, payload, out);
    if (!r.ok() || r.value != kSamplesPerFrame) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    if (++frame == kFrames) frame = 0;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kSamplesPerFrame));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(frame_bytes));
  state.counters["frame_bytes"] = static_cast<double>(frame_bytes);
}

}  // namespace

BENCHMARK_CAPTURE(BM_Encode, pcm16, Codec::pcm16);
BENCHMARK_CAPTURE(BM_Encode, mulaw, Codec::mulaw);
BENCHMARK_CAPTURE(BM_Encode, ima_adpcm, Codec::ima_adpcm);
BENCHMARK_CAPTURE(BM_Decode, pcm16, Codec::pcm16);
BENCHMARK_CAPTURE(BM_Decode, mulaw, Codec::mulaw);
BENCHMARK_CAPTURE(BM_Decode, ima_adpcm, Codec::ima_adpcm);
