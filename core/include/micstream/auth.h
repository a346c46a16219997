// Device authentication: a device proves it holds its per-device secret by
// sending HMAC-SHA256(secret, nonce || device id) in HELLO, over the nonce the
// server sent in WELCOME. The secret never crosses the wire.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "micstream/error.h"
#include "micstream/protocol.h"

namespace micstream {

inline constexpr std::size_t kMaxSecretSize = 64;
inline constexpr std::size_t kHmacSha256Size = 32;

/// HMAC-SHA256 (RFC 2104) of message under key. Each platform implements it
/// with its crypto library: OpenSSL on Linux (core/port/openssl), mbedTLS on
/// the ESP32 (firmware/main). False when the library fails.
[[nodiscard]] bool hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> message,
                               std::span<std::uint8_t, kHmacSha256Size> mac);

/// The proof for HELLO. invalid_string for a bad device id or an empty or
/// too long (> kMaxSecretSize) secret, crypto_failure when the library fails.
[[nodiscard]] Errc compute_proof(std::span<const std::uint8_t> secret,
                                 std::span<const std::uint8_t, proto::kNonceSize> nonce, std::string_view device_id,
                                 std::span<std::uint8_t, proto::kProofSize> proof);

inline constexpr std::size_t kLinkPskSize = 32;
/// What the link's PSK is derived with (docs/protocol.md, "TLS").
inline constexpr std::string_view kLinkPskLabel = "micstream link psk v1";

/// The TLS pre-shared key of a device's link: HMAC-SHA256(secret,
/// kLinkPskLabel). Always 32 bytes, whatever the secret's length (mbedTLS
/// takes keys of at most 32 bytes), and never the secret itself.
/// invalid_string for an empty or too long secret, crypto_failure when the library fails.
[[nodiscard]] Errc derive_link_psk(std::span<const std::uint8_t> secret, std::span<std::uint8_t, kLinkPskSize> psk);

/// Compares two proofs in time independent of where they differ.
[[nodiscard]] bool proofs_equal(std::span<const std::uint8_t, proto::kProofSize> a,
                                std::span<const std::uint8_t, proto::kProofSize> b);

}  // namespace micstream
