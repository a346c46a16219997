// The detached signature of a firmware image, micstream.bin.sig: the one
// definition of its bytes, used by micstream-sign (which signs) and the
// firmware (which verifies). No crypto here: the signer and the verifier
// bring their own. docs/protocol.md ("Firmware image signature") describes
// the layout with a test vector that tests/unit/image_signature_test.cpp checks.
//
//   offset  0  u8[4]  magic "MSIG"
//   offset  4  u8     version (1)
//   offset  5  u8     algorithm (1: ECDSA P-256 over SHA-256)
//   offset  6  u16    reserved, 0
//   offset  8  u32    image size in bytes, >= 1
//   offset 12  u8[32] SHA-256 of the image file
//   offset 44  u8[64] signature r || s (big-endian, 32 bytes each) of bytes 0..43
// Little-endian integers; the file is exactly 108 bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace micstream::ota {

inline constexpr std::uint8_t kSignatureMagic[4] = {'M', 'S', 'I', 'G'};
inline constexpr std::uint8_t kSignatureVersion = 1;
inline constexpr std::uint8_t kAlgorithmEcdsaP256Sha256 = 1;
inline constexpr std::size_t kSha256Size = 32;
inline constexpr std::size_t kRawSignatureSize = 64;  ///< r || s of ECDSA P-256
inline constexpr std::size_t kSignedSize = 44;        ///< bytes 0..43: what the signature covers
inline constexpr std::size_t kSignatureFileSize = kSignedSize + kRawSignatureSize;

struct ImageSignature {
  std::uint32_t image_size = 0;
  std::array<std::uint8_t, kSha256Size> image_sha256{};
  std::array<std::uint8_t, kRawSignatureSize> signature{};  ///< r || s
};

enum class SignatureFileError : std::uint8_t {
  ok = 0,
  wrong_size,             ///< the file is not exactly kSignatureFileSize bytes
  bad_magic,              ///< it does not start with "MSIG"
  unsupported_version,    ///< a version this firmware does not know
  unsupported_algorithm,  ///< an algorithm this firmware does not know
  reserved_not_zero,      ///< bytes 6..7 are not 0
  empty_image,            ///< the image size is 0
};

/// A short English sentence for the error; never null.
[[nodiscard]] const char* describe(SignatureFileError e);

/// Bytes 0..43 for sig's size and hash: the message the signer signs.
void encode_signed_part(const ImageSignature& sig, std::span<std::uint8_t, kSignedSize> out);

/// The whole file.
void encode(const ImageSignature& sig, std::span<std::uint8_t, kSignatureFileSize> out);

/// Reads a whole file; `out` is only meaningful when the result is ok. The
/// signature itself is not checked here: the caller verifies it over
/// file.first(kSignedSize).
[[nodiscard]] SignatureFileError parse(std::span<const std::uint8_t> file, ImageSignature& out);

}  // namespace micstream::ota
