// Device authentication: the platform HMAC-SHA256 against RFC 4231, and the
// HELLO proof against the doc's sample.
#include "micstream/auth.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "sample_messages.h"
#include "test_util.h"

namespace micstream {
namespace {

using test::Bytes;

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

struct Rfc4231Case {
  const char* name;
  Bytes key;
  Bytes data;
  const char* mac_hex;
};

TEST(HmacSha256, Rfc4231Vectors) {
  Bytes key4;
  for (int i = 1; i <= 25; ++i) key4.push_back(static_cast<std::uint8_t>(i));
  const std::vector<Rfc4231Case> cases = {
      {"1", Bytes(20, 0x0b), text("Hi There"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"2", text("Jefe"), text("what do ya want for nothing?"),
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {"3", Bytes(20, 0xaa), Bytes(50, 0xdd), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {"4", key4, Bytes(50, 0xcd), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {"6", Bytes(131, 0xaa), text("Test Using Larger Than Block-Size Key - Hash Key First"),
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {"7", Bytes(131, 0xaa),
       text("This is a test using a larger than block-size key and a larger than block-size data. The key needs to "
            "be hashed before being used by the HMAC algorithm."),
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const auto& c : cases) {
    std::array<std::uint8_t, kHmacSha256Size> mac{};
    ASSERT_TRUE(hmac_sha256(c.key, c.data, mac)) << c.name;
    EXPECT_EQ(Bytes(mac.begin(), mac.end()), test::from_hex(c.mac_hex)) << "RFC 4231 test case " << c.name;
  }
}

TEST(DeviceProof, MatchesTheDocumentedSample) {
  std::array<std::uint8_t, proto::kProofSize> proof{};
  ASSERT_EQ(compute_proof(text("secret-01"), test::kSampleNonce, "mic-01", proof), Errc::ok);
  EXPECT_EQ(Bytes(proof.begin(), proof.end()), Bytes(std::begin(test::kSampleProof), std::end(test::kSampleProof)));
  EXPECT_TRUE(proofs_equal(proof, test::kSampleProof));
}

TEST(DeviceProof, DependsOnSecretNonceAndId) {
  std::array<std::uint8_t, proto::kProofSize> reference{};
  std::array<std::uint8_t, proto::kProofSize> other{};
  ASSERT_EQ(compute_proof(text("secret-01"), test::kSampleNonce, "mic-01", reference), Errc::ok);
  ASSERT_EQ(compute_proof(text("secret-02"), test::kSampleNonce, "mic-01", other), Errc::ok);
  EXPECT_FALSE(proofs_equal(reference, other));
  ASSERT_EQ(compute_proof(text("secret-01"), test::kSampleNonce, "mic-02", other), Errc::ok);
  EXPECT_FALSE(proofs_equal(reference, other));
  std::uint8_t nonce[proto::kNonceSize] = {};
  ASSERT_EQ(compute_proof(text("secret-01"), nonce, "mic-01", other), Errc::ok);
  EXPECT_FALSE(proofs_equal(reference, other));
  other = reference;
  other[31] ^= 1;
  EXPECT_FALSE(proofs_equal(reference, other));
}

TEST(LinkPsk, MatchesTheDocumentedVector) {
  const std::string doc = test::read_file(MICSTREAM_SOURCE_DIR "/docs/protocol.md");
  const Bytes documented = test::doc_vector(doc, "link-psk");
  ASSERT_EQ(documented.size(), kLinkPskSize) << "docs/protocol.md has no 32-byte vector:link-psk";
  std::array<std::uint8_t, kLinkPskSize> psk{};
  ASSERT_EQ(derive_link_psk(text("secret-01"), psk), Errc::ok);
  EXPECT_EQ(Bytes(psk.begin(), psk.end()), documented);
}

TEST(LinkPsk, IsNeverTheSecretAndDependsOnIt) {
  std::array<std::uint8_t, kLinkPskSize> a{};
  std::array<std::uint8_t, kLinkPskSize> b{};
  const Bytes long_secret(kMaxSecretSize, 'x');  // longer than a TLS library takes as a key
  ASSERT_EQ(derive_link_psk(long_secret, a), Errc::ok);
  ASSERT_EQ(derive_link_psk(Bytes(kMaxSecretSize - 1, 'x'), b), Errc::ok);
  EXPECT_NE(a, b);
  EXPECT_NE(Bytes(a.begin(), a.end()), Bytes(long_secret.begin(), long_secret.begin() + kLinkPskSize));
  EXPECT_EQ(derive_link_psk({}, a), Errc::invalid_string);
  EXPECT_EQ(derive_link_psk(Bytes(kMaxSecretSize + 1, 1), a), Errc::invalid_string);
}

TEST(DeviceProof, RefusesBadArguments) {
  std::array<std::uint8_t, proto::kProofSize> proof{};
  EXPECT_EQ(compute_proof({}, test::kSampleNonce, "mic-01", proof), Errc::invalid_string);
  EXPECT_EQ(compute_proof(Bytes(kMaxSecretSize + 1, 1), test::kSampleNonce, "mic-01", proof), Errc::invalid_string);
  EXPECT_EQ(compute_proof(text("s"), test::kSampleNonce, "bad id", proof), Errc::invalid_string);
  EXPECT_EQ(compute_proof(text("s"), test::kSampleNonce, std::string(33, 'a'), proof), Errc::invalid_string);
}

}  // namespace
}  // namespace micstream
