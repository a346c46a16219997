// The work whose instructions bench/callgrind-instructions.sh counts: encode
// (or decode) N 20 ms frames of 16 kHz mono through the same API the firmware
// uses. Only encode_all() / decode_all() are counted (callgrind
// --toggle-collect), so generating the signal and the setup are not.
//
//   adpcm-instructions [encode|decode] [pcm16|mulaw|ima-adpcm] [frames]
//   (defaults: encode ima-adpcm 1000)
//
// Prints one line: op=... codec=... samples=N bytes=... checksum=...
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "micstream/codec.h"
#include "test_signal.h"

using micstream::Codec;
using micstream::bench::kSamplesPerFrame;

// Encodes every frame of pcm into out, one encoded frame after another, with
// one FrameEncoder as a stream does. Returns false on any error.
__attribute__((noinline)) bool encode_all(Codec codec, std::span<const std::int16_t> pcm, std::span<std::uint8_t> out,
                                          std::size_t frame_bytes) {
  micstream::FrameEncoder encoder(codec, 1);
  const std::size_t frames = pcm.size() / kSamplesPerFrame;
  for (std::size_t f = 0; f < frames; ++f) {
    auto r = encoder.encode(pcm.subspan(f * kSamplesPerFrame, kSamplesPerFrame), out.subspan(f * frame_bytes, frame_bytes));
    if (!r.ok()) return false;
  }
  return true;
}

__attribute__((noinline)) bool decode_all(Codec codec, std::span<const std::uint8_t> encoded, std::span<std::int16_t> pcm,
                                          std::size_t frame_bytes) {
  const std::size_t frames = encoded.size() / frame_bytes;
  for (std::size_t f = 0; f < frames; ++f) {
    auto r = micstream::decode_frame(codec, 1, kSamplesPerFrame, encoded.subspan(f * frame_bytes, frame_bytes),
                                     pcm.subspan(f * kSamplesPerFrame, kSamplesPerFrame));
    if (!r.ok()) return false;
  }
  return true;
}

int main(int argc, char** argv) {
  const char* op = argc > 1 ? argv[1] : "encode";
  const char* codec_arg = argc > 2 ? argv[2] : "ima-adpcm";
  const long frames_arg = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 1000;
  const bool decode = std::strcmp(op, "decode") == 0;
  Codec codec{};
  if ((!decode && std::strcmp(op, "encode") != 0) || !micstream::codec_from_name(codec_arg, codec) || frames_arg < 1) {
    std::fprintf(stderr, "usage: %s [encode|decode] [pcm16|mulaw|ima-adpcm] [frames>=1]\n", argv[0]);
    return 2;
  }
  const auto frames = static_cast<std::size_t>(frames_arg);
  const std::size_t frame_bytes = micstream::encoded_size(codec, 1, kSamplesPerFrame);
  const std::vector<std::int16_t> signal = micstream::bench::make_signal(frames * kSamplesPerFrame);
  std::vector<std::uint8_t> encoded(frames * frame_bytes);
  std::vector<std::int16_t> decoded(frames * kSamplesPerFrame);

  bool ok = encode_all(codec, signal, encoded, frame_bytes);
  if (ok && decode) ok = decode_all(codec, encoded, decoded, frame_bytes);
  if (!ok) {
    std::fprintf(stderr, "%s %s failed\n", op, codec_arg);
    return 1;
  }

  // FNV-1a of the output, so the work cannot be optimised away and runs compare.
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](std::uint8_t b) { h = (h ^ b) * 0x100000001b3ull; };
  if (decode) {
    for (std::int16_t s : decoded) {
      mix(static_cast<std::uint8_t>(s & 0xFF));
      mix(static_cast<std::uint8_t>((s >> 8) & 0xFF));
    }
  } else {
    for (std::uint8_t b : encoded) mix(b);
  }
  std::printf("op=%s codec=%s samples=%zu bytes=%zu checksum=%016llx\n", op, micstream::codec_name(codec),
              frames * kSamplesPerFrame, encoded.size(), static_cast<unsigned long long>(h));
  return 0;
}
