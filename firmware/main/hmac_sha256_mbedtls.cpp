// hmac_sha256() for the ESP32: mbedTLS's mbedtls_md_hmac(), which runs SHA-256
// on the chip's accelerator (CONFIG_MBEDTLS_HARDWARE_SHA).
#include "hmac_sha256_mbedtls.h"

#include <cstdint>

#include "mbedtls/md.h"
#include "micstream/auth.h"

namespace micstream {

bool hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> message,
                 std::span<std::uint8_t, kHmacSha256Size> mac) {
  const mbedtls_md_info_t* sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  if (sha256 == nullptr || mbedtls_md_get_size(sha256) != kHmacSha256Size) return false;
  return mbedtls_md_hmac(sha256, key.data(), key.size(), message.data(), message.size(), mac.data()) == 0;
}

}  // namespace micstream

namespace micstream::firmware {

bool hmac_sha256_self_test() {
  // docs/protocol.md, HELLO: HMAC-SHA256("secret-01", 00 01 .. 0f || "mic-01").
  static constexpr std::uint8_t kSecret[] = {'s', 'e', 'c', 'r', 'e', 't', '-', '0', '1'};
  static constexpr std::uint8_t kExpected[proto::kProofSize] = {
      0x3c, 0xf3, 0x02, 0x9b, 0x3f, 0xc8, 0x7a, 0x3a, 0x8e, 0x3c, 0xf1, 0x81, 0x5e, 0x05, 0x29, 0x50,
      0x8c, 0xed, 0xd7, 0x7b, 0x08, 0x2c, 0x70, 0x42, 0x89, 0x08, 0x94, 0x65, 0xb4, 0xe1, 0x00, 0x11};
  std::uint8_t nonce[proto::kNonceSize];
  for (std::size_t i = 0; i < sizeof nonce; ++i) nonce[i] = static_cast<std::uint8_t>(i);
  std::uint8_t proof[proto::kProofSize] = {};
  if (compute_proof(kSecret, nonce, "mic-01", proof) != Errc::ok) return false;
  return proofs_equal(proof, kExpected);
}

}  // namespace micstream::firmware
