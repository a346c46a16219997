#include "stream_encoder.h"

#include <array>

#include <lame/lame.h>
#include <opus/opusenc.h>

#include "micstream/byte_io.h"
#include "ogg_page.h"

namespace micstream::server {

namespace {

constexpr std::array kFormats{
    StreamFormatInfo{StreamFormat::wav, "wav", "audio/wav"},
    StreamFormatInfo{StreamFormat::ogg_opus, "opus", "audio/ogg; codecs=opus"},
    StreamFormatInfo{StreamFormat::mp3, "mp3", "audio/mpeg"},
};
static_assert(kFormats.size() == kStreamFormats);

std::uint32_t duration_us(std::uint64_t samples, std::uint32_t rate) {
  return static_cast<std::uint32_t>(samples * 1'000'000 / rate);
}

// RIFF and data sizes of 0xFFFFFFFF: a stream of unknown length, which ffmpeg,
// VLC and browsers read as "until the connection ends".
class WavEncoder final : public StreamEncoder {
 public:
  WavEncoder(std::uint32_t sample_rate, unsigned channels) : rate_(sample_rate), channels_(channels) {
    std::array<std::uint8_t, 44> h{};
    ByteWriter w(h);
    const auto tag = [&w](std::string_view four) {
      for (const char c : four) w.u8(static_cast<std::uint8_t>(c));
    };
    const auto block_align = static_cast<std::uint16_t>(2 * channels);
    tag("RIFF");
    w.u32(0xFFFFFFFF);
    tag("WAVE");
    tag("fmt ");
    w.u32(16);
    w.u16(1);  // PCM
    w.u16(static_cast<std::uint16_t>(channels));
    w.u32(sample_rate);
    w.u32(sample_rate * block_align);
    w.u16(block_align);
    w.u16(16);
    tag("data");
    w.u32(0xFFFFFFFF);
    header_.assign(reinterpret_cast<const char*>(h.data()), h.size());
  }
  [[nodiscard]] const std::string& header() const override { return header_; }
  void encode(std::span<const std::int16_t> interleaved, std::vector<EncodedChunk>& out) override {
    EncodedChunk chunk{std::string(interleaved.size() * 2, '\0'), duration_us(interleaved.size() / channels_, rate_)};
    ByteWriter w({reinterpret_cast<std::uint8_t*>(chunk.bytes.data()), chunk.bytes.size()});
    for (const std::int16_t sample : interleaved) w.u16(static_cast<std::uint16_t>(sample));
    out.push_back(std::move(chunk));
  }

 private:
  std::uint32_t rate_;
  unsigned channels_;
  std::string header_;
};

// libopusenc resamples to 48 kHz and pages the packets; each write is followed
// by a flush, so a page leaves with every packet (20 ms) instead of waiting
// for the muxing delay, and no decision delay holds audio back.
class OggOpusEncoder final : public StreamEncoder {
 public:
  OggOpusEncoder(std::uint32_t sample_rate, unsigned channels, const StreamEncoderSettings& settings,
                 std::string& error)
      : channels_(static_cast<int>(channels)) {
    Comments comments(ope_comments_create());
    int code = OPE_OK;
    if (comments) {
      encoder_.reset(ope_encoder_create_pull(comments.get(), static_cast<opus_int32>(sample_rate),
                                             static_cast<int>(channels), 0, &code));
    }
    if (!encoder_) {
      error = std::string("cannot start the Opus encoder: ") + ope_strerror(comments ? code : OPE_ALLOC_FAIL);
      return;
    }
    const int results[] = {
        ope_encoder_ctl(encoder_.get(), OPUS_SET_BITRATE(static_cast<opus_int32>(settings.opus_bitrate))),
        ope_encoder_ctl(encoder_.get(), OPUS_SET_EXPERT_FRAME_DURATION(OPUS_FRAMESIZE_20_MS)),
        ope_encoder_ctl(encoder_.get(), OPE_SET_DECISION_DELAY(0)),
        ope_encoder_ctl(encoder_.get(), OPE_SET_COMMENT_PADDING(0)),
        ope_encoder_flush_header(encoder_.get()),
    };
    for (const int result : results) {
      if (result != OPE_OK) {
        error = std::string("cannot set up the Opus encoder: ") + ope_strerror(result);
        encoder_.reset();
        return;
      }
    }
    std::vector<EncodedChunk> pages;
    take_pages(pages);
    for (const EncodedChunk& page : pages) header_ += page.bytes;
  }
  [[nodiscard]] bool ok() const { return encoder_ != nullptr; }
  [[nodiscard]] const std::string& header() const override { return header_; }
  void encode(std::span<const std::int16_t> interleaved, std::vector<EncodedChunk>& out) override {
    if (ope_encoder_write(encoder_.get(), interleaved.data(), static_cast<int>(interleaved.size()) / channels_) != OPE_OK) {
      return;
    }
    take_pages(out);
  }

 private:
  struct EncoderDelete {
    void operator()(OggOpusEnc* e) const { ope_encoder_destroy(e); }
  };
  struct CommentsDelete {
    void operator()(OggOpusComments* c) const { ope_comments_destroy(c); }
  };
  using Comments = std::unique_ptr<OggOpusComments, CommentsDelete>;

