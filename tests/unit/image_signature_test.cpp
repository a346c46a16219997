// The firmware image signature file: docs/protocol.md's vector parses to its
// documented fields and encodes back to the same bytes, and every malformed
// field is refused with its own error. (The signature's cryptography is
// tested where it is computed: firmware/host and tests/tools.)
#include "micstream/image_signature.h"

#include <gtest/gtest.h>

#include <array>

#include "test_util.h"

namespace micstream::ota {
namespace {

using test::Bytes;

Bytes doc_vector() {
  return test::doc_vector(test::read_file(MICSTREAM_SOURCE_DIR "/docs/protocol.md"), "image-signature");
}

TEST(ImageSignature, DocVectorParsesToItsFieldsAndEncodesBack) {
  const Bytes file = doc_vector();
  ASSERT_EQ(file.size(), kSignatureFileSize);
  ImageSignature sig;
  ASSERT_EQ(parse(file, sig), SignatureFileError::ok);
  EXPECT_EQ(sig.image_size, 16u);
  EXPECT_EQ(Bytes(sig.image_sha256.begin(), sig.image_sha256.end()),
            test::from_hex("be45cb2605bf36bebde684841a28f0fd43c69850a3dce5fedba69928ee3a8991"));
  EXPECT_EQ(sig.signature[0], 0xd5);
  EXPECT_EQ(sig.signature[63], 0x80);

  std::array<std::uint8_t, kSignatureFileSize> encoded{};
  encode(sig, encoded);
  EXPECT_EQ(Bytes(encoded.begin(), encoded.end()), file);
  std::array<std::uint8_t, kSignedSize> signed_part{};
  encode_signed_part(sig, signed_part);
  EXPECT_EQ(Bytes(signed_part.begin(), signed_part.end()), Bytes(file.begin(), file.begin() + kSignedSize));
}

TEST(ImageSignature, RefusesEveryWrongLength) {
  const Bytes file = doc_vector();
  ImageSignature sig;
  for (std::size_t size = 0; size < kSignatureFileSize + 2; ++size) {
    if (size == kSignatureFileSize) continue;
    Bytes other(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(std::min(size, file.size())));
    other.resize(size, 0);
    EXPECT_EQ(parse(other, sig), SignatureFileError::wrong_size) << size << " bytes";
  }
}

TEST(ImageSignature, RefusesEachBadHeaderField) {
  const struct {
    std::size_t offset;
    std::uint8_t value;
    SignatureFileError error;
  } cases[] = {
      {0, 'm', SignatureFileError::bad_magic},
      {3, 'H', SignatureFileError::bad_magic},
      {4, 0, SignatureFileError::unsupported_version},
      {4, 2, SignatureFileError::unsupported_version},
      {5, 0, SignatureFileError::unsupported_algorithm},
      {5, 2, SignatureFileError::unsupported_algorithm},
      {6, 1, SignatureFileError::reserved_not_zero},
      {7, 0x80, SignatureFileError::reserved_not_zero},
  };
  for (const auto& c : cases) {
    Bytes file = doc_vector();
    ASSERT_EQ(file.size(), kSignatureFileSize);
    file[c.offset] = c.value;
    ImageSignature sig;
    EXPECT_EQ(parse(file, sig), c.error) << "byte " << c.offset << " = " << int{c.value};
    EXPECT_STRNE(describe(c.error), describe(SignatureFileError::ok));
  }
}

TEST(ImageSignature, RefusesAnEmptyImageAndReadsTheLargest) {
  Bytes file = doc_vector();
  ASSERT_EQ(file.size(), kSignatureFileSize);
  for (std::size_t i = 8; i < 12; ++i) file[i] = 0;
  ImageSignature sig;
  EXPECT_EQ(parse(file, sig), SignatureFileError::empty_image);
  for (std::size_t i = 8; i < 12; ++i) file[i] = 0xff;
  ASSERT_EQ(parse(file, sig), SignatureFileError::ok);
  EXPECT_EQ(sig.image_size, 0xffffffffu);
}

}  // namespace
}  // namespace micstream::ota
