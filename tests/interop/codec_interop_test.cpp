// Interop tests of micstream-codec against independent implementations:
// ffmpeg, sox and libsndfile decode the WAV files our encoders write, and our
// decoders read the files ffmpeg writes. This test links none of micstream's
// code: the tool runs as a subprocess, and every expected value comes from
// another implementation, or from the original signal for the quality floors.

#include <gtest/gtest.h>
#include <sndfile.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <numbers>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "micstream/ima_adpcm.h"

#ifndef MICSTREAM_CODEC_TOOL
#error "CMake defines MICSTREAM_CODEC_TOOL as the path of micstream-codec"
#endif

namespace {

namespace fs = std::filesystem;
using Samples = std::vector<std::int16_t>;

constexpr int kRate = 16000;
const std::string kTool = MICSTREAM_CODEC_TOOL;

// Quality floors against the original signal.
constexpr double kMulawFloorDb = 35.0;
constexpr double kImaFloorDb = 20.0;

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
std::string quote(const fs::path& p) { return quote(p.string()); }

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct CommandResult {
  int exit_code = -1;
  std::string out;  // raw bytes: may be audio
  std::string err;
};

// Runs a shell command, capturing stdout as bytes and stderr through a file.
CommandResult run(const std::string& command, const fs::path& dir) {
  const fs::path err_path = dir / "stderr.txt";
  CommandResult r;
  FILE* pipe = popen((command + " 2>" + quote(err_path)).c_str(), "r");
  if (pipe == nullptr) fail("popen failed for: " + command);
  char buf[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  r.err = read_bytes(err_path);
  return r;
}

CommandResult run_ok(const std::string& command, const fs::path& dir) {
  CommandResult r = run(command, dir);
  if (r.exit_code != 0) fail("command failed (exit " + std::to_string(r.exit_code) + "): " + command + "\n" + r.err);
  return r;
}

Samples from_s16le(const std::string& bytes) {
  Samples s(bytes.size() / 2);
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto lo = static_cast<unsigned char>(bytes[2 * i]);
    const auto hi = static_cast<unsigned char>(bytes[2 * i + 1]);
    s[i] = static_cast<std::int16_t>(lo | (hi << 8));
  }
  return s;
}

// ---- WAV through libsndfile (signals in, decoded PCM16 out) ----

struct Audio {
  int rate = 0;
  int channels = 0;
  int format = 0;
  Samples samples;
};

// libsndfile's decode: for IMA ADPCM and mu-law files it is a third decoder.
Audio read_wav(const fs::path& path) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (f == nullptr) fail(path.string() + ": libsndfile cannot read it: " + sf_strerror(nullptr));
  Audio a{info.samplerate, info.channels, info.format, Samples(static_cast<std::size_t>(info.frames * info.channels))};
  const sf_count_t got = sf_readf_short(f, a.samples.data(), info.frames);
  sf_close(f);
  if (got != info.frames) fail(path.string() + ": short read");
  return a;
}

void write_wav(const fs::path& path, int channels, const Samples& samples,
               int format = SF_FORMAT_WAV | SF_FORMAT_PCM_16) {
  SF_INFO info{};
  info.samplerate = kRate;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (f == nullptr) fail(path.string() + ": cannot write: " + sf_strerror(nullptr));
  const sf_count_t frames = static_cast<sf_count_t>(samples.size()) / channels;
  const sf_count_t put = sf_writef_short(f, samples.data(), frames);
  sf_close(f);
  if (put != frames) fail(path.string() + ": short write");
}

Samples sine(std::size_t frames, double hz, double dbfs) {
  const double amplitude = 32767.0 * std::pow(10.0, dbfs / 20.0);
  Samples s(frames);
  for (std::size_t i = 0; i < frames; ++i) {
    s[i] = static_cast<std::int16_t>(
        std::lrint(amplitude * std::sin(2.0 * std::numbers::pi * hz * static_cast<double>(i) / kRate)));
  }
  return s;
}

Samples interleave(const Samples& left, const Samples& right) {
  Samples s(2 * std::min(left.size(), right.size()));
  for (std::size_t i = 0; i < s.size() / 2; ++i) {
    s[2 * i] = left[i];
    s[2 * i + 1] = right[i];
  }
  return s;
}

