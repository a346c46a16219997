// Link protocol v1 between a device and the server: the one definition of
// every frame's byte layout. docs/protocol.md describes the same layout for
// readers, with test vectors that tests/unit/protocol_test.cpp checks.
//
// Every frame is an 8-byte header followed by a payload:
//   offset 0  u8[2] magic "MS"
//   offset 2  u8    version (1)
//   offset 3  u8    type (FrameType)
//   offset 4  u32   payload length in bytes (<= kMaxPayload and the type's bounds)
// All integers are little-endian and fixed-width.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "micstream/codec.h"
#include "micstream/error.h"

namespace micstream::proto {

inline constexpr std::uint8_t kMagic[2] = {'M', 'S'};
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::size_t kMaxPayload = 16384;  ///< Hard limit: 40 ms of 48 kHz stereo PCM16 fits.
inline constexpr std::size_t kMaxFrameSize = kHeaderSize + kMaxPayload;

inline constexpr std::size_t kNonceSize = 16;
inline constexpr std::size_t kProofSize = 32;  ///< HMAC-SHA256
inline constexpr std::size_t kMaxDeviceIdLength = 32;
inline constexpr std::size_t kMaxFirmwareVersionLength = 32;
inline constexpr std::size_t kMaxErrorReasonLength = 200;

inline constexpr std::uint32_t kMinSampleRate = 8000;
inline constexpr std::uint32_t kMaxSampleRate = 48000;

enum class FrameType : std::uint8_t {
  hello = 1,    ///< device -> server: stream parameters and proof of the device's secret
  welcome = 2,  ///< server -> device: the nonce to prove the secret over, first frame on a link
  audio = 3,    ///< device -> server: one frame of encoded audio
  stats = 4,    ///< device -> server: counters and health
  ping = 5,     ///< device -> server: clock probe
  pong = 6,     ///< server -> device: clock probe answer
  error = 7,    ///< either way: why the sender is about to close the link
  config = 8,   ///< server -> device: settings to apply without a restart
};

[[nodiscard]] bool is_valid_frame_type(std::uint8_t value);
[[nodiscard]] const char* frame_type_name(FrameType type);

/// Smallest and largest payload a frame of this type may declare.
struct PayloadBounds {
  std::size_t min;
  std::size_t max;
};
[[nodiscard]] PayloadBounds payload_bounds(FrameType type);

/// A string of at most N bytes stored inline, so messages allocate nothing.
template <std::size_t N>
class BoundedString {
 public:
  /// False (and unchanged) when s is longer than N.
  bool assign(std::string_view s) {
    if (s.size() > N) return false;
    for (std::size_t i = 0; i < s.size(); ++i) data_[i] = s[i];
    size_ = static_cast<std::uint8_t>(s.size());
    return true;
  }
  [[nodiscard]] std::string_view view() const { return {data_, size_}; }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  friend bool operator==(const BoundedString& a, const BoundedString& b) { return a.view() == b.view(); }

 private:
  static_assert(N <= 255, "length travels in one byte");
  char data_[N] = {};
  std::uint8_t size_ = 0;
};

using DeviceId = BoundedString<kMaxDeviceIdLength>;

/// Device ids are 1..32 characters of [A-Za-z0-9._-]: safe in logs, URLs and file names.
[[nodiscard]] bool is_valid_device_id(std::string_view id);

struct Hello {
  Codec codec = Codec::pcm16;
  std::uint8_t channels = 1;               ///< 1..kMaxChannels
  std::uint16_t samples_per_frame = 0;     ///< a channel, 1..(what fits kMaxPayload as PCM16)
  std::uint32_t sample_rate = 0;           ///< Hz, kMinSampleRate..kMaxSampleRate
  std::uint8_t proof[kProofSize] = {};     ///< HMAC-SHA256(secret, nonce || device id), see auth.h
  DeviceId device_id;
  BoundedString<kMaxFirmwareVersionLength> firmware_version;  ///< printable ASCII, may be empty

  friend bool operator==(const Hello&, const Hello&) = default;
};

struct Welcome {
  std::uint8_t nonce[kNonceSize] = {};
  std::uint64_t server_time_us = 0;  ///< Unix epoch microseconds on the server's clock

  friend bool operator==(const Welcome&, const Welcome&) = default;
};

/// The fixed fields of an AUDIO frame; the codec payload follows them.
struct AudioHeader {
  std::uint32_t sequence = 0;         ///< +1 every frame since the stream began; wraps
  std::uint64_t first_sample = 0;     ///< index of the frame's first sample (a channel) since the stream began
  std::uint64_t capture_time_us = 0;  ///< device clock, microseconds, when the first sample was captured
  Codec codec = Codec::pcm16;
  std::uint8_t channels = 1;
  std::uint16_t sample_count = 0;     ///< samples a channel in this frame, >= 1

