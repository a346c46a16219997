// Signing firmware images with OpenSSL: the operator's ECDSA P-256 key, the
// detached signature file of core's image_signature.h, and a check of a
// signature as the device makes it (the device's own, with mbedTLS, is
// firmware/main/image_verifier.cpp). Errors throw SigningError with a
// sentence for the operator.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "micstream/image_signature.h"

namespace micstream::sign {

using Bytes = std::vector<std::uint8_t>;

struct SigningError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// An ECDSA P-256 key: private (signs) or public only (verifies).
class Key {
 public:
  /// A new private key from OpenSSL's random generator.
  static Key generate();
  /// A PEM private key (PKCS#8 or SEC1) or public key (SubjectPublicKeyInfo);
  /// `what` names it in errors. Throws unless it is a P-256 key.
  static Key from_pem(std::string_view pem, const std::string& what);

  [[nodiscard]] bool is_private() const;
  /// PKCS#8 PEM, unencrypted (the file is kept 0600). Throws for a public key.
  [[nodiscard]] std::string private_pem() const;
  [[nodiscard]] std::string public_pem() const;
  /// Base64 of the public key's DER on one line: the firmware's
  /// CONFIG_MICSTREAM_OTA_SIGNING_KEY (the PEM body without its line breaks).
  [[nodiscard]] std::string public_base64() const;
  [[nodiscard]] EVP_PKEY* get() const { return pkey_.get(); }

 private:
  explicit Key(EVP_PKEY* pkey) : pkey_(pkey, EVP_PKEY_free) {}
  std::shared_ptr<EVP_PKEY> pkey_;
  bool private_ = false;
};

/// SHA-256 of bytes.
[[nodiscard]] std::array<std::uint8_t, ota::kSha256Size> sha256(std::span<const std::uint8_t> bytes);

/// The signature file's fields for an image (1 byte to 4 GiB - 1), signed with a private key.
[[nodiscard]] ota::ImageSignature sign_image(const Key& key, std::span<const std::uint8_t> image);

/// The whole signature file for an image.
[[nodiscard]] Bytes signature_file(const Key& key, std::span<const std::uint8_t> image);

/// Empty when `file` is a valid signature of `image` by `key`; otherwise why not.
[[nodiscard]] std::string verify_image(const Key& key, std::span<const std::uint8_t> image,
                                       std::span<const std::uint8_t> file);

/// A whole file; throws with the path and the system's reason.
[[nodiscard]] Bytes read_file(const std::filesystem::path& path);
/// Writes a file (replacing it) through a temporary beside it.
void write_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes);
/// Creates a new file readable only by its owner (0600); refuses to replace one.
void write_private_file(const std::filesystem::path& path, std::string_view text);

}  // namespace micstream::sign