Samples channel(const Samples& interleaved, int channels, int c) {
  Samples s;
  for (std::size_t i = static_cast<std::size_t>(c); i < interleaved.size(); i += static_cast<std::size_t>(channels)) {
    s.push_back(interleaved[i]);
  }
  return s;
}

// ---- The container read byte by byte, independently of libsndfile ----

struct RiffWav {
  unsigned format_tag = 0;
  unsigned channels = 0;
  unsigned rate = 0;
  unsigned block_align = 0;
  unsigned samples_per_block = 0;  // IMA ADPCM fmt extension; 0 when absent
  std::vector<std::uint8_t> data;
};

RiffWav parse_riff(const fs::path& path) {
  const std::string b = read_bytes(path);
  auto u16 = [&b](std::size_t at) {
    return static_cast<unsigned>(static_cast<unsigned char>(b[at]) | (static_cast<unsigned char>(b[at + 1]) << 8));
  };
  auto u32 = [&](std::size_t at) { return u16(at) | (u16(at + 2) << 16); };
  if (b.size() < 12 || b.compare(0, 4, "RIFF") != 0 || b.compare(8, 4, "WAVE") != 0)
    fail(path.string() + ": not RIFF/WAVE");
  RiffWav w;
  bool have_fmt = false;
  bool have_data = false;
  for (std::size_t at = 12; at + 8 <= b.size();) {
    const std::string id = b.substr(at, 4);
    const std::size_t size = u32(at + 4);
    const std::size_t body = at + 8;
    if (body + size > b.size()) fail(path.string() + ": chunk '" + id + "' runs past the end of the file");
    if (id == "fmt " && !have_fmt) {
      w.format_tag = u16(body);
      w.channels = u16(body + 2);
      w.rate = u32(body + 4);
      w.block_align = u16(body + 12);
      if (size >= 20 && u16(body + 16) >= 2) w.samples_per_block = u16(body + 18);
      have_fmt = true;
    } else if (id == "data" && !have_data) {
      w.data.assign(b.begin() + static_cast<std::ptrdiff_t>(body),
                    b.begin() + static_cast<std::ptrdiff_t>(body + size));
      have_data = true;
    }
    at = body + size + (size & 1);
  }
  if (!have_fmt || !have_data) fail(path.string() + ": no fmt or data chunk");
  return w;
}

// ffmpeg (5.1 at least) decodes 4-bit IMA ADPCM with one multiply,
// diff = ((2 * magnitude + 1) * step) >> 3, where the IMA reference (and sox,
// libsndfile and micstream) sums truncated shifts of step; the two differ by a
// few LSB a sample. This models ffmpeg's variant from the format description
// so that ffmpeg's output can still be checked exactly.
Samples ima_decode_multiply_variant(const RiffWav& w) {
  using micstream::ima_adpcm::kIndexAdjust;
  using micstream::ima_adpcm::kMaxStepIndex;
  using micstream::ima_adpcm::kStepTable;
  const std::size_t ch = w.channels;
  const std::size_t spb = w.samples_per_block;
  Samples out;
  for (std::size_t at = 0; at + w.block_align <= w.data.size(); at += w.block_align) {
    const std::uint8_t* p = &w.data[at];
    Samples block(spb * ch);
    int predictor[2] = {};
    int index[2] = {};
    for (std::size_t c = 0; c < ch; ++c) {
      predictor[c] = static_cast<std::int16_t>(p[4 * c] | (p[4 * c + 1] << 8));
      index[c] = std::min(static_cast<int>(p[4 * c + 2]), int{kMaxStepIndex});
      block[c] = static_cast<std::int16_t>(predictor[c]);
    }
    p += 4 * ch;
    for (std::size_t first = 1; first < spb; first += 8) {
      for (std::size_t c = 0; c < ch; ++c) {
        for (std::size_t k = 0; k < 8; ++k) {
          const int nibble = (p[k / 2] >> (4 * (k % 2))) & 0x0F;
          if (first + k >= spb) continue;
          const int diff = ((2 * (nibble & 7) + 1) * kStepTable[index[c]]) >> 3;
          predictor[c] = std::clamp((nibble & 8) ? predictor[c] - diff : predictor[c] + diff, -32768, 32767);
          index[c] = std::clamp(index[c] + kIndexAdjust[nibble & 7], 0, int{kMaxStepIndex});
          block[(first + k) * ch + c] = static_cast<std::int16_t>(predictor[c]);
        }
        p += 4;
      }
    }
    out.insert(out.end(), block.begin(), block.end());
  }
  return out;
}

