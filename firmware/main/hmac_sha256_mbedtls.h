// The ESP32's hmac_sha256() (declared in micstream/auth.h) is mbedTLS's, on
// the SHA accelerator. This header adds the boot-time check of it.
#pragma once

namespace micstream::firmware {

/// Computes the HELLO proof of docs/protocol.md's test vector (secret
/// "secret-01", nonce 00..0f, device "mic-01") and compares it with the
/// documented bytes: a broken crypto port fails at boot, not as auth_failed
/// at the server.
[[nodiscard]] bool hmac_sha256_self_test();

}  // namespace micstream::firmware
