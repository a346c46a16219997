// Receive-path throughput: proto::FrameParser over a stream of AUDIO frames
// (20 ms of 16 kHz mono, 320 samples, as PCM16 and as IMA ADPCM), fed
//   - Buffer:   one big buffer holding the whole stream (a large read());
//   - Segments: 1460-byte pieces, one TCP segment of a 1500-byte MTU each,
// and proto::decode of the AUDIO payload, alone and as the whole path
// (segments -> parser -> proto::decode -> micstream::decode_frame).
//
// items/s = frames/s; bytes/s = stream bytes (headers included).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "micstream/codec.h"
#include "micstream/frame_parser.h"
#include "micstream/protocol.h"
#include "test_signal.h"

namespace {

using micstream::Codec;
using micstream::bench::kSamplesPerFrame;
namespace proto = micstream::proto;

constexpr std::size_t kStreamFrames = 100;  // two seconds of audio
constexpr std::size_t kTcpSegment = 1460;

struct Stream {
  std::vector<std::uint8_t> bytes;
  std::vector<std::span<const std::uint8_t>> payloads;  // each frame's payload (AUDIO header + codec payload)
  bool ok = false;
};

// Frames exactly as a device sends them: prefix, then the codec writes in place.
Stream make_stream(Codec codec) {
  Stream s;
  const std::vector<std::int16_t> signal = micstream::bench::make_signal(kStreamFrames * kSamplesPerFrame);
  const std::size_t codec_bytes = micstream::encoded_size(codec, 1, kSamplesPerFrame);
  const std::size_t frame_size = proto::kHeaderSize + proto::kAudioHeaderSize + codec_bytes;
  s.bytes.resize(kStreamFrames * frame_size);
  micstream::FrameEncoder encoder(codec, 1);
  for (std::size_t f = 0; f < kStreamFrames; ++f) {
    std::span<std::uint8_t> out(s.bytes.data() + f * frame_size, frame_size);
    proto::AudioHeader h;
    h.sequence = static_cast<std::uint32_t>(f);
    h.first_sample = f * kSamplesPerFrame;
    h.capture_time_us = 1'700'000'000'000'000ull + f * 20'000ull;
    h.codec = codec;
    h.channels = 1;
    h.sample_count = static_cast<std::uint16_t>(kSamplesPerFrame);
    auto prefix = proto::encode_audio_prefix(h, codec_bytes, out);
    if (!prefix.ok()) return s;
    auto enc = encoder.encode(std::span<const std::int16_t>(signal.data() + f * kSamplesPerFrame, kSamplesPerFrame),
                              out.subspan(prefix.value));
    if (!enc.ok() || prefix.value + enc.value != frame_size) return s;
  }
  for (std::size_t f = 0; f < kStreamFrames; ++f) {
    s.payloads.emplace_back(s.bytes.data() + f * frame_size + proto::kHeaderSize, frame_size - proto::kHeaderSize);
  }
  s.ok = true;
  return s;
}

std::vector<std::span<const std::uint8_t>> split(const std::vector<std::uint8_t>& bytes, std::size_t piece) {
  std::vector<std::span<const std::uint8_t>> out;
  for (std::size_t pos = 0; pos < bytes.size(); pos += piece) {
    out.emplace_back(bytes.data() + pos, std::min(piece, bytes.size() - pos));
  }
  return out;
}

// Feeds one read's worth of bytes, calling on_frame for each whole frame.
// Returns false on a parse error.
template <class OnFrame>
bool feed_all(proto::FrameParser& parser, std::span<const std::uint8_t> bytes, OnFrame&& on_frame) {
  while (!bytes.empty()) {
    const auto step = parser.feed(bytes);
    bytes = bytes.subspan(step.consumed);
    if (step.status == proto::FrameParser::Status::frame) {
      on_frame(parser.frame());
    } else if (step.status == proto::FrameParser::Status::error) {
      return false;
    }
  }
  return true;
}

void finish(benchmark::State& state, const Stream& s) {
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kStreamFrames));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(s.bytes.size()));
  state.counters["frame_bytes"] = static_cast<double>(s.bytes.size() / kStreamFrames);
}