// ---- Comparing and measuring ----

struct Diff {
  std::size_t count = 0;
  std::size_t first = 0;
  int max_abs = 0;
};

Diff diff(const Samples& a, const Samples& b) {
  Diff d;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] == b[i]) continue;
    if (d.count++ == 0) d.first = i;
    d.max_abs = std::max(d.max_abs, std::abs(a[i] - b[i]));
  }
  return d;
}

testing::AssertionResult same_samples(const std::string& expected_name, const Samples& expected,
                                      const std::string& actual_name, const Samples& actual, int channels) {
  if (expected == actual) return testing::AssertionSuccess();
  auto result = testing::AssertionFailure();
  if (expected.size() != actual.size()) {
    result << expected_name << " has " << expected.size() << " samples, " << actual_name << " " << actual.size()
           << "; ";
  }
  const Diff d = diff(expected, actual);
  if (d.count == 0) return result << "the common samples are equal";
  return result << d.count << " samples differ, the first at sample " << d.first << " (frame "
                << d.first / static_cast<std::size_t>(channels) << ", channel "
                << d.first % static_cast<std::size_t>(channels) << "): " << expected_name << " " << expected[d.first]
                << ", " << actual_name << " " << actual[d.first] << "; max |difference| " << d.max_abs;
}

// Signal to noise ratio of decoded against original, over the original's
// length (an IMA ADPCM decode is longer by its padding).
double snr_db(const Samples& original, const Samples& decoded) {
  if (decoded.size() < original.size()) fail("decoded signal is shorter than the original");
  double signal = 0;
  double noise = 0;
  for (std::size_t i = 0; i < original.size(); ++i) {
    signal += static_cast<double>(original[i]) * original[i];
    const double e = static_cast<double>(decoded[i]) - original[i];
    noise += e * e;
  }
  return noise == 0 ? INFINITY : 10.0 * std::log10(signal / noise);
}

void report_snr(const std::string& key, double db) {
  std::ostringstream value;
  value.precision(2);
  value << std::fixed << db;
  std::cout << "[ SNR      ] " << key << ": " << value.str() << " dB\n";
  testing::Test::RecordProperty("snr_db_" + key, value.str());
}

// ---- Fixture: a temp dir per test, and the external tools ----

