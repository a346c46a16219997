// Writes the seed corpus of frame_parser_fuzz: one valid frame of every type
// (every codec for AUDIO), and a few multi-frame streams (a whole session,
// TCP-sized chunks, garbage between frames, a small parser buffer), each with
// the control prefix of fuzz_input.h. Everything is built with the project's
// own encoders, so the seeds follow protocol v1 as the code defines it.
//
//   make_fuzz_corpus <output-dir>
//
// The files have fixed names; files the fuzzer merged in (named by their
// SHA-1) are left alone. Deterministic: the same files on every run.
#include <cmath>
#include <cstdlib>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "corpus_writer.h"
#include "fuzz_input.h"
#include "micstream/codec.h"
#include "micstream/protocol.h"

namespace {

using namespace std::string_view_literals;
using micstream::Codec;
namespace proto = micstream::proto;
using micstream::fuzz::Bytes;
using micstream::fuzz::cat;
using micstream::fuzz::text;

// An encoder refusing the project's own messages is a bug here, not bad input.
[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "make_fuzz_corpus: %s\n", what);
  std::exit(1);
}

template <class Message>
Bytes frame(const Message& m) {
  Bytes out(proto::kMaxFrameSize);
  const auto r = proto::encode(m, out);
  if (!r.ok()) die("encode failed");
  out.resize(r.value);
  return out;
}

std::vector<std::int16_t> tone(std::size_t frames, unsigned channels, unsigned sample_rate, std::size_t first) {
  std::vector<std::int16_t> pcm(frames * channels);
  constexpr double kPi = 3.14159265358979323846;
  for (std::size_t i = 0; i < frames; ++i) {
    const double t = static_cast<double>(first + i) / sample_rate;
    for (unsigned c = 0; c < channels; ++c) {
      pcm[i * channels + c] = static_cast<std::int16_t>(std::lround(12000.0 * std::sin(2.0 * kPi * (440.0 + 220.0 * c) * t)));
    }
  }
  return pcm;
}

Bytes audio(Codec codec, unsigned channels, std::uint16_t samples, std::uint32_t sequence) {
  micstream::FrameEncoder encoder(codec, channels);
  const auto pcm = tone(samples, channels, 16000, std::size_t{sequence} * samples);
  Bytes payload(micstream::encoded_size(codec, channels, samples));
  const auto e = encoder.encode(pcm, payload);
  if (!e.ok()) die("audio encode failed");
  proto::Audio a;
  a.header.sequence = sequence;
  a.header.first_sample = std::uint64_t{sequence} * samples;
  a.header.capture_time_us = 1'700'000'000'000'000ull + std::uint64_t{sequence} * 20'000ull;
  a.header.codec = codec;
  a.header.channels = static_cast<std::uint8_t>(channels);
  a.header.sample_count = samples;
  a.payload = payload;
  return frame(a);
}

Bytes hello() {
  proto::Hello m;
  m.codec = Codec::ima_adpcm;
  m.channels = 1;
  m.samples_per_frame = 320;
  m.sample_rate = 16000;
  for (std::size_t i = 0; i < proto::kProofSize; ++i) m.proof[i] = static_cast<std::uint8_t>(0xA0 + i);
  (void)m.device_id.assign("esp32-kitchen.01");
  (void)m.firmware_version.assign("1.4.2 (idf v5.1)");
  return frame(m);
}

Bytes welcome() {
  proto::Welcome m;
  for (std::size_t i = 0; i < proto::kNonceSize; ++i) m.nonce[i] = static_cast<std::uint8_t>(i * 17 + 3);
  m.server_time_us = 1'700'000'000'123'456ull;
  return frame(m);
}

Bytes stats() {
  proto::Stats m;
  m.uptime_s = 86400;
  m.frames_captured = 4'320'000;
  m.frames_dropped = 12;
  m.frames_sent = 4'319'988;
  m.reconnects = 3;
  m.free_heap_bytes = 182'344;
  m.min_free_heap_bytes = 150'112;
  m.wifi_rssi_dbm = -61;
  m.queue_depth = 2;
  return frame(m);
}

Bytes ping() {
  proto::Ping m;
  m.id = 42;
  m.device_time_us = 5'000'123;
  m.clock_offset_us = 1'699'999'995'000'000;
  m.rtt_us = 2'345;
  return frame(m);
}

Bytes pong() {
  proto::Pong m;
  m.id = 42;
  m.device_time_us = 5'000'123;
  m.server_receive_us = 1'700'000'000'200'000ull;
  m.server_send_us = 1'700'000'000'200'017ull;
  return frame(m);
}

Bytes error_frame() {
  proto::ErrorMessage m;
  m.code = micstream::Errc::unexpected_frame;
  (void)m.reason.assign("AUDIO before HELLO");
  return frame(m);
}

