#include "micstream/codec.h"

#include "micstream/ima_adpcm.h"
#include "micstream/mulaw.h"
#include "micstream/pcm16.h"

namespace micstream {

bool is_valid_codec(std::uint8_t value) {
  return value >= static_cast<std::uint8_t>(Codec::pcm16) && value <= static_cast<std::uint8_t>(Codec::ima_adpcm);
}

const char* codec_name(Codec codec) {
  switch (codec) {
    case Codec::pcm16: return "pcm16";
    case Codec::mulaw: return "mulaw";
    case Codec::ima_adpcm: return "ima-adpcm";
  }
  return "unknown";
}

bool codec_from_name(std::string_view name, Codec& codec) {
  for (Codec c : {Codec::pcm16, Codec::mulaw, Codec::ima_adpcm}) {
    if (name == codec_name(c)) {
      codec = c;
      return true;
    }
  }
  return false;
}

std::size_t encoded_size(Codec codec, unsigned channels, std::size_t samples_per_channel) {
  if (channels == 0 || channels > kMaxChannels || samples_per_channel == 0) return 0;
  switch (codec) {
    case Codec::pcm16: return samples_per_channel * channels * 2;
    case Codec::mulaw: return samples_per_channel * channels;
    case Codec::ima_adpcm: return ima_adpcm::block_size(channels, samples_per_channel);
  }
  return 0;
}

FrameEncoder::FrameEncoder(Codec codec, unsigned channels) : codec_(codec), channels_(channels) {}

void FrameEncoder::set_codec(Codec codec) { codec_ = codec; }

Result<std::size_t> FrameEncoder::encode(std::span<const std::int16_t> interleaved, std::span<std::uint8_t> out) {
  if (channels_ == 0 || channels_ > kMaxChannels || interleaved.empty() || interleaved.size() % channels_ != 0) {
    return Errc::invalid_value;
  }
  const std::size_t size = encoded_size(codec_, channels_, interleaved.size() / channels_);
  if (size == 0) return Errc::invalid_value;
  if (out.size() < size) return Errc::buffer_too_small;
  switch (codec_) {
    case Codec::pcm16: return pcm16::encode(interleaved, out);
    case Codec::mulaw: return mulaw::encode(interleaved, out);
    case Codec::ima_adpcm: return ima_adpcm::encode_block(interleaved, channels_, adpcm_step_index_, out);
  }
  return Errc::invalid_codec;
}

Result<std::size_t> decode_frame(Codec codec, unsigned channels, std::size_t samples_per_channel,
                                 std::span<const std::uint8_t> payload, std::span<std::int16_t> out) {
  const std::size_t size = encoded_size(codec, channels, samples_per_channel);
  if (size == 0) return Errc::invalid_value;
  if (payload.size() != size) return Errc::payload_size_mismatch;
  const std::size_t samples = samples_per_channel * channels;
  if (out.size() < samples) return Errc::buffer_too_small;
  switch (codec) {
    case Codec::pcm16: return pcm16::decode(payload, out.first(samples));
    case Codec::mulaw: return mulaw::decode(payload, out.first(samples));
    case Codec::ima_adpcm: return ima_adpcm::decode_block(payload, channels, samples_per_channel, out);
  }
  return Errc::invalid_codec;
}

}  // namespace micstream
