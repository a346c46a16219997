#include "image_verifier.h"

#include <cstring>

#include "mbedtls/base64.h"
#include "mbedtls/pk.h"
#if defined(MBEDTLS_USE_PSA_CRYPTO)
#include "psa/crypto.h"
#endif

// What the check needs from mbedTLS's configuration (ESP-IDF's defaults have
// all four; CONFIG_MBEDTLS_ECDSA_C and _ECP_DP_SECP256R1_ENABLED in menuconfig).
#if !defined(MBEDTLS_ECDSA_C) || !defined(MBEDTLS_ECP_DP_SECP256R1_ENABLED) || !defined(MBEDTLS_PK_PARSE_C) || \
    !defined(MBEDTLS_BASE64_C)
#error "signed OTA images need mbedTLS with ECDSA, the P-256 curve, key parsing and base64"
#endif

namespace micstream::firmware {

namespace {

// DER SubjectPublicKeyInfo of a P-256 key up to its uncompressed point's
// 0x04: id-ecPublicKey, prime256v1, a 66-byte BIT STRING. A configured key
// must start with exactly this, so no other curve or encoding is accepted.
constexpr std::uint8_t kP256SpkiPrefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce,
                                            0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
                                            0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};
constexpr std::size_t kP256SpkiSize = sizeof kP256SpkiPrefix + 64;
constexpr std::size_t kP256SpkiBase64 = 4 * ((kP256SpkiSize + 2) / 3);  // 124 characters

constexpr std::string_view kPemBegin = "-----BEGIN PUBLIC KEY-----";
constexpr std::string_view kPemEnd = "-----END PUBLIC KEY-----";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// The key's DER from its base64 (PEM lines optional, whitespace ignored).
bool decode_key(std::string_view text, std::uint8_t (&der)[kP256SpkiSize]) {
  if (const auto begin = text.find(kPemBegin); begin != std::string_view::npos) {
    text.remove_prefix(begin + kPemBegin.size());
    text = text.substr(0, text.find(kPemEnd));
  }
  unsigned char base64[kP256SpkiBase64];
  std::size_t length = 0;
  for (const char c : text) {
    if (is_space(c)) continue;
    if (length == sizeof base64) return false;
    base64[length++] = static_cast<unsigned char>(c);
  }
  std::size_t size = 0;
  return mbedtls_base64_decode(der, sizeof der, &size, base64, length) == 0 && size == kP256SpkiSize &&
         std::memcmp(der, kP256SpkiPrefix, sizeof kP256SpkiPrefix) == 0;
}

// One 32-byte big-endian integer as DER: leading zeros dropped, a 0 added
// when the top bit is set (DER integers are signed). Returns its size.
std::size_t der_integer(const std::uint8_t* value, std::uint8_t* out) {
  std::size_t skip = 0;
  while (skip < 31 && value[skip] == 0) ++skip;
  const bool pad = (value[skip] & 0x80) != 0;
  const std::size_t length = 32 - skip + (pad ? 1 : 0);
  out[0] = 0x02;
  out[1] = static_cast<std::uint8_t>(length);
  std::size_t at = 2;
  if (pad) out[at++] = 0;
  std::memcpy(out + at, value + skip, 32 - skip);
  return 2 + length;
}

// r || s as the DER SEQUENCE that mbedtls_pk_verify() takes (at most 72 bytes).
std::size_t der_signature(std::span<const std::uint8_t, ota::kRawSignatureSize> raw, std::uint8_t (&out)[72]) {
  std::size_t at = 2;
  at += der_integer(raw.data(), out + at);
  at += der_integer(raw.data() + 32, out + at);
  out[0] = 0x30;
  out[1] = static_cast<std::uint8_t>(at - 2);
  return at;
}

SignatureCheck verdict(ImageVerdict v) { return SignatureCheck{v, ota::SignatureFileError::ok}; }

}  // namespace