  // A page's granule position (bytes 6..13) counts 48 kHz samples: the audio it carries is the step from the last.
  void take_pages(std::vector<EncodedChunk>& out) {
    unsigned char* page = nullptr;
    opus_int32 length = 0;
    while (ope_encoder_get_page(encoder_.get(), &page, &length, /*flush=*/1) == 1) {
      const std::string_view bytes(reinterpret_cast<const char*>(page), static_cast<std::size_t>(length));
      const std::uint64_t granule = ogg_granule(bytes);
      std::uint64_t samples = 0;
      if (granule != kNoGranule && granule > last_granule_) {
        samples = granule - last_granule_;
        last_granule_ = granule;
      }
      out.push_back({std::string(bytes), duration_us(samples, 48000)});
    }
  }

  std::unique_ptr<OggOpusEnc, EncoderDelete> encoder_;
  int channels_ = 1;
  std::string header_;
  std::uint64_t last_granule_ = 0;
};

// LAME at a constant bitrate, without the bit reservoir, so each MP3 frame
// decodes on its own: a player that joins, or skips to live, starts at any
// frame. LAME holds about a frame (1152 samples) before its first output;
// what comes out carries the audio that went in since the last output.
class Mp3Encoder final : public StreamEncoder {
 public:
  Mp3Encoder(std::uint32_t sample_rate, unsigned channels, const StreamEncoderSettings& settings, std::string& error)
      : rate_(sample_rate), channels_(channels), lame_(lame_init()) {
    if (!lame_) {
      error = "cannot start the MP3 encoder";
      return;
    }
    lame_set_in_samplerate(lame_.get(), static_cast<int>(sample_rate));
    lame_set_num_channels(lame_.get(), static_cast<int>(channels));
    lame_set_mode(lame_.get(), channels == 1 ? MONO : JOINT_STEREO);
    lame_set_brate(lame_.get(), static_cast<int>(settings.mp3_bitrate_kbps));
    lame_set_disable_reservoir(lame_.get(), 1);
    lame_set_bWriteVbrTag(lame_.get(), 0);
    lame_set_quality(lame_.get(), 5);
    if (lame_init_params(lame_.get()) < 0) {
      error = "the MP3 encoder refuses " + std::to_string(sample_rate) + " Hz at " +
              std::to_string(settings.mp3_bitrate_kbps) + " kbit/s";
      lame_.reset();
    }
  }
  [[nodiscard]] bool ok() const { return lame_ != nullptr; }
  [[nodiscard]] const std::string& header() const override { return header_; }  // none: MP3 frames stand alone
  void encode(std::span<const std::int16_t> interleaved, std::vector<EncodedChunk>& out) override {
    const std::size_t samples = interleaved.size() / channels_;
    pending_samples_ += samples;
    output_.resize(samples * 5 / 4 + 7200);  // LAME's worst case
    int written = 0;
    if (channels_ == 1) {
      written = lame_encode_buffer(lame_.get(), interleaved.data(), interleaved.data(), static_cast<int>(samples),
                                   output_.data(), static_cast<int>(output_.size()));
    } else {
      input_.assign(interleaved.begin(), interleaved.end());  // LAME's interleaved call takes a mutable buffer
      written = lame_encode_buffer_interleaved(lame_.get(), input_.data(), static_cast<int>(samples), output_.data(),
                                               static_cast<int>(output_.size()));
    }
    if (written <= 0) return;
    out.push_back({std::string(reinterpret_cast<const char*>(output_.data()), static_cast<std::size_t>(written)),
                   duration_us(pending_samples_, rate_)});
    pending_samples_ = 0;
  }

 private:
  struct LameClose {
    void operator()(lame_global_flags* l) const { lame_close(l); }
  };
  std::uint32_t rate_;
  unsigned channels_;
  std::unique_ptr<lame_global_flags, LameClose> lame_;
  std::string header_;
  std::vector<unsigned char> output_;
  std::vector<short> input_;
  std::uint64_t pending_samples_ = 0;
};

}  // namespace

const StreamFormatInfo& format_info(StreamFormat format) {
  for (const StreamFormatInfo& info : kFormats) {
    if (info.format == format) return info;
  }
  return kFormats[0];
}

std::optional<StreamFormat> format_from_extension(std::string_view extension) {
  for (const StreamFormatInfo& info : kFormats) {
    if (info.extension == extension) return info.format;
  }
  return std::nullopt;
}

std::unique_ptr<StreamEncoder> make_stream_encoder(StreamFormat format, std::uint32_t sample_rate, unsigned channels,
                                                   const StreamEncoderSettings& settings, std::string& error) {
  if (sample_rate == 0 || channels == 0 || channels > 2) {
    error = "the stream's format is not known yet";
    return nullptr;
  }
  switch (format) {
    case StreamFormat::wav: return std::make_unique<WavEncoder>(sample_rate, channels);
    case StreamFormat::ogg_opus: {
      auto encoder = std::make_unique<OggOpusEncoder>(sample_rate, channels, settings, error);
      if (!encoder->ok()) return nullptr;
      return encoder;
    }
    case StreamFormat::mp3: {
      auto encoder = std::make_unique<Mp3Encoder>(sample_rate, channels, settings, error);
      if (!encoder->ok()) return nullptr;
      return encoder;
    }
  }
  error = "unknown format";
  return nullptr;
}

}  // namespace micstream::server
