// The device's check of a firmware image against its detached signature
// (micstream.bin.sig, core's image_signature.h): ECDSA P-256 under the
// operator's public key, with mbedTLS. Portable mbedTLS code only, so that
// firmware/host compiles this same file on Linux against Debian's
// libmbedtls-dev and tests it with images signed by micstream-sign's code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "mbedtls/md.h"
#include "micstream/image_signature.h"

namespace micstream::firmware {

enum class ImageVerdict : std::uint8_t {
  ok = 0,
  no_key,              ///< no public key configured: nothing can be installed
  bad_key,             ///< the configured key is not a P-256 public key in base64
  bad_signature_file,  ///< the .sig is malformed (SignatureCheck::file_error says how)
  bad_signature,       ///< the .sig was not signed by the configured key
  wrong_size,          ///< the image's length is not the signed one
  wrong_hash,          ///< the image's SHA-256 is not the signed one
  crypto_failure,      ///< mbedTLS failed (out of memory)
};

struct SignatureCheck {
  ImageVerdict verdict = ImageVerdict::ok;
  ota::SignatureFileError file_error = ota::SignatureFileError::ok;  ///< for bad_signature_file

  [[nodiscard]] bool ok() const { return verdict == ImageVerdict::ok; }
  /// A sentence for the log; never null.
  [[nodiscard]] const char* reason() const;
};

/// False for an empty (or blank) key: then no image is ever installed.
[[nodiscard]] bool has_signing_key(std::string_view public_key);

/// Parses `file` and verifies its ECDSA signature over its first 44 bytes
/// under `public_key`: the base64 of the key's DER (SubjectPublicKeyInfo),
/// as `micstream-sign pubkey` prints it, optionally still inside the PEM's
/// BEGIN/END lines. On success `out` holds the signed size and SHA-256 that
/// the image must then match (check_image()).
[[nodiscard]] SignatureCheck check_signature_file(std::string_view public_key, std::span<const std::uint8_t> file,
                                                  ota::ImageSignature& out);

/// ok when an image of `size` bytes hashing to `sha256` is the signed one.
[[nodiscard]] SignatureCheck check_image(const ota::ImageSignature& signed_image, std::uint64_t size,
                                         std::span<const std::uint8_t, ota::kSha256Size> sha256);

/// SHA-256 of an image fed in pieces (mbedtls_md: the ESP32's SHA accelerator).
class ImageHash {
 public:
  ImageHash();
  ~ImageHash();
  ImageHash(const ImageHash&) = delete;
  ImageHash& operator=(const ImageHash&) = delete;

  /// False once mbedTLS has failed; later calls then do nothing.
  bool update(std::span<const std::uint8_t> bytes);
  bool finish(std::span<std::uint8_t, ota::kSha256Size> digest);

 private:
  mbedtls_md_context_t ctx_;
  bool ok_ = false;
};

}  // namespace micstream::firmware
