#include "micstream/image_signature.h"

#include "micstream/byte_io.h"

namespace micstream::ota {

const char* describe(SignatureFileError e) {
  switch (e) {
    case SignatureFileError::ok: return "no error";
    case SignatureFileError::wrong_size: return "a signature file is exactly 108 bytes";
    case SignatureFileError::bad_magic: return "not a micstream signature file (no \"MSIG\")";
    case SignatureFileError::unsupported_version: return "unsupported signature file version";
    case SignatureFileError::unsupported_algorithm: return "unsupported signature algorithm";
    case SignatureFileError::reserved_not_zero: return "reserved bytes of the signature file are not 0";
    case SignatureFileError::empty_image: return "the signature file gives an image size of 0";
  }
  return "unknown signature file error";
}

void encode_signed_part(const ImageSignature& sig, std::span<std::uint8_t, kSignedSize> out) {
  ByteWriter w(out);
  w.bytes(kSignatureMagic);
  w.u8(kSignatureVersion);
  w.u8(kAlgorithmEcdsaP256Sha256);
  w.u16(0);
  w.u32(sig.image_size);
  w.bytes(sig.image_sha256);
}

void encode(const ImageSignature& sig, std::span<std::uint8_t, kSignatureFileSize> out) {
  encode_signed_part(sig, out.first<kSignedSize>());
  ByteWriter w(out.subspan<kSignedSize>());
  w.bytes(sig.signature);
}

SignatureFileError parse(std::span<const std::uint8_t> file, ImageSignature& out) {
  if (file.size() != kSignatureFileSize) return SignatureFileError::wrong_size;
  ByteReader r(file);
  const auto magic = r.bytes(sizeof kSignatureMagic);
  for (std::size_t i = 0; i < sizeof kSignatureMagic; ++i) {
    if (magic[i] != kSignatureMagic[i]) return SignatureFileError::bad_magic;
  }
  if (r.u8() != kSignatureVersion) return SignatureFileError::unsupported_version;
  if (r.u8() != kAlgorithmEcdsaP256Sha256) return SignatureFileError::unsupported_algorithm;
  if (r.u16() != 0) return SignatureFileError::reserved_not_zero;
  out.image_size = r.u32();
  if (out.image_size == 0) return SignatureFileError::empty_image;
  const auto hash = r.bytes(kSha256Size);
  const auto signature = r.bytes(kRawSignatureSize);
  for (std::size_t i = 0; i < kSha256Size; ++i) out.image_sha256[i] = hash[i];
  for (std::size_t i = 0; i < kRawSignatureSize; ++i) out.signature[i] = signature[i];
  return SignatureFileError::ok;
}

}  // namespace micstream::ota
