// One sample message of every frame type: the source of the test vectors in
// docs/protocol.md (protocol_test checks that the doc and the encoder agree).
#pragma once

#include <cstdint>

#include "micstream/protocol.h"

namespace micstream::test {

// HMAC-SHA256(key "secret-01", nonce 00..0f || "mic-01"), as openssl dgst -mac HMAC
// computes it; auth_test checks that compute_proof() agrees.
inline constexpr std::uint8_t kSampleProof[proto::kProofSize] = {
    0x3c, 0xf3, 0x02, 0x9b, 0x3f, 0xc8, 0x7a, 0x3a, 0x8e, 0x3c, 0xf1, 0x81, 0x5e, 0x05, 0x29, 0x50,
    0x8c, 0xed, 0xd7, 0x7b, 0x08, 0x2c, 0x70, 0x42, 0x89, 0x08, 0x94, 0x65, 0xb4, 0xe1, 0x00, 0x11};

inline constexpr std::uint8_t kSampleNonce[proto::kNonceSize] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                                                 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};

inline proto::Hello sample_hello() {
  proto::Hello m;
  m.codec = Codec::ima_adpcm;
  m.channels = 1;
  m.samples_per_frame = 320;
  m.sample_rate = 16000;
  for (std::size_t i = 0; i < proto::kProofSize; ++i) m.proof[i] = kSampleProof[i];
  (void)m.device_id.assign("mic-01");
  (void)m.firmware_version.assign("1.0.0");
  return m;
}

inline proto::Welcome sample_welcome() {
  proto::Welcome m;
  for (std::size_t i = 0; i < proto::kNonceSize; ++i) m.nonce[i] = kSampleNonce[i];
  m.server_time_us = 1764000000000000;  // 2025-11-24T16:00:00Z
  return m;
}

// Four PCM16 samples: 0, 1000, -1000, 32767.
inline constexpr std::uint8_t kSamplePcmPayload[] = {0x00, 0x00, 0xe8, 0x03, 0x18, 0xfc, 0xff, 0x7f};

inline proto::Audio sample_audio() {
  proto::Audio m;
  m.header.sequence = 7;
  m.header.first_sample = 2240;
  m.header.capture_time_us = 140000;
  m.header.codec = Codec::pcm16;
  m.header.channels = 1;
  m.header.sample_count = 4;
  m.payload = kSamplePcmPayload;
  return m;
}

inline proto::Stats sample_stats() {
  proto::Stats m;
  m.uptime_s = 3600;
  m.frames_captured = 180000;
  m.frames_dropped = 12;
  m.frames_sent = 179988;
  m.reconnects = 2;
  m.free_heap_bytes = 150000;
  m.min_free_heap_bytes = 120000;
  m.wifi_rssi_dbm = -61;
  m.queue_depth = 3;
  return m;
}

inline proto::Ping sample_ping() { return {42, 5000000, 1763999995001010, 40}; }

inline proto::Pong sample_pong() { return {42, 5000000, 1764000000001000, 1764000000001020}; }

inline proto::ErrorMessage sample_error() {
  proto::ErrorMessage m;
  m.code = Errc::auth_failed;
  (void)m.reason.assign("wrong secret");
  return m;
}

inline proto::Config sample_config() {
  proto::Config m;
  m.has_gain = true;
  m.gain_cdb = 600;
  m.has_codec = true;
  m.codec = Codec::mulaw;
  return m;
}

}  // namespace micstream::test