const char* SignatureCheck::reason() const {
  switch (verdict) {
    case ImageVerdict::ok: return "signed by this device's key";
    case ImageVerdict::no_key: return "no public key for signed images is configured";
    case ImageVerdict::bad_key: return "the configured public key is not a P-256 public key in base64";
    case ImageVerdict::bad_signature_file: return ota::describe(file_error);
    case ImageVerdict::bad_signature: return "the signature was not made by this device's signing key";
    case ImageVerdict::wrong_size: return "the image's size differs from the signed size";
    case ImageVerdict::wrong_hash: return "the image's SHA-256 differs from the signed one: it was changed";
    case ImageVerdict::crypto_failure: return "the crypto library failed";
  }
  return "unknown verdict";
}

bool has_signing_key(std::string_view public_key) {
  for (const char c : public_key) {
    if (!is_space(c)) return true;
  }
  return false;
}

SignatureCheck check_signature_file(std::string_view public_key, std::span<const std::uint8_t> file,
                                    ota::ImageSignature& out) {
  if (!has_signing_key(public_key)) return verdict(ImageVerdict::no_key);
  std::uint8_t key_der[kP256SpkiSize];
  if (!decode_key(public_key, key_der)) return verdict(ImageVerdict::bad_key);
  if (const auto error = ota::parse(file, out); error != ota::SignatureFileError::ok) {
    return SignatureCheck{ImageVerdict::bad_signature_file, error};
  }

  const mbedtls_md_info_t* sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  std::uint8_t digest[ota::kSha256Size];
  if (sha256 == nullptr || mbedtls_md(sha256, file.data(), ota::kSignedSize, digest) != 0) {
    return verdict(ImageVerdict::crypto_failure);
  }
#if defined(MBEDTLS_USE_PSA_CRYPTO)
  // pk then verifies through PSA, which must be initialised (idempotent).
  if (psa_crypto_init() != PSA_SUCCESS) return verdict(ImageVerdict::crypto_failure);
#endif
  std::uint8_t der[72];
  const std::size_t der_size = der_signature(out.signature, der);

  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  ImageVerdict result = ImageVerdict::bad_key;
  if (mbedtls_pk_parse_public_key(&pk, key_der, sizeof key_der) == 0 && mbedtls_pk_can_do(&pk, MBEDTLS_PK_ECDSA)) {
    result = mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, digest, sizeof digest, der, der_size) == 0
                 ? ImageVerdict::ok
                 : ImageVerdict::bad_signature;
  }
  mbedtls_pk_free(&pk);
  return verdict(result);
}

SignatureCheck check_image(const ota::ImageSignature& signed_image, std::uint64_t size,
                           std::span<const std::uint8_t, ota::kSha256Size> sha256) {
  if (size != signed_image.image_size) return verdict(ImageVerdict::wrong_size);
  if (std::memcmp(sha256.data(), signed_image.image_sha256.data(), ota::kSha256Size) != 0) {
    return verdict(ImageVerdict::wrong_hash);
  }
  return verdict(ImageVerdict::ok);
}

ImageHash::ImageHash() {
  mbedtls_md_init(&ctx_);
  const mbedtls_md_info_t* sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  ok_ = sha256 != nullptr && mbedtls_md_setup(&ctx_, sha256, 0) == 0 && mbedtls_md_starts(&ctx_) == 0;
}

ImageHash::~ImageHash() { mbedtls_md_free(&ctx_); }

bool ImageHash::update(std::span<const std::uint8_t> bytes) {
  ok_ = ok_ && mbedtls_md_update(&ctx_, bytes.data(), bytes.size()) == 0;
  return ok_;
}

bool ImageHash::finish(std::span<std::uint8_t, ota::kSha256Size> digest) {
  ok_ = ok_ && mbedtls_md_finish(&ctx_, digest.data()) == 0;
  return ok_;
}

}  // namespace micstream::firmware