void BM_ParseBuffer(benchmark::State& state, Codec codec) {
  const Stream s = make_stream(codec);
  if (!s.ok) return state.SkipWithError("stream encode failed");
  std::vector<std::uint8_t> storage(proto::kMaxFrameSize);
  proto::FrameParser parser(storage);
  for (auto _ : state) {
    std::size_t frames = 0;
    const bool ok = feed_all(parser, s.bytes, [&](const proto::FrameView& f) {
      benchmark::DoNotOptimize(f.payload.data());
      ++frames;
    });
    if (!ok || frames != kStreamFrames) return state.SkipWithError("parse failed");
  }
  finish(state, s);
}

void BM_ParseSegments(benchmark::State& state, Codec codec) {
  const Stream s = make_stream(codec);
  if (!s.ok) return state.SkipWithError("stream encode failed");
  const auto segments = split(s.bytes, kTcpSegment);
  std::vector<std::uint8_t> storage(proto::kMaxFrameSize);
  proto::FrameParser parser(storage);
  for (auto _ : state) {
    std::size_t frames = 0;
    for (const auto& segment : segments) {
      const bool ok = feed_all(parser, segment, [&](const proto::FrameView& f) {
        benchmark::DoNotOptimize(f.payload.data());
        ++frames;
      });
      if (!ok) return state.SkipWithError("parse failed");
    }
    if (frames != kStreamFrames) return state.SkipWithError("frame count");
  }
  finish(state, s);
  state.counters["segments"] = static_cast<double>(segments.size());
}

void BM_DecodeAudioPayload(benchmark::State& state, Codec codec) {
  const Stream s = make_stream(codec);
  if (!s.ok) return state.SkipWithError("stream encode failed");
  for (auto _ : state) {
    for (const auto& payload : s.payloads) {
      proto::Audio audio;
      if (proto::decode(payload, audio) != micstream::Errc::ok) return state.SkipWithError("decode failed");
      benchmark::DoNotOptimize(audio);
    }
  }
  finish(state, s);
}

// What a server does with each connection's bytes.
void BM_ReceivePath(benchmark::State& state, Codec codec) {
  const Stream s = make_stream(codec);
  if (!s.ok) return state.SkipWithError("stream encode failed");
  const auto segments = split(s.bytes, kTcpSegment);
  std::vector<std::uint8_t> storage(proto::kMaxFrameSize);
  proto::FrameParser parser(storage);
  std::vector<std::int16_t> pcm(kSamplesPerFrame);
  for (auto _ : state) {
    std::size_t frames = 0;
    bool ok = true;
    for (const auto& segment : segments) {
      ok = ok && feed_all(parser, segment, [&](const proto::FrameView& f) {
        proto::Audio audio;
        if (f.type != proto::FrameType::audio || proto::decode(f.payload, audio) != micstream::Errc::ok) {
          ok = false;
          return;
        }
        auto r = micstream::decode_frame(audio.header.codec, audio.header.channels, audio.header.sample_count,
                                         audio.payload, pcm);
        ok = ok && r.ok();
        benchmark::DoNotOptimize(pcm.data());
        ++frames;
      });
    }
    if (!ok || frames != kStreamFrames) return state.SkipWithError("receive path failed");
  }
  finish(state, s);
}

}  // namespace

BENCHMARK_CAPTURE(BM_ParseBuffer, pcm16, Codec::pcm16);
BENCHMARK_CAPTURE(BM_ParseBuffer, ima_adpcm, Codec::ima_adpcm);
BENCHMARK_CAPTURE(BM_ParseSegments, pcm16, Codec::pcm16);
BENCHMARK_CAPTURE(BM_ParseSegments, ima_adpcm, Codec::ima_adpcm);
BENCHMARK_CAPTURE(BM_DecodeAudioPayload, pcm16, Codec::pcm16);
BENCHMARK_CAPTURE(BM_DecodeAudioPayload, ima_adpcm, Codec::ima_adpcm);
BENCHMARK_CAPTURE(BM_ReceivePath, pcm16, Codec::pcm16);
BENCHMARK_CAPTURE(BM_ReceivePath, ima_adpcm, Codec::ima_adpcm);
