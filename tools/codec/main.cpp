// micstream-codec: converts PCM WAV files to and from WAV files whose payload
// is made by micstream's own codecs: IMA ADPCM (format 0x11), G.711 mu-law (7)
// and PCM16 (1). libsndfile writes and parses only the container; every
// payload byte comes from, or goes to, micstream::ima_adpcm / mulaw / pcm16,
// so standard decoders (ffmpeg, sox) check our encoders, and their files
// check our decoders (tests/interop).

#include <sndfile.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "micstream/codec.h"
#include "micstream/ima_adpcm.h"
#include "micstream/mulaw.h"
#include "micstream/pcm16.h"
#include "sndfile_io.h"

namespace {

using micstream::Codec;
using micstream::tool::close_checked;
using micstream::tool::format_name;
using micstream::tool::open_sndfile;
using micstream::tool::read_chunk;
using micstream::tool::Sndfile;
using micstream::tool::ToolError;

// Frames handled at a time by the sample-by-sample codecs.
constexpr std::size_t kChunkFrames = 4096;

// A codec call on buffers this tool sized itself: a failure is a bug here, not in the file.
std::size_t written(micstream::Result<std::size_t> r, const char* what) {
  if (!r) throw std::logic_error(std::string(what) + ": " + micstream::error_message(r.error));
  return r.value;
}

int subformat_of(Codec codec) {
  switch (codec) {
    case Codec::pcm16: return SF_FORMAT_PCM_16;
    case Codec::mulaw: return SF_FORMAT_ULAW;
    case Codec::ima_adpcm: return SF_FORMAT_IMA_ADPCM;
  }
  return 0;
}

bool codec_of_subformat(int subformat, Codec& codec) {
  switch (subformat) {
    case SF_FORMAT_PCM_16: codec = Codec::pcm16; return true;
    case SF_FORMAT_ULAW: codec = Codec::mulaw; return true;
    case SF_FORMAT_IMA_ADPCM: codec = Codec::ima_adpcm; return true;
    default: return false;
  }
}

unsigned checked_channels(const SF_INFO& info, const std::string& path) {
  if (info.channels < 1 || static_cast<unsigned>(info.channels) > micstream::kMaxChannels) {
    throw ToolError(path, "has " + std::to_string(info.channels) + " channels; micstream codecs take 1 or 2");
  }
  return static_cast<unsigned>(info.channels);
}

// libsndfile chooses the IMA ADPCM block size itself from rate * channels
// (wavlike_srate2blocksize()) and has no call to set or query it when writing,
// so we follow its rule and check the written fmt chunk afterwards.
std::size_t libsndfile_ima_block_align(int samplerate, unsigned channels) {
  const long product = static_cast<long>(samplerate) * channels;
  if (product < 12000) return 256;
  if (product < 23000) return 512;
  if (product < 44000) return 1024;
  return 2048;
}

struct ImaLayout {
  std::size_t block_align = 0;
  std::size_t samples_per_block = 0;
};

// Block align (offset 12) and samples per block (offset 18, in the extension)
// from the fmt chunk: libsndfile parses them but does not expose them.
ImaLayout read_ima_layout(SNDFILE* f, unsigned channels, const std::string& path) {
  const std::vector<std::uint8_t> fmt = read_chunk(f, "fmt ", path);
  if (fmt.size() < 20)
    throw ToolError(path, "IMA ADPCM fmt chunk is too short (" + std::to_string(fmt.size()) + " bytes)");
  auto u16 = [&fmt](std::size_t at) { return static_cast<std::size_t>(fmt[at] | (fmt[at + 1] << 8)); };
  const ImaLayout layout{u16(12), u16(18)};
  if (micstream::ima_adpcm::block_size(channels, layout.samples_per_block) != layout.block_align) {
    throw ToolError(path, "IMA ADPCM blocks of " + std::to_string(layout.block_align) + " bytes holding " +
                              std::to_string(layout.samples_per_block) +
                              " samples a channel are not a layout of format 0x11");
  }
  return layout;
}

// Removes a half-written output file unless the conversion finished. Declared
// before the Sndfile it guards, so the file is closed before it is removed.
class OutputGuard {
 public:
  explicit OutputGuard(std::string path) : path_(std::move(path)) {}
  OutputGuard(const OutputGuard&) = delete;
  OutputGuard& operator=(const OutputGuard&) = delete;
  ~OutputGuard() {
    if (armed_) {
      std::error_code ignored;
      std::filesystem::remove(path_, ignored);
    }
  }
  void arm() { armed_ = true; }  // once the file is ours (created by this run)
  void done() { armed_ = false; }