class CodecInterop : public testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"ffmpeg", "sox", "espeak-ng"}) {
      if (std::system(("command -v " + std::string(tool) + " >/dev/null 2>&1").c_str()) != 0) {
        GTEST_FAIL() << tool << " is not installed (or not on PATH); run `make test`, which installs "
                     << "ffmpeg, sox and espeak-ng";
      }
    }
    ASSERT_TRUE(fs::exists(kTool)) << "micstream-codec not built at " << kTool;
    std::string tmpl = (fs::temp_directory_path() / "micstream-interop-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << "mkdtemp failed";
    dir_ = tmpl;
  }

  void TearDown() override {
    if (dir_.empty()) return;
    if (HasFailure()) {
      std::cout << "[ kept     ] " << dir_.string() << " for inspection\n";
    } else {
      std::error_code ignored;
      fs::remove_all(dir_, ignored);
    }
  }

  fs::path path(const std::string& name) const { return dir_ / name; }
  CommandResult sh(const std::string& command) const { return run(command, dir_); }

  // 2 s of 1 kHz at -6 dBFS; 32000 frames is no whole number of ADPCM blocks.
  fs::path make_tone() {
    const fs::path p = path("tone.wav");
    tone_ = sine(2 * kRate, 1000.0, -6.0);
    write_wav(p, 1, tone_);
    return p;
  }

  fs::path make_speech() {
    const fs::path raw = path("speech-22k.wav");
    const fs::path p = path("speech.wav");
    run_ok("espeak-ng -w " + quote(raw) +
               " 'The quick brown fox jumps over the lazy dog. A small microphone streams its audio over "
               "the network, frame by frame, to a server that records every word.'",
           dir_);
    // -D: no dither, so the speech (and its SNRs) are the same on every run.
    run_ok("sox -D " + quote(raw) + " -b 16 " + quote(p) + " rate " + std::to_string(kRate), dir_);
    const Audio a = read_wav(p);
    if (a.rate != kRate || a.channels != 1 || a.samples.size() < static_cast<std::size_t>(kRate)) {
      fail("unexpected speech file from espeak-ng + sox");
    }
    return p;
  }

  // Our tool must succeed silently.
  void tool_encode(const std::string& codec, const fs::path& in, const fs::path& out) const {
    const CommandResult r = sh(quote(kTool) + " encode --codec " + codec + " " + quote(in) + " " + quote(out));
    if (r.exit_code != 0 || !r.out.empty() || !r.err.empty()) {
      fail("micstream-codec encode --codec " + codec + " " + in.string() + " failed (exit " +
           std::to_string(r.exit_code) + "):\n" + r.out + r.err);
    }
  }

  Samples tool_decode(const fs::path& in) const {
    const fs::path out = path(in.stem().string() + ".ours.wav");
    const CommandResult r = sh(quote(kTool) + " decode " + quote(in) + " " + quote(out));
    if (r.exit_code != 0 || !r.out.empty() || !r.err.empty()) {
      fail("micstream-codec decode " + in.string() + " failed (exit " + std::to_string(r.exit_code) + "):\n" + r.out +
           r.err);
    }
    const Audio a = read_wav(out);
    if (a.format != (SF_FORMAT_WAV | SF_FORMAT_PCM_16)) fail(out.string() + ": not a PCM16 WAV");
    return a.samples;
  }

  Samples ffmpeg_decode(const fs::path& in) const {
    return from_s16le(
        run_ok("ffmpeg -nostdin -hide_banner -loglevel error -i " + quote(in) + " -f s16le -acodec pcm_s16le -", dir_)
            .out);
  }

  Samples sox_decode(const fs::path& in) const {
    return from_s16le(run_ok("sox -D " + quote(in) + " -t raw -e signed-integer -b 16 -L -", dir_).out);
  }

  void ffmpeg_encode(const fs::path& in, const std::string& codec, const fs::path& out) const {
    run_ok("ffmpeg -nostdin -hide_banner -loglevel error -y -i " + quote(in) + " -c:a " + codec + " " + quote(out),
           dir_);
  }

  // ffmpeg must decode an IMA ADPCM file exactly like the reference decoders
  // or exactly like its multiply variant; anything else means it read the
  // blocks differently from us. Prints which, and by how much they differ.
  void expect_ffmpeg_ima_decode(const fs::path& wav, const Samples& reference, int channels) const {
    const Samples ff = ffmpeg_decode(wav);
    const std::string name = wav.filename().string();
    if (ff == reference) {
      std::cout << "[ ffmpeg   ] " << name << ": identical to the reference decode\n";
      return;
    }
    EXPECT_TRUE(
        same_samples("the multiply variant", ima_decode_multiply_variant(parse_riff(wav)), "ffmpeg", ff, channels))
        << "ffmpeg decodes " << name << " neither like the IMA reference nor like its multiply variant";
    ASSERT_EQ(ff.size(), reference.size()) << name;
    const Diff d = diff(reference, ff);
    std::cout << "[ ffmpeg   ] " << name << ": ffmpeg's multiply variant; " << d.count << " of " << ff.size()
              << " samples differ from the reference decode, first at " << d.first << " (reference "
              << reference[d.first] << ", ffmpeg " << ff[d.first] << "), max |difference| " << d.max_abs
              << ", agreement " << snr_db(reference, ff) << " dB\n";
  }

  fs::path dir_;
  Samples tone_;
};

// ---- Files our encoders write ----

