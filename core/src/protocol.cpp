#include "micstream/protocol.h"

#include "micstream/byte_io.h"

namespace micstream::proto {

namespace {

constexpr std::size_t kHelloFixedSize = 1 + 1 + 2 + 4 + kProofSize;
constexpr std::size_t kWelcomeSize = kNonceSize + 8;
constexpr std::size_t kStatsSize = 4 + 8 + 8 + 8 + 4 + 4 + 4 + 2 + 2;
constexpr std::size_t kPingSize = 4 + 8 + 8 + 4;
constexpr std::size_t kPongSize = 4 + 8 + 8 + 8;
constexpr std::size_t kConfigSize = 1 + 2 + 1;
constexpr std::uint8_t kConfigHasGain = 0x01;
constexpr std::uint8_t kConfigHasCodec = 0x02;
constexpr std::uint8_t kConfigCheckUpdate = 0x04;

bool is_printable(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

template <std::size_t N>
void write_string(ByteWriter& w, const BoundedString<N>& s) {
  w.u8(static_cast<std::uint8_t>(s.size()));
  w.bytes({reinterpret_cast<const std::uint8_t*>(s.view().data()), s.size()});
}

template <std::size_t N>
Errc read_string(ByteReader& r, BoundedString<N>& s) {
  const std::size_t length = r.u8();
  auto bytes = r.bytes(length);
  if (r.failed()) return Errc::truncated_field;
  if (!s.assign({reinterpret_cast<const char*>(bytes.data()), bytes.size()})) return Errc::invalid_string;
  return Errc::ok;
}

void write_header(ByteWriter& w, FrameType type, std::size_t payload_size) {
  w.u8(kMagic[0]);
  w.u8(kMagic[1]);
  w.u8(kVersion);
  w.u8(static_cast<std::uint8_t>(type));
  w.u32(static_cast<std::uint32_t>(payload_size));
}

Result<std::size_t> finish(const ByteWriter& w) {
  if (w.failed()) return Errc::buffer_too_small;
  return w.size();
}

// A decode is done when every field was read and nothing is left over.
Errc finish(const ByteReader& r) {
  if (r.failed()) return Errc::truncated_field;
  if (r.remaining() != 0) return Errc::trailing_bytes;
  return Errc::ok;
}

std::size_t hello_payload_size(const Hello& m) {
  return kHelloFixedSize + 1 + m.device_id.size() + 1 + m.firmware_version.size();
}

Errc validate(const Hello& m) {
  if (!is_valid_codec(static_cast<std::uint8_t>(m.codec))) return Errc::invalid_codec;
  if (m.channels == 0 || m.channels > kMaxChannels) return Errc::invalid_value;
  if (m.samples_per_frame == 0 || std::size_t{m.samples_per_frame} * m.channels > kMaxSamplesPerFrame) {
    return Errc::invalid_value;
  }
  if (m.sample_rate < kMinSampleRate || m.sample_rate > kMaxSampleRate) return Errc::invalid_value;
  if (!is_valid_device_id(m.device_id.view())) return Errc::invalid_string;
  if (!is_printable(m.firmware_version.view())) return Errc::invalid_string;
  return Errc::ok;
}

Errc validate(const AudioHeader& h, std::size_t payload_size) {
  if (!is_valid_codec(static_cast<std::uint8_t>(h.codec))) return Errc::invalid_codec;
  if (h.channels == 0 || h.channels > kMaxChannels || h.sample_count == 0) return Errc::invalid_value;
  if (encoded_size(h.codec, h.channels, h.sample_count) != payload_size) return Errc::payload_size_mismatch;
  if (kAudioHeaderSize + payload_size > kMaxPayload) return Errc::frame_too_large;
  return Errc::ok;
}

Errc validate(const ErrorMessage& m) { return is_printable(m.reason.view()) ? Errc::ok : Errc::invalid_string; }

Errc validate(const Config& m) {
  if (m.has_gain && (m.gain_cdb < -kMaxGainCentiDb || m.gain_cdb > kMaxGainCentiDb)) return Errc::invalid_value;
  if (m.has_codec && !is_valid_codec(static_cast<std::uint8_t>(m.codec))) return Errc::invalid_codec;
  return Errc::ok;
}

}  // namespace

bool is_valid_frame_type(std::uint8_t value) {
  return value >= static_cast<std::uint8_t>(FrameType::hello) && value <= static_cast<std::uint8_t>(FrameType::config);
}

const char* frame_type_name(FrameType type) {
  switch (type) {
    case FrameType::hello: return "HELLO";
    case FrameType::welcome: return "WELCOME";
    case FrameType::audio: return "AUDIO";
    case FrameType::stats: return "STATS";
    case FrameType::ping: return "PING";
    case FrameType::pong: return "PONG";
    case FrameType::error: return "ERROR";
    case FrameType::config: return "CONFIG";
  }
  return "UNKNOWN";
}

PayloadBounds payload_bounds(FrameType type) {
  switch (type) {
    case FrameType::hello: return {kHelloFixedSize + 1 + 1 + 1, kHelloFixedSize + 1 + kMaxDeviceIdLength + 1 + kMaxFirmwareVersionLength};
    case FrameType::welcome: return {kWelcomeSize, kWelcomeSize};
    case FrameType::audio: return {kAudioHeaderSize + 1, kMaxPayload};
    case FrameType::stats: return {kStatsSize, kStatsSize};
    case FrameType::ping: return {kPingSize, kPingSize};
    case FrameType::pong: return {kPongSize, kPongSize};
    case FrameType::error: return {2 + 1, 2 + 1 + kMaxErrorReasonLength};
    case FrameType::config: return {kConfigSize, kConfigSize};
  }
  return {0, 0};
}

bool is_valid_device_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxDeviceIdLength) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// ---- encoders ----

Result<std::size_t> encode(const Hello& m, std::span<std::uint8_t> out) {
  if (Errc e = validate(m); e != Errc::ok) return e;
  ByteWriter w(out);
  write_header(w, FrameType::hello, hello_payload_size(m));
  w.u8(static_cast<std::uint8_t>(m.codec));
  w.u8(m.channels);
  w.u16(m.samples_per_frame);
  w.u32(m.sample_rate);
  w.bytes(m.proof);
  write_string(w, m.device_id);
  write_string(w, m.firmware_version);
  return finish(w);
}

Result<std::size_t> encode(const Welcome& m, std::span<std::uint8_t> out) {
  ByteWriter w(out);
  write_header(w, FrameType::welcome, kWelcomeSize);
  w.bytes(m.nonce);
  w.u64(m.server_time_us);
  return finish(w);
}

Result<std::size_t> encode_audio_prefix(const AudioHeader& h, std::size_t payload_size, std::span<std::uint8_t> out) {
  if (Errc e = validate(h, payload_size); e != Errc::ok) return e;
  ByteWriter w(out);
  write_header(w, FrameType::audio, kAudioHeaderSize + payload_size);
  w.u32(h.sequence);
  w.u64(h.first_sample);
  w.u64(h.capture_time_us);
  w.u8(static_cast<std::uint8_t>(h.codec));
  w.u8(h.channels);
  w.u16(h.sample_count);
  if (w.failed() || w.remaining() < payload_size) return Errc::buffer_too_small;
  return w.size();
}

Result<std::size_t> encode(const Audio& m, std::span<std::uint8_t> out) {
  auto prefix = encode_audio_prefix(m.header, m.payload.size(), out);
  if (!prefix) return prefix;
  ByteWriter w(out.subspan(prefix.value));
  w.bytes(m.payload);
  return prefix.value + m.payload.size();
}

Result<std::size_t> encode(const Stats& m, std::span<std::uint8_t> out) {
  ByteWriter w(out);
  write_header(w, FrameType::stats, kStatsSize);
  w.u32(m.uptime_s);
  w.u64(m.frames_captured);
  w.u64(m.frames_dropped);
  w.u64(m.frames_sent);
  w.u32(m.reconnects);
  w.u32(m.free_heap_bytes);
  w.u32(m.min_free_heap_bytes);
  w.i16(m.wifi_rssi_dbm);
  w.u16(m.queue_depth);
  return finish(w);
}

Result<std::size_t> encode(const Ping& m, std::span<std::uint8_t> out) {
  ByteWriter w(out);
  write_header(w, FrameType::ping, kPingSize);
  w.u32(m.id);
  w.u64(m.device_time_us);
  w.u64(static_cast<std::uint64_t>(m.clock_offset_us));
  w.u32(m.rtt_us);
  return finish(w);
}

Result<std::size_t> encode(const Pong& m, std::span<std::uint8_t> out) {
  ByteWriter w(out);
  write_header(w, FrameType::pong, kPongSize);
  w.u32(m.id);
  w.u64(m.device_time_us);
  w.u64(m.server_receive_us);
  w.u64(m.server_send_us);
  return finish(w);
}

Result<std::size_t> encode(const ErrorMessage& m, std::span<std::uint8_t> out) {
  if (Errc e = validate(m); e != Errc::ok) return e;
  ByteWriter w(out);
  write_header(w, FrameType::error, 2 + 1 + m.reason.size());
  w.u16(static_cast<std::uint16_t>(m.code));
  write_string(w, m.reason);
  return finish(w);
}

Result<std::size_t> encode(const Config& m, std::span<std::uint8_t> out) {
  if (Errc e = validate(m); e != Errc::ok) return e;
  ByteWriter w(out);
  write_header(w, FrameType::config, kConfigSize);
  w.u8(static_cast<std::uint8_t>((m.has_gain ? kConfigHasGain : 0) | (m.has_codec ? kConfigHasCodec : 0) |
                                 (m.check_update ? kConfigCheckUpdate : 0)));
  w.i16(m.has_gain ? m.gain_cdb : 0);
  w.u8(m.has_codec ? static_cast<std::uint8_t>(m.codec) : 0);
  return finish(w);
}

// ---- decoders ----

Errc decode(std::span<const std::uint8_t> payload, Hello& m) {
  ByteReader r(payload);
  const std::uint8_t codec = r.u8();
  m.channels = r.u8();
  m.samples_per_frame = r.u16();
  m.sample_rate = r.u32();
  auto proof = r.bytes(kProofSize);
  if (r.failed()) return Errc::truncated_field;
  if (!is_valid_codec(codec)) return Errc::invalid_codec;
  m.codec = static_cast<Codec>(codec);
  for (std::size_t i = 0; i < kProofSize; ++i) m.proof[i] = proof[i];
  if (Errc e = read_string(r, m.device_id); e != Errc::ok) return e;
  if (Errc e = read_string(r, m.firmware_version); e != Errc::ok) return e;
  if (Errc e = finish(r); e != Errc::ok) return e;
  return validate(m);
}

Errc decode(std::span<const std::uint8_t> payload, Welcome& m) {
  ByteReader r(payload);
  auto nonce = r.bytes(kNonceSize);
  m.server_time_us = r.u64();
  if (Errc e = finish(r); e != Errc::ok) return e;
  for (std::size_t i = 0; i < kNonceSize; ++i) m.nonce[i] = nonce[i];
  return Errc::ok;
}

Errc decode(std::span<const std::uint8_t> payload, Audio& m) {
  ByteReader r(payload);
  AudioHeader& h = m.header;
  h.sequence = r.u32();
  h.first_sample = r.u64();
  h.capture_time_us = r.u64();
  const std::uint8_t codec = r.u8();
  h.channels = r.u8();
  h.sample_count = r.u16();
  if (r.failed()) return Errc::truncated_field;
  if (!is_valid_codec(codec)) return Errc::invalid_codec;
  h.codec = static_cast<Codec>(codec);
  m.payload = r.bytes(r.remaining());
  return validate(h, m.payload.size());
}

Errc decode(std::span<const std::uint8_t> payload, Stats& m) {
  ByteReader r(payload);
  m.uptime_s = r.u32();
  m.frames_captured = r.u64();
  m.frames_dropped = r.u64();
  m.frames_sent = r.u64();
  m.reconnects = r.u32();
  m.free_heap_bytes = r.u32();
  m.min_free_heap_bytes = r.u32();
  m.wifi_rssi_dbm = r.i16();
  m.queue_depth = r.u16();
  return finish(r);
}

Errc decode(std::span<const std::uint8_t> payload, Ping& m) {
  ByteReader r(payload);
  m.id = r.u32();
  m.device_time_us = r.u64();
  m.clock_offset_us = static_cast<std::int64_t>(r.u64());
  m.rtt_us = r.u32();
  return finish(r);
}

Errc decode(std::span<const std::uint8_t> payload, Pong& m) {
  ByteReader r(payload);
  m.id = r.u32();
  m.device_time_us = r.u64();
  m.server_receive_us = r.u64();
  m.server_send_us = r.u64();
  return finish(r);
}

Errc decode(std::span<const std::uint8_t> payload, ErrorMessage& m) {
  ByteReader r(payload);
  // Codes this side does not know are kept: a newer peer may send them.
  m.code = static_cast<Errc>(r.u16());
  if (r.failed()) return Errc::truncated_field;
  if (Errc e = read_string(r, m.reason); e != Errc::ok) return e;
  if (Errc e = finish(r); e != Errc::ok) return e;
  return validate(m);
}

Errc decode(std::span<const std::uint8_t> payload, Config& m) {
  ByteReader r(payload);
  const std::uint8_t flags = r.u8();
  const std::int16_t gain = r.i16();
  const std::uint8_t codec = r.u8();
  if (Errc e = finish(r); e != Errc::ok) return e;
  if (flags & ~(kConfigHasGain | kConfigHasCodec | kConfigCheckUpdate)) return Errc::invalid_value;
  m.has_gain = flags & kConfigHasGain;
  m.has_codec = flags & kConfigHasCodec;
  m.check_update = flags & kConfigCheckUpdate;
  // An absent field is zero on the wire: one frame, one meaning.
  if ((!m.has_gain && gain != 0) || (!m.has_codec && codec != 0)) return Errc::invalid_value;
  m.gain_cdb = gain;
  if (m.has_codec && !is_valid_codec(codec)) return Errc::invalid_codec;
  m.codec = m.has_codec ? static_cast<Codec>(codec) : Codec::pcm16;
  return validate(m);
}

}  // namespace micstream::proto
