// The firmware's image check (main/image_verifier.cpp, mbedTLS from Debian)
// against images signed by micstream-sign's own code (tools/sign, OpenSSL):
// a signed image passes; a changed, truncated or longer image, a signature by
// another key, a changed size or hash field and every malformed .sig are
// refused; docs/protocol.md's vector verifies under its documented key.
#include "image_verifier.h"

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <string>

#include "../../tests/unit/test_util.h"
#include "signing.h"

namespace micstream::firmware {
namespace {

using test::Bytes;

const sign::Key& operator_key() {
  static const sign::Key key = sign::Key::generate();
  return key;
}

Bytes random_image(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  Bytes image(size);
  for (auto& b : image) b = static_cast<std::uint8_t>(rng());
  return image;
}

// The device's whole check: the .sig, then the image hashed in pieces as it streams.
SignatureCheck device_check(const std::string& key, const Bytes& image, const Bytes& sig_file) {
  ota::ImageSignature signed_image;
  const SignatureCheck sig = check_signature_file(key, sig_file, signed_image);
  if (!sig.ok()) return sig;
  ImageHash hash;
  for (std::size_t at = 0; at < image.size(); at += 1000) {
    EXPECT_TRUE(hash.update(std::span(image).subspan(at, std::min<std::size_t>(1000, image.size() - at))));
  }
  std::array<std::uint8_t, ota::kSha256Size> digest{};
  EXPECT_TRUE(hash.finish(digest));
  return check_image(signed_image, image.size(), digest);
}

class ImageVerifierTest : public ::testing::Test {
 protected:
  const std::string key = operator_key().public_base64();
  const Bytes image = random_image(100'003, 1);
  const Bytes sig = sign::signature_file(operator_key(), image);
};

TEST_F(ImageVerifierTest, ImageSignedByTheOperatorKeyPasses) {
  const SignatureCheck check = device_check(key, image, sig);
  EXPECT_TRUE(check.ok()) << check.reason();
  EXPECT_TRUE(device_check(operator_key().public_pem(), image, sig).ok()) << "the PEM form of the key";
}

TEST_F(ImageVerifierTest, AnyChangedByteIsRefused) {
  for (const std::size_t at : {std::size_t{0}, std::size_t{4096}, image.size() / 2, image.size() - 1}) {
    Bytes changed = image;
    changed[at] ^= 0x01;
    EXPECT_EQ(device_check(key, changed, sig).verdict, ImageVerdict::wrong_hash) << "byte " << at;
  }
}

TEST_F(ImageVerifierTest, TruncatedOrLongerImageIsRefused) {
  const Bytes truncated(image.begin(), image.end() - 1);
  EXPECT_EQ(device_check(key, truncated, sig).verdict, ImageVerdict::wrong_size);
  Bytes longer = image;
  longer.push_back(0);
  EXPECT_EQ(device_check(key, longer, sig).verdict, ImageVerdict::wrong_size);
}

TEST_F(ImageVerifierTest, SignatureByAnotherKeyIsRefused) {
  const Bytes other = sign::signature_file(sign::Key::generate(), image);
  const SignatureCheck check = device_check(key, image, other);
  EXPECT_EQ(check.verdict, ImageVerdict::bad_signature);
  EXPECT_STREQ(check.reason(), "the signature was not made by this device's signing key");
}

TEST_F(ImageVerifierTest, ChangedSizeHashOrSignatureFieldIsRefused) {
  // A truncated image with its .sig's size field set to match: the size is signed.
  const Bytes truncated(image.begin(), image.end() - 3);
  for (const std::size_t at : {std::size_t{8}, std::size_t{12}, std::size_t{43}, std::size_t{44}, std::size_t{107}}) {
    Bytes changed = sig;
    if (at == 8) {
      changed[8] = static_cast<std::uint8_t>(truncated.size());
      changed[9] = static_cast<std::uint8_t>(truncated.size() >> 8);
      changed[10] = static_cast<std::uint8_t>(truncated.size() >> 16);
    } else {
      changed[at] ^= 0x80;
    }
    EXPECT_EQ(device_check(key, at == 8 ? truncated : image, changed).verdict, ImageVerdict::bad_signature)
        << "byte " << at;
  }
}

TEST_F(ImageVerifierTest, MalformedSignatureFileIsRefused) {
  const Bytes short_sig(sig.begin(), sig.end() - 1);
  Bytes long_sig = sig;
  long_sig.push_back(0);
  Bytes wrong_version = sig;
  wrong_version[4] = 2;
  for (const Bytes& file : {Bytes{}, short_sig, long_sig, Bytes(sig.begin(), sig.begin() + 44), wrong_version}) {
    const SignatureCheck check = device_check(key, image, file);
    EXPECT_EQ(check.verdict, ImageVerdict::bad_signature_file) << file.size() << " bytes";
    EXPECT_NE(check.file_error, ota::SignatureFileError::ok);
  }
  // The same .sig bytes served for the image itself: not a signature.
  EXPECT_EQ(device_check(key, image, image).verdict, ImageVerdict::bad_signature_file);
}

TEST_F(ImageVerifierTest, MissingOrUnusableKeyRefusesEverything) {
  EXPECT_EQ(device_check("", image, sig).verdict, ImageVerdict::no_key);
  EXPECT_EQ(device_check(" \n", image, sig).verdict, ImageVerdict::no_key);
  EXPECT_EQ(device_check("not base64 at all!", image, sig).verdict, ImageVerdict::bad_key);
  EXPECT_EQ(device_check(key.substr(0, key.size() - 4), image, sig).verdict, ImageVerdict::bad_key);
  EXPECT_EQ(device_check(key + key, image, sig).verdict, ImageVerdict::bad_key);
  // P-384 and secp256k1 keys, and a P-256 point that is not on the curve, are not this device's key type.
  for (const char* other_curve :
       {"MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEPN+4JkT6fQXDQT/k19ggPYd1G2oNZUPWAKdHaW5J2omLevLLmpiHbPRTegewowKFL9BxI89fZZ6G"
        "f4wasphgmP5GNHq2H1nypuERwEnnaD+3p2ZCBoVsUeviGrb2Ohfm",
        "MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEWKX3dh3/rS4urhsOENFnY9QZ1LX9Ih/BSa7LPLbQ2XlGZa+73Kd39+KFuwuuATjSSUa/SyLxXzxL"
        "71B07b94oA=="}) {
    EXPECT_EQ(device_check(other_curve, image, sig).verdict, ImageVerdict::bad_key) << other_curve;
  }
  std::string off_curve = key;
  off_curve[off_curve.size() - 8] = off_curve[off_curve.size() - 8] == 'A' ? 'B' : 'A';
  EXPECT_EQ(device_check(off_curve, image, sig).verdict, ImageVerdict::bad_key);
}

// r and s go to mbedTLS as DER integers: leading zero bytes dropped, a zero
// added above a set top bit. Sign until each case has come up (each is 1 in 2
// or 1 in 256 a signature), verifying every signature with the device's code.
TEST_F(ImageVerifierTest, EveryIntegerEncodingOfRAndSVerifies) {
  const Bytes small = random_image(64, 2);
  bool r_zero = false, s_zero = false, r_high = false, s_high = false, r_low = false, s_low = false;
  int signatures = 0;
  for (; signatures < 5000 && !(r_zero && s_zero && r_high && s_high && r_low && s_low); ++signatures) {
    const Bytes file = sign::signature_file(operator_key(), small);
    const std::uint8_t r0 = file[44];
    const std::uint8_t s0 = file[76];
    r_zero |= r0 == 0, s_zero |= s0 == 0, r_high |= r0 >= 0x80, s_high |= s0 >= 0x80;
    r_low |= r0 > 0 && r0 < 0x80, s_low |= s0 > 0 && s0 < 0x80;
    const SignatureCheck check = device_check(key, small, file);
    ASSERT_TRUE(check.ok()) << check.reason() << " for\n" << test::to_hex(file);
  }
  EXPECT_TRUE(r_zero && s_zero && r_high && s_high && r_low && s_low) << "after " << signatures << " signatures";
}

TEST(ImageVerifierDocVector, VerifiesUnderItsDocumentedKey) {
  const std::string doc = test::read_file(MICSTREAM_SOURCE_DIR "/docs/protocol.md");
  const auto marker = doc.find("<!-- key:image-signature -->");
  ASSERT_NE(marker, std::string::npos);
  const auto open = doc.find("```\n", marker) + 4;
  const std::string key = doc.substr(open, doc.find("\n```", open) - open);
  const Bytes file = test::doc_vector(doc, "image-signature");
  Bytes image(16);
  for (std::size_t i = 0; i < image.size(); ++i) image[i] = static_cast<std::uint8_t>(i);
  const SignatureCheck check = device_check(key, image, file);
  EXPECT_TRUE(check.ok()) << check.reason();
  image[15] = 0x10;
  EXPECT_EQ(device_check(key, image, file).verdict, ImageVerdict::wrong_hash);
}

}  // namespace
}  // namespace micstream::firmware