TEST_F(CodecInterop, ImaAdpcmWeWriteDecodesTheSameInSoxLibsndfileAndFfmpeg) {
  for (const fs::path& input : {make_tone(), make_speech()}) {
    SCOPED_TRACE(input.filename().string());
    const fs::path encoded = path(input.stem().string() + ".ima.wav");
    tool_encode("ima-adpcm", input, encoded);

    // The header libsndfile wrote declares the blocks we encoded.
    const RiffWav w = parse_riff(encoded);
    EXPECT_EQ(w.format_tag, 0x11u);
    EXPECT_EQ(w.channels, 1u);
    EXPECT_EQ(w.rate, static_cast<unsigned>(kRate));
    EXPECT_EQ(w.block_align, 512u);
    EXPECT_EQ(w.samples_per_block, 1017u);
    const std::size_t frames = read_wav(input).samples.size();
    EXPECT_EQ(w.data.size(), (frames + 1016) / 1017 * 512) << "one block per 1017 frames, the last one padded";

    const Samples ours = tool_decode(encoded);
    EXPECT_EQ(ours.size(), (frames + 1016) / 1017 * 1017);
    EXPECT_TRUE(same_samples("micstream", ours, "sox", sox_decode(encoded), 1));
    EXPECT_TRUE(same_samples("micstream", ours, "libsndfile", read_wav(encoded).samples, 1));
    expect_ffmpeg_ima_decode(encoded, ours, 1);
  }
}

TEST_F(CodecInterop, MulawWeWriteDecodesTheSameInFfmpegSoxAndLibsndfile) {
  for (const fs::path& input : {make_tone(), make_speech()}) {
    SCOPED_TRACE(input.filename().string());
    const fs::path encoded = path(input.stem().string() + ".mulaw.wav");
    tool_encode("mulaw", input, encoded);
    const RiffWav w = parse_riff(encoded);
    EXPECT_EQ(w.format_tag, 7u);
    EXPECT_EQ(w.block_align, 1u);
    EXPECT_EQ(w.data.size(), read_wav(input).samples.size());

    const Samples ours = tool_decode(encoded);
    EXPECT_TRUE(same_samples("micstream", ours, "ffmpeg", ffmpeg_decode(encoded), 1));
    EXPECT_TRUE(same_samples("micstream", ours, "sox", sox_decode(encoded), 1));
    EXPECT_TRUE(same_samples("micstream", ours, "libsndfile", read_wav(encoded).samples, 1));
  }
}

// ---- Our encoders against libsndfile's encoders ----

testing::AssertionResult same_bytes(const std::vector<std::uint8_t>& expected,
                                    const std::vector<std::uint8_t>& actual) {
  if (expected == actual) return testing::AssertionSuccess();
  std::size_t i = 0;
  while (i < std::min(expected.size(), actual.size()) && expected[i] == actual[i]) ++i;
  auto result = testing::AssertionFailure() << "libsndfile wrote " << expected.size() << " data bytes, micstream "
                                            << actual.size() << "; the first difference is at byte " << i;
  if (i < std::min(expected.size(), actual.size())) {
    result << " (libsndfile 0x" << std::hex << int{expected[i]} << ", micstream 0x" << int{actual[i]} << ")";
  }
  return result;
}

// Decoders cannot tell a poor encoder from a good one; libsndfile's encoders
// (the IMA reference algorithm, and sign-magnitude G.711) are a byte-exact
// reference for ours. IMA inputs are whole blocks: libsndfile pads with
// silence where we repeat the last sample.
TEST_F(CodecInterop, EncodersWriteTheSameBytesAsLibsndfilesEncoders) {
  Samples speech = read_wav(make_speech()).samples;
  speech.resize(speech.size() / 1017 * 1017);
  const Samples tone = sine(speech.size(), 1000.0, -6.0);
  Samples every_value(65536);
  for (std::size_t i = 0; i < every_value.size(); ++i) every_value[i] = static_cast<std::int16_t>(i - 32768);

  struct Case {
    std::string name;
    int channels;
    const Samples* samples;
    std::string codec;
    int libsndfile_format;
  };
  const Samples stereo = interleave(speech, tone);
  for (const Case& c : {Case{"speech", 1, &speech, "ima-adpcm", SF_FORMAT_WAV | SF_FORMAT_IMA_ADPCM},
                        Case{"stereo", 2, &stereo, "ima-adpcm", SF_FORMAT_WAV | SF_FORMAT_IMA_ADPCM},
                        Case{"every-value", 1, &every_value, "mulaw", SF_FORMAT_WAV | SF_FORMAT_ULAW}}) {
    SCOPED_TRACE(c.name + " " + c.codec);
    const fs::path input = path(c.name + ".pcm.wav");
    const fs::path theirs = path(c.name + ".libsndfile." + c.codec + ".wav");
    const fs::path ours = path(c.name + ".micstream." + c.codec + ".wav");
    write_wav(input, c.channels, *c.samples);
    write_wav(theirs, c.channels, *c.samples, c.libsndfile_format);
    tool_encode(c.codec, input, ours);
    EXPECT_TRUE(same_bytes(parse_riff(theirs).data, parse_riff(ours).data));
  }
}

