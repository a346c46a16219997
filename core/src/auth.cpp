#include "micstream/auth.h"

namespace micstream {

Errc compute_proof(std::span<const std::uint8_t> secret, std::span<const std::uint8_t, proto::kNonceSize> nonce,
                   std::string_view device_id, std::span<std::uint8_t, proto::kProofSize> proof) {
  if (!proto::is_valid_device_id(device_id)) return Errc::invalid_string;
  if (secret.empty() || secret.size() > kMaxSecretSize) return Errc::invalid_string;
  std::uint8_t message[proto::kNonceSize + proto::kMaxDeviceIdLength];
  std::size_t size = 0;
  for (std::uint8_t b : nonce) message[size++] = b;
  for (char c : device_id) message[size++] = static_cast<std::uint8_t>(c);
  return hmac_sha256(secret, {message, size}, proof) ? Errc::ok : Errc::crypto_failure;
}

Errc derive_link_psk(std::span<const std::uint8_t> secret, std::span<std::uint8_t, kLinkPskSize> psk) {
  if (secret.empty() || secret.size() > kMaxSecretSize) return Errc::invalid_string;
  const std::span label(reinterpret_cast<const std::uint8_t*>(kLinkPskLabel.data()), kLinkPskLabel.size());
  return hmac_sha256(secret, label, psk) ? Errc::ok : Errc::crypto_failure;
}

bool proofs_equal(std::span<const std::uint8_t, proto::kProofSize> a,
                  std::span<const std::uint8_t, proto::kProofSize> b) {
  std::uint8_t diff = 0;
  for (std::size_t i = 0; i < proto::kProofSize; ++i) diff |= static_cast<std::uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace micstream
