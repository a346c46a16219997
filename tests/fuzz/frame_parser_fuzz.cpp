// libFuzzer target for the receive path: proto::FrameParser, the frame
// decoders (proto::decode), the encoders they must round-trip with
// (proto::encode), and micstream::decode_frame on AUDIO payloads.
//
// The input layout is in fuzz_input.h. The stream is parsed twice: in chunks
// whose sizes the input chooses, and all at once. Any broken invariant calls
// __builtin_trap(), which libFuzzer reports as a crash:
//   - feed() never consumes more than offered, consumes everything when it
//     says need_more, and makes progress when it reports a frame;
//   - a frame's type is valid, its payload length is within payload_bounds()
//     and the storage, and the frame is exactly the bytes of the stream at
//     its position (header fields included);
//   - an error is sticky (feed() then consumes nothing) until reset();
//   - both ways of feeding give the same frames and errors at the same offsets;
//   - every frame that decodes re-encodes to exactly its original bytes, and
//     the encoder refuses (buffer_too_small) a buffer one byte short;
//   - an AUDIO frame's codec payload decodes (or is refused for a step index
//     above 88, the only error left once proto::decode accepted it), and
//     PCM16 re-encodes bit-exactly; mu-law and IMA ADPCM re-encode and decode.
// After an error the parser is reset() and fed the rest of the stream, so
// frames after garbage are covered too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <span>
#include <vector>

#include "chunker.h"
#include "fuzz_input.h"
#include "micstream/codec.h"
#include "micstream/frame_parser.h"
#include "micstream/mulaw.h"
#include "micstream/protocol.h"