Bytes config(bool gain, bool codec) {
  proto::Config m;
  m.has_gain = gain;
  m.gain_cdb = gain ? -600 : 0;
  m.has_codec = codec;
  m.codec = codec ? Codec::mulaw : Codec::pcm16;
  return frame(m);
}

// The control prefix of fuzz_input.h: storage selector, then chunk sizes.
constexpr auto* prefix = &micstream::fuzz::control_prefix;

}  // namespace

int main(int argc, char** argv) {
  micstream::fuzz::CorpusWriter corpus("make_fuzz_corpus", argc, argv);
  const auto write = [&](const std::string& name, const Bytes& prefix_bytes, const Bytes& stream) {
    corpus.write(name, prefix_bytes, stream);
  };

  const Bytes whole = prefix(0x00, 0, {255});   // 255-byte chunks
  const Bytes bytewise = prefix(0x00, 0, {});   // one byte at a time
  const Bytes tcp = prefix(0x00, 3, {182});      // 182 << 3 = 1456 bytes: about one TCP segment
  const Bytes empty_feeds = prefix(0x00, 0, {0, 5});  // an empty feed (then 1 byte), 5 bytes, again

  // One valid frame of every type.
  write("01-hello", bytewise, hello());
  write("02-welcome", bytewise, welcome());
  write("03-audio-pcm16-mono-320", whole, audio(Codec::pcm16, 1, 320, 0));
  write("03-audio-mulaw-mono-320", whole, audio(Codec::mulaw, 1, 320, 1));
  write("03-audio-ima-adpcm-mono-320", whole, audio(Codec::ima_adpcm, 1, 320, 2));
  write("03-audio-ima-adpcm-stereo-160", bytewise, audio(Codec::ima_adpcm, 2, 160, 3));
  write("03-audio-pcm16-stereo-7", bytewise, audio(Codec::pcm16, 2, 7, 4));
  write("03-audio-ima-adpcm-mono-1", bytewise, audio(Codec::ima_adpcm, 1, 1, 5));
  // The largest frame there is: (16384 - 24) / 2 PCM16 samples.
  write("03-audio-pcm16-max", prefix(0x00, 6, {255}),
        audio(Codec::pcm16, 1, static_cast<std::uint16_t>((proto::kMaxPayload - proto::kAudioHeaderSize) / 2), 6));
  write("04-stats", bytewise, stats());
  write("05-ping", empty_feeds, ping());
  write("06-pong", bytewise, pong());
  write("07-error", bytewise, error_frame());
  write("08-config-gain-codec", bytewise, config(true, true));
  write("08-config-empty", bytewise, config(false, false));

  // Multi-frame streams.
  write("10-session", prefix(0x00, 0, {1, 7, 100, 3}),
        cat({welcome(), hello(), audio(Codec::ima_adpcm, 1, 320, 0), audio(Codec::ima_adpcm, 1, 320, 1), ping(),
             pong(), audio(Codec::ima_adpcm, 1, 320, 2), stats(), config(true, false), audio(Codec::mulaw, 1, 320, 3),
             error_frame()}));
  write("11-pcm16-stream-tcp-segments", tcp,
        cat({audio(Codec::pcm16, 1, 320, 0), audio(Codec::pcm16, 1, 320, 1), audio(Codec::pcm16, 1, 320, 2),
             audio(Codec::pcm16, 1, 320, 3), audio(Codec::pcm16, 1, 320, 4)}));
  write("12-ima-adpcm-stream-odd-chunks", prefix(0x00, 0, {5, 200, 1, 33}),
        cat({audio(Codec::ima_adpcm, 2, 160, 0), audio(Codec::ima_adpcm, 2, 160, 1), audio(Codec::ima_adpcm, 2, 160, 2),
             audio(Codec::ima_adpcm, 2, 160, 3)}));
  // Garbage, a wrong version and a bad length between frames: the parser is
  // reset after each error and must find the frames that follow.
  write("13-garbage-between-frames", prefix(0x00, 0, {3, 9}),
        cat({text("GET / HTTP/1.1\r\n"sv), ping(), text("MS\x02"sv), pong(), text("MS\x01\x09"sv),
             text("MS\x01\x05\xFF\xFF\x00\x00"sv), stats(), text("MS\x01\x05\x0D\x00\x00\x00"sv), config(false, true)}));
  // A device-sized parser buffer (8 + 4 * 64 bytes): small frames pass, a
  // 320-sample PCM16 AUDIO frame is frame_too_large, then parsing goes on.
  write("14-small-storage", prefix(static_cast<std::uint8_t>(micstream::fuzz::kSmallStorageBase + 4), 0, {16}),
        cat({welcome(), config(true, true), audio(Codec::pcm16, 1, 320, 0), ping(), audio(Codec::ima_adpcm, 1, 320, 1)}));
  // Storage smaller than a header: the parser refuses to start.
  write("15-tiny-storage", prefix(micstream::fuzz::kTinyStorage, 0, {}), ping());

  return corpus.finish();
}