// ---- Files ffmpeg writes ----

TEST_F(CodecInterop, ImaAdpcmFfmpegWritesDecodesLikeTheReferenceDecoders) {
  for (const fs::path& input : {make_tone(), make_speech()}) {
    SCOPED_TRACE(input.filename().string());
    const fs::path encoded = path(input.stem().string() + ".ffmpeg-ima.wav");
    ffmpeg_encode(input, "adpcm_ima_wav", encoded);
    ASSERT_EQ(parse_riff(encoded).format_tag, 0x11u);

    const Samples ours = tool_decode(encoded);
    EXPECT_TRUE(same_samples("micstream", ours, "sox", sox_decode(encoded), 1));
    EXPECT_TRUE(same_samples("micstream", ours, "libsndfile", read_wav(encoded).samples, 1));
    expect_ffmpeg_ima_decode(encoded, ours, 1);
  }
}

TEST_F(CodecInterop, MulawFfmpegWritesDecodesLikeFfmpeg) {
  for (const fs::path& input : {make_tone(), make_speech()}) {
    SCOPED_TRACE(input.filename().string());
    const fs::path encoded = path(input.stem().string() + ".ffmpeg-mulaw.wav");
    ffmpeg_encode(input, "pcm_mulaw", encoded);
    ASSERT_EQ(parse_riff(encoded).format_tag, 7u);
    EXPECT_TRUE(same_samples("ffmpeg", ffmpeg_decode(encoded), "micstream", tool_decode(encoded), 1));
  }
}

// ---- Quality against the original ----

TEST_F(CodecInterop, QualityAgainstTheOriginal) {
  const fs::path tone = make_tone();
  const fs::path speech = make_speech();
  for (const auto& [codec, floor_db] :
       {std::pair{std::string("mulaw"), kMulawFloorDb}, std::pair{std::string("ima-adpcm"), kImaFloorDb}}) {
    for (const auto& [name, input] : {std::pair{std::string("tone"), tone}, std::pair{std::string("speech"), speech}}) {
      const fs::path encoded = path(name + "." + codec + ".wav");
      tool_encode(codec, input, encoded);
      const double db = snr_db(read_wav(input).samples, tool_decode(encoded));
      report_snr(codec + "_" + name, db);
      EXPECT_GE(db, floor_db) << codec << " on " << name;
    }
  }
}

// ---- Stereo ----