namespace {

using micstream::Codec;
using micstream::Errc;
namespace proto = micstream::proto;
using Status = proto::FrameParser::Status;
using micstream::fuzz::Chunker;

#define FUZZ_CHECK(cond)         \
  do {                           \
    if (!(cond)) __builtin_trap(); \
  } while (0)

struct Event {
  bool is_frame;
  Errc error;                // is_frame == false
  proto::FrameType type;     // is_frame == true
  std::size_t begin;         // stream offset of the frame's first byte (frames)
  std::size_t end;           // stream offset just past the frame, or past the byte that failed
  friend bool operator==(const Event&, const Event&) = default;
};

struct Outcome {
  std::vector<Event> events;
  bool idle_at_end = true;
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

std::uint32_t le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}

Outcome parse(std::span<const std::uint8_t> stream, std::size_t storage_size, Chunker chunker) {
  Outcome out;
  std::vector<std::uint8_t> storage(storage_size);  // heap, exact size: ASan sees any overrun
  proto::FrameParser parser(storage);
  const std::size_t capacity = storage_size < proto::kMaxFrameSize ? storage_size : proto::kMaxFrameSize;
  FUZZ_CHECK(parser.idle());

  micstream::fuzz::feed_in_chunks(
      stream, chunker, [&](std::span<const std::uint8_t> bytes) { return parser.feed(bytes); },
      [&](const auto& step) {
        FUZZ_CHECK(step.consumed == 0);
        FUZZ_CHECK(step.status == Status::need_more || capacity < proto::kHeaderSize);
      },
      [&](const auto& step, std::size_t pos, std::span<const std::uint8_t> rest) {
        switch (step.status) {
          case Status::need_more:
            FUZZ_CHECK(rest.empty());
            FUZZ_CHECK(parser.error() == Errc::ok);
            return true;
          case Status::frame: {
            FUZZ_CHECK(step.consumed > 0);
            FUZZ_CHECK(parser.idle());
            FUZZ_CHECK(parser.error() == Errc::ok);
            const proto::FrameView& f = parser.frame();
            FUZZ_CHECK(proto::is_valid_frame_type(static_cast<std::uint8_t>(f.type)));
            const proto::PayloadBounds b = proto::payload_bounds(f.type);
            FUZZ_CHECK(f.payload.size() >= b.min && f.payload.size() <= b.max);
            FUZZ_CHECK(f.payload.size() <= proto::kMaxPayload);
            FUZZ_CHECK(proto::kHeaderSize + f.payload.size() <= capacity);
            FUZZ_CHECK(f.payload.data() == storage.data() + proto::kHeaderSize);
            // The frame is exactly the stream's bytes at its position.
            const std::size_t size = proto::kHeaderSize + f.payload.size();
            FUZZ_CHECK(pos >= size);
            const std::uint8_t* h = stream.data() + (pos - size);
            FUZZ_CHECK(h[0] == 'M' && h[1] == 'S' && h[2] == proto::kVersion);
            FUZZ_CHECK(h[3] == static_cast<std::uint8_t>(f.type));
            FUZZ_CHECK(le32(h + 4) == f.payload.size());
            FUZZ_CHECK(std::memcmp(h + proto::kHeaderSize, f.payload.data(), f.payload.size()) == 0);
            out.events.push_back({true, Errc::ok, f.type, pos - size, pos});
            return true;
          }
          case Status::error:
            break;
        }
        const Errc e = parser.error();
        FUZZ_CHECK(e != Errc::ok);
        if (capacity < proto::kHeaderSize) {
          FUZZ_CHECK(e == Errc::buffer_too_small && step.consumed == 0);
        } else {
          FUZZ_CHECK(step.consumed > 0);  // the byte that failed is consumed
          FUZZ_CHECK(e == Errc::bad_magic || e == Errc::unsupported_version || e == Errc::unknown_frame_type ||
                     e == Errc::frame_too_large || e == Errc::bad_length_for_type);
        }
        // Sticky until reset().
        const auto again = parser.feed(rest);
        FUZZ_CHECK(again.consumed == 0 && again.status == Status::error && parser.error() == e);
        out.events.push_back({false, e, proto::FrameType::error, 0, pos});
        if (e == Errc::buffer_too_small) return false;  // nothing can ever be parsed with this storage
        parser.reset();
        FUZZ_CHECK(parser.idle() && parser.error() == Errc::ok);
        return true;
      });
  out.idle_at_end = parser.idle();
  return out;
}

// ---- decode, then round trip through the encoder ----

std::uint8_t g_encoded[proto::kMaxFrameSize];
std::int16_t g_pcm[32768];  // >= the most samples any valid AUDIO payload holds (IMA ADPCM mono: 32713)
std::uint8_t g_reencoded[proto::kMaxPayload];

template <class Message>
void check_round_trip(const Message& m, std::span<const std::uint8_t> frame) {
  const auto r = proto::encode(m, g_encoded);
  FUZZ_CHECK(r.ok());
  FUZZ_CHECK(r.value == frame.size());
  FUZZ_CHECK(std::memcmp(g_encoded, frame.data(), frame.size()) == 0);
  // One byte short must be refused, and nothing written past it (ASan: exact heap size).
  std::vector<std::uint8_t> small(frame.size() - 1);
  const auto s = proto::encode(m, small);
  FUZZ_CHECK(!s.ok() && s.error == Errc::buffer_too_small);
}

template <class Message>
void decode_and_round_trip(std::span<const std::uint8_t> frame) {
  Message m{};
  if (proto::decode(frame.subspan(proto::kHeaderSize), m) != Errc::ok) return;
  check_round_trip(m, frame);
}

void check_audio_payload(const proto::Audio& a) {
  const proto::AudioHeader& h = a.header;
  const std::size_t samples = std::size_t{h.sample_count} * h.channels;
  FUZZ_CHECK(samples <= std::size(g_pcm));
  FUZZ_CHECK(a.payload.size() == micstream::encoded_size(h.codec, h.channels, h.sample_count));

  Errc expected = Errc::ok;
  if (h.codec == Codec::ima_adpcm) {
    for (unsigned c = 0; c < h.channels; ++c) {
      if (a.payload[c * 4 + 2] > 88) expected = Errc::invalid_value;
    }
  }
  const auto r = micstream::decode_frame(h.codec, h.channels, h.sample_count, a.payload, g_pcm);
  FUZZ_CHECK(r.error == expected);
  if (!r.ok()) return;
  FUZZ_CHECK(r.value == samples);

  // An output buffer one sample short is refused.
  std::vector<std::int16_t> short_out(samples - 1);
  FUZZ_CHECK(micstream::decode_frame(h.codec, h.channels, h.sample_count, a.payload, short_out).error ==
             Errc::buffer_too_small);

  const std::span<const std::int16_t> pcm(g_pcm, samples);
  micstream::FrameEncoder encoder(h.codec, h.channels);
  const auto e = encoder.encode(pcm, g_reencoded);
  FUZZ_CHECK(e.ok() && e.value == a.payload.size());
  const std::span<const std::uint8_t> reencoded(g_reencoded, e.value);
  switch (h.codec) {
    case Codec::pcm16:  // lossless: the same bytes
      FUZZ_CHECK(std::memcmp(g_reencoded, a.payload.data(), e.value) == 0);
      break;
    case Codec::mulaw:  // decode(encode(decode(x))) == decode(x): every code's value is a fixed point
      for (std::size_t i = 0; i < samples; ++i) {
        FUZZ_CHECK(micstream::mulaw::decode_sample(g_reencoded[i]) == g_pcm[i]);
      }
      break;
    case Codec::ima_adpcm: {  // lossy: the re-encoded block must decode
      static std::int16_t again[32768];
      const auto d = micstream::decode_frame(h.codec, h.channels, h.sample_count, reencoded, again);
      FUZZ_CHECK(d.ok() && d.value == samples);
      // The first sample of each channel travels whole.
      for (unsigned c = 0; c < h.channels; ++c) FUZZ_CHECK(again[c] == g_pcm[c]);
      break;
    }
  }
}

void check_frame(std::span<const std::uint8_t> frame, proto::FrameType type) {
  switch (type) {
    case proto::FrameType::hello: decode_and_round_trip<proto::Hello>(frame); break;
    case proto::FrameType::welcome: decode_and_round_trip<proto::Welcome>(frame); break;
    case proto::FrameType::stats: decode_and_round_trip<proto::Stats>(frame); break;
    case proto::FrameType::ping: decode_and_round_trip<proto::Ping>(frame); break;
    case proto::FrameType::pong: decode_and_round_trip<proto::Pong>(frame); break;
    case proto::FrameType::error: decode_and_round_trip<proto::ErrorMessage>(frame); break;
    case proto::FrameType::config: decode_and_round_trip<proto::Config>(frame); break;
    case proto::FrameType::audio: {
      proto::Audio a{};
      if (proto::decode(frame.subspan(proto::kHeaderSize), a) != Errc::ok) return;
      // The payload view points into the frame, right after the audio header.
      FUZZ_CHECK(a.payload.data() == frame.data() + proto::kHeaderSize + proto::kAudioHeaderSize);
      check_round_trip(a, frame);
      // encode_audio_prefix writes the same 32 bytes in front of the payload.
      const auto p = proto::encode_audio_prefix(a.header, a.payload.size(), g_encoded);
      FUZZ_CHECK(p.ok() && p.value == proto::kHeaderSize + proto::kAudioHeaderSize);
      FUZZ_CHECK(std::memcmp(g_encoded, frame.data(), p.value) == 0);
      check_audio_payload(a);
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = micstream::fuzz::split_input(data, size, micstream::fuzz::kMaxShift);
  if (!input) return 0;
  const std::size_t storage = micstream::fuzz::storage_size(input->selector);

  const Outcome chunked = parse(input->stream, storage, input->chunker);
  const Outcome whole = parse(input->stream, storage, Chunker::whole());
  FUZZ_CHECK(chunked == whole);

  for (const Event& e : whole.events) {
    if (e.is_frame) check_frame(input->stream.subspan(e.begin, e.end - e.begin), e.type);
  }
  return 0;
}