 private:
  std::string path_;
  bool armed_ = false;
};

void write_raw(SNDFILE* f, std::span<const std::uint8_t> bytes, const std::string& path) {
  const auto size = static_cast<sf_count_t>(bytes.size());
  if (sf_write_raw(f, bytes.data(), size) != size)
    throw ToolError(path, std::string("write failed: ") + sf_strerror(f));
}

// Reads up to `frames` frames, looping over short reads; fewer only at the end.
std::size_t read_frames(SNDFILE* f, std::span<std::int16_t> out, unsigned channels, const std::string& path) {
  const std::size_t frames = out.size() / channels;
  std::size_t got = 0;
  while (got < frames) {
    const sf_count_t n = sf_readf_short(f, out.data() + got * channels, static_cast<sf_count_t>(frames - got));
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (sf_error(f) != SF_ERR_NO_ERROR) throw ToolError(path, std::string("read failed: ") + sf_strerror(f));
  return got;
}

void encode_file(Codec codec, const std::string& in_path, const std::string& out_path, bool verbose) {
  SF_INFO in_info{};
  Sndfile in = open_sndfile(in_path, SFM_READ, in_info);
  const unsigned channels = checked_channels(in_info, in_path);
  // A float source above full scale clips rather than wrapping around.
  sf_command(in.get(), SFC_SET_CLIPPING, nullptr, SF_TRUE);

  SF_INFO out_info{};
  out_info.samplerate = in_info.samplerate;
  out_info.channels = in_info.channels;
  out_info.format = SF_FORMAT_WAV | subformat_of(codec);
  if (sf_format_check(&out_info) == 0) {
    throw ToolError(out_path, std::string("libsndfile cannot write ") + micstream::codec_name(codec) + " WAV at " +
                                  std::to_string(in_info.samplerate) + " Hz");
  }
  OutputGuard guard(out_path);
  Sndfile out = open_sndfile(out_path, SFM_WRITE, out_info);
  guard.arm();

  // IMA ADPCM goes one block at a time, in blocks the size libsndfile declares.
  const bool ima = codec == Codec::ima_adpcm;
  const std::size_t block_align = ima ? libsndfile_ima_block_align(in_info.samplerate, channels) : 0;
  const std::size_t frames_per_read =
      ima ? micstream::ima_adpcm::samples_per_block(channels, block_align) : kChunkFrames;
  std::vector<std::int16_t> samples(frames_per_read * channels);
  std::vector<std::uint8_t> bytes(micstream::encoded_size(codec, channels, frames_per_read));
  // Carried from block to block, as the streaming encoder does.
  std::uint8_t step_index[micstream::kMaxChannels] = {};

  std::size_t frames_in = 0;
  std::size_t frames_out = 0;
  for (;;) {
    const std::size_t got = read_frames(in.get(), samples, channels, in_path);
    if (got == 0) break;
    frames_in += got;
    std::size_t frames = got;
    std::size_t size = 0;
    switch (codec) {
      case Codec::pcm16:
        size = written(micstream::pcm16::encode(std::span(samples).first(got * channels), bytes), "PCM16 encoding");
        break;
      case Codec::mulaw:
        size = written(micstream::mulaw::encode(std::span(samples).first(got * channels), bytes), "mu-law encoding");
        break;
      case Codec::ima_adpcm: {
        // Format 0x11 has no partial blocks: the last one is padded by repeating
        // the last sample, which unlike ffmpeg's silence adds no click.
        for (std::size_t i = got; i < frames_per_read; ++i) {
          std::copy_n(&samples[(got - 1) * channels], channels, &samples[i * channels]);
        }
        frames = frames_per_read;
        const auto r = micstream::ima_adpcm::encode_block(samples, channels, std::span(step_index, channels), bytes);
        if (!r)
          throw ToolError(out_path, std::string("IMA ADPCM encoder failed: ") + micstream::error_message(r.error));
        size = r.value;
        break;
      }
    }
    write_raw(out.get(), std::span(bytes).first(size), out_path);
    frames_out += frames;
    if (got < frames_per_read) break;
  }
  close_checked(out, out_path);

  if (ima) {
    // Check that the blocks we wrote are the blocks the header declares.
    SF_INFO check_info{};
    Sndfile check = open_sndfile(out_path, SFM_READ, check_info);
    const ImaLayout layout = read_ima_layout(check.get(), channels, out_path);
    if (layout.block_align != block_align) {
      throw ToolError(out_path, "libsndfile declared IMA ADPCM blocks of " + std::to_string(layout.block_align) +
                                    " bytes but " + std::to_string(block_align) +
                                    "-byte blocks were written (has its block size rule changed?)");
    }
  }
  guard.done();

  if (verbose) {
    std::printf("%s: %s, %u ch, %d Hz, %zu frames in, %zu frames (%zu samples) written, block align %zu\n",
                out_path.c_str(), micstream::codec_name(codec), channels, in_info.samplerate, frames_in, frames_out,
                frames_out * channels, ima ? block_align : micstream::encoded_size(codec, channels, 1));
  }
}

void decode_file(const std::string& in_path, const std::string& out_path, bool verbose) {
  SF_INFO in_info{};
  Sndfile in = open_sndfile(in_path, SFM_READ, in_info);
  const int container = in_info.format & SF_FORMAT_TYPEMASK;
  Codec codec{};
  if ((container != SF_FORMAT_WAV && container != SF_FORMAT_WAVEX) ||
      !codec_of_subformat(in_info.format & SF_FORMAT_SUBMASK, codec)) {
    throw ToolError(in_path, "unsupported format (" + format_name(in_info.format) +
                                 "); expected a WAV file of IMA ADPCM, mu-law or 16-bit PCM");
  }
  const unsigned channels = checked_channels(in_info, in_path);

  SF_INFO out_info{};
  out_info.samplerate = in_info.samplerate;
  out_info.channels = in_info.channels;
  out_info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;

  std::size_t frames_out = 0;
  std::size_t block_align = 0;
  std::vector<std::int16_t> samples;
  std::vector<std::uint8_t> out_bytes;

  if (codec == Codec::ima_adpcm) {
    const ImaLayout layout = read_ima_layout(in.get(), channels, in_path);
    block_align = layout.block_align;
    // Not sf_read_raw(): libsndfile decodes the first block when it opens an
    // IMA ADPCM file, so raw reads would start at the second block. The data
    // chunk through the chunk API is the payload exactly as stored.
    const std::vector<std::uint8_t> data = read_chunk(in.get(), "data", in_path);
    if (data.size() % block_align != 0) {
      throw ToolError(in_path, "data chunk of " + std::to_string(data.size()) + " bytes is not a whole number of " +
                                   std::to_string(block_align) + "-byte IMA ADPCM blocks");
    }
    // The chunk API reads a truncated file's missing bytes as if they were
    // there; libsndfile's frame count is based on the bytes really present.
    const std::size_t blocks = data.size() / block_align;
    if (static_cast<sf_count_t>(blocks * layout.samples_per_block) != in_info.frames) {
      throw ToolError(in_path, "data chunk declares " + std::to_string(blocks) +
                                   " IMA ADPCM blocks but the file is shorter (truncated?)");
    }
    OutputGuard guard(out_path);
    Sndfile out = open_sndfile(out_path, SFM_WRITE, out_info);
    guard.arm();
    samples.resize(layout.samples_per_block * channels);
    out_bytes.resize(samples.size() * 2);
    for (std::size_t at = 0; at < data.size(); at += block_align) {
      const auto r = micstream::ima_adpcm::decode_block(std::span(data).subspan(at, block_align), channels,
                                                        layout.samples_per_block, samples);
      if (!r) {
        throw ToolError(in_path, "IMA ADPCM block " + std::to_string(at / block_align) +
                                     " does not decode: " + micstream::error_message(r.error));
      }
      written(micstream::pcm16::encode(samples, out_bytes), "PCM16 encoding");
      write_raw(out.get(), out_bytes, out_path);
      frames_out += layout.samples_per_block;
    }
    close_checked(out, out_path);
    guard.done();
  } else {
    const std::size_t bytes_per_sample = codec == Codec::pcm16 ? 2 : 1;
    block_align = bytes_per_sample * channels;
    OutputGuard guard(out_path);
    Sndfile out = open_sndfile(out_path, SFM_WRITE, out_info);
    guard.arm();
    std::vector<std::uint8_t> in_bytes(kChunkFrames * block_align);
    samples.resize(kChunkFrames * channels);
    out_bytes.resize(samples.size() * 2);
    for (;;) {
      const sf_count_t got = sf_read_raw(in.get(), in_bytes.data(), static_cast<sf_count_t>(in_bytes.size()));
      if (got <= 0) break;
      // Whole frames only: a file cut inside a frame loses that frame.
      const auto n_bytes = static_cast<std::size_t>(got) / block_align * block_align;
      if (n_bytes == 0) break;
      const std::size_t n_samples = n_bytes / bytes_per_sample;
      const auto encoded = std::span(in_bytes).first(n_bytes);
      written(codec == Codec::pcm16 ? micstream::pcm16::decode(encoded, samples)
                                    : micstream::mulaw::decode(encoded, samples),
              "decoding");
      written(micstream::pcm16::encode(std::span(samples).first(n_samples), out_bytes), "PCM16 encoding");
      write_raw(out.get(), std::span(out_bytes).first(n_samples * 2), out_path);
      frames_out += n_samples / channels;
    }
    if (sf_error(in.get()) != SF_ERR_NO_ERROR) {
      throw ToolError(in_path, std::string("read failed: ") + sf_strerror(in.get()));
    }
    close_checked(out, out_path);
    guard.done();
  }

  if (verbose) {
    std::printf("%s: %s, %u ch, %d Hz, %zu frames (%zu samples) decoded, block align %zu\n", in_path.c_str(),
                micstream::codec_name(codec), channels, in_info.samplerate, frames_out, frames_out * channels,
                block_align);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Converts PCM WAV files to and from WAV files encoded by micstream's own codecs\n"
      "(IMA ADPCM format 0x11, G.711 mu-law, PCM16); libsndfile handles only the container.",
      "micstream-codec"};
  app.require_subcommand(1);
  app.fallthrough();
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Print one line about the converted file");
  const char* const padding_note =
      "IMA ADPCM comes in whole blocks: encode pads the last block by repeating the last\n"
      "sample, so a decoded file's length is rounded up to whole blocks (ffmpeg also\n"
      "pads to whole blocks, with silence).";
  app.footer(padding_note);

  std::vector<std::string> codec_names;
  for (Codec c : {Codec::ima_adpcm, Codec::mulaw, Codec::pcm16}) codec_names.emplace_back(micstream::codec_name(c));

  std::string codec_arg;
  std::string in_path;
  std::string out_path;
  CLI::App* encode = app.add_subcommand("encode", "Encode a PCM WAV (mono or stereo, any format libsndfile reads)");
  encode->add_option("--codec", codec_arg, "Codec of the output WAV")->required()->check(CLI::IsMember(codec_names));
  encode->add_option("input", in_path, "Input audio file")->required();
  encode->add_option("output", out_path, "Output WAV file")->required();
  encode->footer(padding_note);

  CLI::App* decode = app.add_subcommand("decode", "Decode an IMA ADPCM, mu-law or PCM16 WAV to a PCM16 WAV");
  decode->add_option("input", in_path, "Input WAV file")->required();
  decode->add_option("output", out_path, "Output PCM16 WAV file")->required();
  decode->footer(padding_note);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11's own exit codes are 100 and up; usage errors here are 2.
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    // Writing the output would destroy the input before it is read.
    std::error_code ec;
    if (std::filesystem::equivalent(in_path, out_path, ec)) throw ToolError(out_path, "is also the input file");
    if (encode->parsed()) {
      Codec codec{};
      if (!micstream::codec_from_name(codec_arg, codec)) throw ToolError(codec_arg, "names no codec");
      encode_file(codec, in_path, out_path, verbose);
    } else {
      decode_file(in_path, out_path, verbose);
    }
  } catch (const std::exception& e) {
    std::cerr << "micstream-codec: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