TEST_F(CodecInterop, StereoRoundTripsAndDecodesTheSameElsewhere) {
  // Different signals left and right, so a channel swap cannot pass.
  const Samples left = sine(2 * kRate, 1000.0, -6.0);
  const Samples right = sine(2 * kRate, 300.0, -10.0);
  const Samples original = interleave(left, right);
  const fs::path input = path("stereo.wav");
  write_wav(input, 2, original);

  for (const std::string codec : {"pcm16", "mulaw", "ima-adpcm"}) {
    SCOPED_TRACE(codec);
    const fs::path encoded = path("stereo." + codec + ".wav");
    tool_encode(codec, input, encoded);
    const RiffWav w = parse_riff(encoded);
    EXPECT_EQ(w.channels, 2u);
    const Samples ours = tool_decode(encoded);
    EXPECT_TRUE(same_samples("micstream", ours, "sox", sox_decode(encoded), 2));
    EXPECT_TRUE(same_samples("micstream", ours, "libsndfile", read_wav(encoded).samples, 2));

    if (codec == "ima-adpcm") {
      EXPECT_EQ(w.format_tag, 0x11u);
      EXPECT_EQ(w.block_align, 1024u);  // libsndfile's choice for 16 kHz stereo
      EXPECT_EQ(w.samples_per_block, 1017u);
      expect_ffmpeg_ima_decode(encoded, ours, 2);
    } else {
      EXPECT_TRUE(same_samples("micstream", ours, "ffmpeg", ffmpeg_decode(encoded), 2));
    }

    if (codec == "pcm16") {
      EXPECT_TRUE(same_samples("original", original, "micstream", ours, 2)) << "PCM16 is lossless";
    } else {
      const double floor_db = codec == "mulaw" ? kMulawFloorDb : kImaFloorDb;
      for (int c = 0; c < 2; ++c) {
        const double db = snr_db(channel(original, 2, c), channel(ours, 2, c));
        report_snr(codec + "_stereo_" + (c == 0 ? "left" : "right"), db);
        EXPECT_GE(db, floor_db) << "channel " << c;
      }
    }
  }
}

// ---- The tool's errors ----

TEST_F(CodecInterop, ToolReportsErrorsWithTheFileAndExitCode) {
  const fs::path tone = make_tone();
  const fs::path out = path("out.wav");
  const std::string tool = quote(kTool);

  const fs::path missing = path("no-such-file.wav");
  for (const std::string& command : {tool + " encode --codec mulaw " + quote(missing) + " " + quote(out),
                                     tool + " decode " + quote(missing) + " " + quote(out)}) {
    const CommandResult r = sh(command);
    EXPECT_EQ(r.exit_code, 1) << command;
    EXPECT_NE(r.err.find(missing.string()), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }

  const fs::path text = path("not-audio.wav");
  std::ofstream(text) << "This is a text file, not a WAV file.\n";
  for (const std::string& command : {tool + " encode --codec ima-adpcm " + quote(text) + " " + quote(out),
                                     tool + " decode " + quote(text) + " " + quote(out)}) {
    const CommandResult r = sh(command);
    EXPECT_EQ(r.exit_code, 1) << command;
    EXPECT_NE(r.err.find(text.string()), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }

  // Three channels: more than micstream's codecs carry.
  const fs::path three = path("three-channels.wav");
  write_wav(three, 3, Samples(3 * 1000, 0));
  CommandResult r = sh(tool + " encode --codec pcm16 " + quote(three) + " " + quote(out));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(three.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("3 channels"), std::string::npos) << r.err;

  // decode takes only the three codecs' WAVs.
  const fs::path pcm24 = path("pcm24.wav");
  write_wav(pcm24, 1, tone_, SF_FORMAT_WAV | SF_FORMAT_PCM_24);
  r = sh(tool + " decode " + quote(pcm24) + " " + quote(out));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(pcm24.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unsupported format"), std::string::npos) << r.err;

  // A truncated IMA ADPCM file is an error, not blocks of zeros.
  const fs::path truncated = path("truncated.ima.wav");
  tool_encode("ima-adpcm", tone, truncated);
  fs::resize_file(truncated, 1000);
  r = sh(tool + " decode " + quote(truncated) + " " + quote(out));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(truncated.string()), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));

  // Usage errors are exit code 2.
  r = sh(tool + " encode --codec opus " + quote(tone) + " " + quote(out));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("opus"), std::string::npos) << r.err;
  EXPECT_EQ(sh(tool).exit_code, 2);
  EXPECT_EQ(sh(tool + " encode " + quote(tone) + " " + quote(out)).exit_code, 2) << "--codec is required";
  EXPECT_FALSE(fs::exists(out));

  r = sh(tool + " --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("rounded up to whole blocks"), std::string::npos) << r.out;

  // -v prints one line; success is otherwise silent (tool_encode checks that).
  r = sh(tool + " -v encode --codec ima-adpcm " + quote(tone) + " " + quote(out));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find("block align 512"), std::string::npos) << r.out;
}

}  // namespace