  friend bool operator==(const AudioHeader&, const AudioHeader&) = default;
};
inline constexpr std::size_t kAudioHeaderSize = 24;
/// A frame's samples (a channel's × channels), at most: a PCM16 frame fills the largest payload.
inline constexpr std::size_t kMaxSamplesPerFrame = (kMaxPayload - kAudioHeaderSize) / 2;

struct Audio {
  AudioHeader header;
  std::span<const std::uint8_t> payload;  ///< encoded_size(codec, channels, sample_count) bytes
};

inline constexpr std::int16_t kRssiUnknown = -32768;

struct Stats {
  std::uint32_t uptime_s = 0;
  std::uint64_t frames_captured = 0;
  std::uint64_t frames_dropped = 0;   ///< dropped at the capture->sender queue
  std::uint64_t frames_sent = 0;
  std::uint32_t reconnects = 0;
  std::uint32_t free_heap_bytes = 0;
  std::uint32_t min_free_heap_bytes = 0;
  std::int16_t wifi_rssi_dbm = kRssiUnknown;
  std::uint16_t queue_depth = 0;      ///< frames waiting for the sender

  friend bool operator==(const Stats&, const Stats&) = default;
};

inline constexpr std::uint32_t kRttUnknown = 0;

struct Ping {
  std::uint32_t id = 0;
  std::uint64_t device_time_us = 0;  ///< device clock when sent (t0)
  /// The device's best estimate so far of server clock minus device clock
  /// (from earlier PONGs), so the server can put capture times on its clock.
  std::int64_t clock_offset_us = 0;
  std::uint32_t rtt_us = kRttUnknown;  ///< round trip of that estimate; kRttUnknown until one exists

  friend bool operator==(const Ping&, const Ping&) = default;
};

struct Pong {
  std::uint32_t id = 0;
  std::uint64_t device_time_us = 0;     ///< t0, echoed from the PING
  std::uint64_t server_receive_us = 0;  ///< t1, server clock when the PING arrived
  std::uint64_t server_send_us = 0;     ///< t2, server clock when the PONG left

  friend bool operator==(const Pong&, const Pong&) = default;
};

struct ErrorMessage {
  Errc code = Errc::ok;
  BoundedString<kMaxErrorReasonLength> reason;  ///< printable ASCII, for logs

  friend bool operator==(const ErrorMessage&, const ErrorMessage&) = default;
};

inline constexpr std::int16_t kMaxGainCentiDb = 4000;  ///< +-40 dB

struct Config {
  bool has_gain = false;
  std::int16_t gain_cdb = 0;  ///< hundredths of a dB, +-kMaxGainCentiDb
  bool has_codec = false;
  Codec codec = Codec::pcm16;
  /// The server has a newer firmware image: fetch it now (over-the-air update).
  bool check_update = false;

  friend bool operator==(const Config&, const Config&) = default;
};

/// A whole frame as the parser found it: the payload is a view into the
/// parser's storage, valid until the parser is fed again.
struct FrameView {
  FrameType type = FrameType::error;
  std::span<const std::uint8_t> payload;
};

// Encoders: each writes one whole frame (header and payload) into out and
// returns its size, or buffer_too_small, or the error of an invalid field.
[[nodiscard]] Result<std::size_t> encode(const Hello& m, std::span<std::uint8_t> out);
[[nodiscard]] Result<std::size_t> encode(const Welcome& m, std::span<std::uint8_t> out);
[[nodiscard]] Result<std::size_t> encode(const Audio& m, std::span<std::uint8_t> out);
[[nodiscard]] Result<std::size_t> encode(const Stats& m, std::span<std::uint8_t> out);
[[nodiscard]] Result<std::size_t> encode(const Ping& m, std::span<std::uint8_t> out);
[[nodiscard]] Result<std::size_t> encode(const Pong& m, std::span<std::uint8_t> out);
[[nodiscard]] Result<std::size_t> encode(const ErrorMessage& m, std::span<std::uint8_t> out);
[[nodiscard]] Result<std::size_t> encode(const Config& m, std::span<std::uint8_t> out);

/// Writes the frame header and audio header of an AUDIO frame whose payload of
/// payload_size bytes the caller encodes in place right after them (at
/// kHeaderSize + kAudioHeaderSize), so audio is never copied to be framed.
[[nodiscard]] Result<std::size_t> encode_audio_prefix(const AudioHeader& h, std::size_t payload_size,
                                                      std::span<std::uint8_t> out);

// Decoders: each reads the payload of a frame of its type, checks every field
// and that nothing is left over. On error the output is unspecified.
[[nodiscard]] Errc decode(std::span<const std::uint8_t> payload, Hello& m);
[[nodiscard]] Errc decode(std::span<const std::uint8_t> payload, Welcome& m);
[[nodiscard]] Errc decode(std::span<const std::uint8_t> payload, Audio& m);
[[nodiscard]] Errc decode(std::span<const std::uint8_t> payload, Stats& m);
[[nodiscard]] Errc decode(std::span<const std::uint8_t> payload, Ping& m);
[[nodiscard]] Errc decode(std::span<const std::uint8_t> payload, Pong& m);
[[nodiscard]] Errc decode(std::span<const std::uint8_t> payload, ErrorMessage& m);
[[nodiscard]] Errc decode(std::span<const std::uint8_t> payload, Config& m);

}  // namespace micstream::proto
