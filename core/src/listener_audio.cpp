#include "micstream/listener_audio.h"

#include "micstream/byte_io.h"
#include "micstream/protocol.h"

namespace micstream::listener {

namespace {

Errc validate_opus(const Audio& a, std::size_t payload_size) {
  if (a.channels == 0 || a.channels > kMaxChannels || a.sample_rate != kOpusSampleRate ||
      a.sample_count != kOpusPacketSamples) {
    return Errc::invalid_value;
  }
  if (payload_size == 0 || payload_size > kMaxOpusPacketBytes) return Errc::payload_size_mismatch;
  return Errc::ok;
}

Errc validate(const Audio& a, std::size_t payload_size) {
  if (a.codec == ListenerCodec::opus) return validate_opus(a, payload_size);
  Codec codec = Codec::pcm16;
  if (!device_codec(a.codec, codec)) return Errc::invalid_codec;
  if (a.channels == 0 || a.channels > kMaxChannels || a.sample_count == 0 ||
      std::size_t{a.sample_count} * a.channels > proto::kMaxSamplesPerFrame) {
    return Errc::invalid_value;
  }
  if (a.sample_rate < proto::kMinSampleRate || a.sample_rate > proto::kMaxSampleRate) return Errc::invalid_value;
  if (encoded_size(codec, a.channels, a.sample_count) != payload_size) return Errc::payload_size_mismatch;
  return Errc::ok;
}

}  // namespace

bool device_codec(ListenerCodec codec, Codec& out) {
  const auto value = static_cast<std::uint8_t>(codec);
  if (codec == ListenerCodec::opus || !is_valid_codec(value)) return false;
  out = static_cast<Codec>(value);
  return true;
}

const char* listener_codec_name(ListenerCodec codec) {
  if (codec == ListenerCodec::opus) return "opus";
  Codec device = Codec::pcm16;
  return device_codec(codec, device) ? codec_name(device) : "unknown";
}

Errc encode_audio_header(const Audio& a, std::span<std::uint8_t, kAudioHeaderSize> out) {
  if (const Errc e = validate(a, a.payload.size()); e != Errc::ok) return e;
  ByteWriter w(out);
  w.u8(kAudioKind);
  w.u8(static_cast<std::uint8_t>(a.codec));
  w.u8(a.channels);
  w.u8(0);
  w.u32(a.sequence);
  w.u64(a.first_sample);
  w.u64(static_cast<std::uint64_t>(a.capture_server_us));
  w.u32(a.sample_rate);
  w.u16(a.sample_count);
  w.u16(0);
  return Errc::ok;
}

Errc decode_audio_header(std::span<const std::uint8_t, kAudioHeaderSize> header, std::size_t payload_size,
                         Audio& out) {
  ByteReader r(header);
  if (r.u8() != kAudioKind) return Errc::invalid_value;
  out.codec = static_cast<ListenerCodec>(r.u8());
  out.channels = r.u8();
  const std::uint8_t reserved = r.u8();
  out.sequence = r.u32();
  out.first_sample = r.u64();
  out.capture_server_us = static_cast<std::int64_t>(r.u64());
  out.sample_rate = r.u32();
  out.sample_count = r.u16();
  out.payload = {};
  if (reserved != 0 || r.u16() != 0) return Errc::invalid_value;
  return validate(out, payload_size);
}

Errc decode_audio(std::span<const std::uint8_t> message, Audio& out) {
  if (message.size() < kAudioHeaderSize) return Errc::truncated_field;
  const Errc e = decode_audio_header(message.first<kAudioHeaderSize>(), message.size() - kAudioHeaderSize, out);
  out.payload = message.subspan(kAudioHeaderSize);
  return e;
}

}  // namespace micstream::listener
