#include "tls_identity.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "openssl_ptr.h"
#include "test_util.h"

namespace micstream::server {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using Clock = std::chrono::system_clock;


X509Ptr parse_cert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

ServerNames sample_names() { return {{"localhost", "mic-server", "mic-server.local"}, {"127.0.0.1", "::1", "192.168.7.20"}}; }

std::chrono::days validity_days(const X509* cert) {
  int days = 0;
  int seconds = 0;
  EXPECT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert), X509_get0_notAfter(cert)), 1);
  return std::chrono::days(days);
}

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

/// Verifies the leaf against the CA alone, as a TLS client would.
bool verifies(const X509Ptr& leaf, const X509Ptr& ca) {
  std::unique_ptr<X509_STORE, FreeWith<X509_STORE_free>> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, FreeWith<X509_STORE_CTX_free>> ctx(X509_STORE_CTX_new());
  X509_STORE_add_cert(store.get(), ca.get());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  const bool ok = X509_verify_cert(ctx.get()) == 1;
  if (!ok) ADD_FAILURE() << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  ERR_clear_error();
  return ok;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

class TlsIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::path(::testing::TempDir()) / "tls_identity_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    state_ = root_ / "state" / "tls";
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_;
  fs::path state_;
};

TEST_F(TlsIdentityTest, CreatesFilesWithPrivateModes) {
  const auto identity = TlsIdentity::load_or_create(state_, sample_names());
  EXPECT_TRUE(identity.made_new_ca());
  EXPECT_TRUE(identity.made_new_leaf());
  EXPECT_TRUE(identity.has_local_ca());
  EXPECT_EQ(mode_of(state_), 0700u);
  EXPECT_EQ(mode_of(state_ / "ca-key.pem"), 0600u);
  EXPECT_EQ(mode_of(state_ / "server-key.pem"), 0600u);
  EXPECT_EQ(mode_of(state_ / "ca.pem"), 0644u);
  EXPECT_EQ(mode_of(state_ / "server.pem"), 0644u);
  // No temporary files left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(state_), fs::directory_iterator()), 4);

  EXPECT_EQ(test::read_file((state_ / "ca.pem").string()), identity.ca_certificate_pem());
  EXPECT_EQ(test::read_file((state_ / "server.pem").string()), identity.certificate_chain_pem());
  EXPECT_EQ(test::read_file((state_ / "server-key.pem").string()), identity.private_key_pem());
  EXPECT_TRUE(identity.private_key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
}

TEST_F(TlsIdentityTest, FingerprintsAndDerAreOfTheCertificates) {
  const auto identity = TlsIdentity::load_or_create(state_, sample_names());
  const std::string fingerprint = identity.ca_sha256_fingerprint();
  ASSERT_EQ(fingerprint.size(), 32u * 3 - 1);  // AA:BB:... of 32 bytes
  for (std::size_t i = 0; i < fingerprint.size(); ++i) {
    if (i % 3 == 2) EXPECT_EQ(fingerprint[i], ':');
    else EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(fingerprint[i])) || (fingerprint[i] >= 'A' && fingerprint[i] <= 'F'));
  }
  EXPECT_NE(identity.leaf_sha256_fingerprint(), fingerprint);

  // The DER is the PEM's certificate.
  const auto& der = identity.ca_certificate_der();
  const unsigned char* p = der.data();
  X509Ptr from_der(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_TRUE(from_der);
  const X509Ptr from_pem = parse_cert(identity.ca_certificate_pem());
  EXPECT_EQ(X509_cmp(from_der.get(), from_pem.get()), 0);
}

TEST_F(TlsIdentityTest, ReloadKeepsTheCaAndTheLeaf) {
  const auto first = TlsIdentity::load_or_create(state_, sample_names());
  const auto second = TlsIdentity::load_or_create(state_, sample_names());
  EXPECT_FALSE(second.made_new_ca());
  EXPECT_FALSE(second.made_new_leaf());
  EXPECT_EQ(second.ca_sha256_fingerprint(), first.ca_sha256_fingerprint());
  EXPECT_EQ(second.leaf_sha256_fingerprint(), first.leaf_sha256_fingerprint());
  EXPECT_EQ(second.private_key_pem(), first.private_key_pem());

  // Names in another order or case, or fewer of them, are still covered.
  ServerNames fewer{{"MIC-SERVER.local"}, {"127.0.0.1"}};
  const auto third = TlsIdentity::load_or_create(state_, fewer);
  EXPECT_FALSE(third.made_new_leaf());
  EXPECT_EQ(third.leaf_sha256_fingerprint(), first.leaf_sha256_fingerprint());
}

TEST_F(TlsIdentityTest, ANewNameMakesANewLeafSignedByTheSameCa) {
  const auto first = TlsIdentity::load_or_create(state_, sample_names());
  auto names = sample_names();
  names.ip.push_back("10.1.2.3");
  const auto second = TlsIdentity::load_or_create(state_, names);
  EXPECT_FALSE(second.made_new_ca());
  EXPECT_TRUE(second.made_new_leaf());
  EXPECT_EQ(second.ca_sha256_fingerprint(), first.ca_sha256_fingerprint());
  EXPECT_NE(second.leaf_sha256_fingerprint(), first.leaf_sha256_fingerprint());
  const X509Ptr leaf = parse_cert(second.certificate_chain_pem());
  const X509Ptr ca = parse_cert(first.ca_certificate_pem());
  EXPECT_TRUE(verifies(leaf, ca));
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "10.1.2.3", 0), 1);
}

TEST_F(TlsIdentityTest, LeafVerifiesAgainstTheCaForEveryName) {
  const auto names = sample_names();
  const auto identity = TlsIdentity::load_or_create(state_, names);
  const X509Ptr leaf = parse_cert(identity.certificate_chain_pem());
  const X509Ptr ca = parse_cert(identity.ca_certificate_pem());
  ASSERT_TRUE(leaf && ca);
  EXPECT_TRUE(verifies(leaf, ca));
  for (const auto& dns : names.dns) EXPECT_EQ(X509_check_host(leaf.get(), dns.data(), dns.size(), 0, nullptr), 1) << dns;
  for (const auto& ip : names.ip) EXPECT_EQ(X509_check_ip_asc(leaf.get(), ip.c_str(), 0), 1) << ip;
  EXPECT_NE(X509_check_host(leaf.get(), "evil.example", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_ip_asc(leaf.get(), "192.168.7.21", 0), 1);
}

TEST_F(TlsIdentityTest, CertificatesHaveTheExtensionsClientsRequire) {
  const auto identity = TlsIdentity::load_or_create(state_, sample_names());
  const X509Ptr leaf = parse_cert(identity.certificate_chain_pem());
  const X509Ptr ca = parse_cert(identity.ca_certificate_pem());

  // X509_get_extension_flags caches the parsed extensions first.
  EXPECT_NE(X509_get_extension_flags(ca.get()) & EXFLAG_CA, 0u);
  EXPECT_EQ(X509_get_pathlen(ca.get()), 0);
  EXPECT_EQ(X509_get_key_usage(ca.get()), static_cast<std::uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(ca.get(), X509_get_ext_by_NID(ca.get(), NID_basic_constraints, -1))), 1);
  EXPECT_EQ(X509_check_issued(ca.get(), ca.get()), X509_V_OK);  // self-signed

  EXPECT_EQ(X509_get_extension_flags(leaf.get()) & EXFLAG_CA, 0u);
  EXPECT_EQ(X509_get_key_usage(leaf.get()), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(leaf.get()), static_cast<std::uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(X509_get_signature_nid(leaf.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(leaf.get())), 256);

  std::array<char, 256> cn{};
  X509_NAME_get_text_by_NID(X509_get_subject_name(ca.get()), NID_commonName, cn.data(), cn.size());
  EXPECT_TRUE(std::string(cn.data()).starts_with("micstream local CA ")) << cn.data();

  // 128 random bits: two leaves never share a serial.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(leaf.get());
  EXPECT_GE(ASN1_STRING_length(serial), 14);
  EXPECT_NE(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(ca.get())), 0);
}

TEST_F(TlsIdentityTest, LeafIsValidForAtMost398Days) {
  const auto identity = TlsIdentity::load_or_create(state_, sample_names());
  const X509Ptr leaf = parse_cert(identity.certificate_chain_pem());
  const X509Ptr ca = parse_cert(identity.ca_certificate_pem());
  EXPECT_LE(validity_days(leaf.get()), std::chrono::days(397));
  EXPECT_GE(validity_days(leaf.get()), std::chrono::days(396));
  EXPECT_GE(validity_days(ca.get()), std::chrono::days(3650));
  const auto left = identity.leaf_not_after() - Clock::now();
  EXPECT_GT(left, std::chrono::days(396));
  EXPECT_LE(left, std::chrono::days(397));
}

TEST_F(TlsIdentityTest, NearExpiryOrExpiredLeafIsRemadeWithTheSameCa) {
  const auto now = Clock::now();
  for (const int age_days : {380, 400}) {  // 17 days left; expired
    SCOPED_TRACE(age_days);
    fs::remove_all(state_);
    const auto old = TlsIdentity::load_or_create(state_, sample_names(), now - std::chrono::days(age_days));
    EXPECT_LT(old.leaf_not_after(), now + TlsIdentity::kRenewBefore);
    const auto renewed = TlsIdentity::load_or_create(state_, sample_names(), now);
    EXPECT_FALSE(renewed.made_new_ca());
    EXPECT_TRUE(renewed.made_new_leaf());
    EXPECT_EQ(renewed.ca_sha256_fingerprint(), old.ca_sha256_fingerprint());
    EXPECT_GT(renewed.leaf_not_after(), now + std::chrono::days(396));
    EXPECT_TRUE(verifies(parse_cert(renewed.certificate_chain_pem()), parse_cert(renewed.ca_certificate_pem())));
  }
}

TEST_F(TlsIdentityTest, CaIsRenewedOnlyWhenAFreshLeafWouldOutliveIt) {
  const auto now = Clock::now();
  const auto made = TlsIdentity::load_or_create(state_, sample_names(), now - std::chrono::days(3000));
  const auto kept = TlsIdentity::load_or_create(state_, sample_names(), now);
  EXPECT_FALSE(kept.made_new_ca());
  EXPECT_EQ(kept.ca_sha256_fingerprint(), made.ca_sha256_fingerprint());
  const auto renewed = TlsIdentity::load_or_create(state_, sample_names(), now + std::chrono::days(300));
  EXPECT_TRUE(renewed.made_new_ca());
  EXPECT_NE(renewed.ca_sha256_fingerprint(), made.ca_sha256_fingerprint());
}

TEST_F(TlsIdentityTest, DamagedLeafIsRemadeButADamagedCaIsAnError) {
  const auto first = TlsIdentity::load_or_create(state_, sample_names());
  std::ofstream(state_ / "server.pem") << "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
  const auto second = TlsIdentity::load_or_create(state_, sample_names());
  EXPECT_TRUE(second.made_new_leaf());
  EXPECT_EQ(second.ca_sha256_fingerprint(), first.ca_sha256_fingerprint());

  fs::remove(state_ / "server-key.pem");
  EXPECT_TRUE(TlsIdentity::load_or_create(state_, sample_names()).made_new_leaf());

  // A CA key that is not the CA's: never silently replaced.
  fs::copy_file(state_ / "server-key.pem", state_ / "ca-key.pem", fs::copy_options::overwrite_existing);
  const std::string message = error_of([&] { (void)TlsIdentity::load_or_create(state_, sample_names()); });
  EXPECT_NE(message.find((state_ / "ca-key.pem").string()), std::string::npos) << message;
  EXPECT_NE(message.find("does not match"), std::string::npos) << message;

  std::ofstream(state_ / "ca.pem") << "garbage";
  const std::string garbage = error_of([&] { (void)TlsIdentity::load_or_create(state_, sample_names()); });
  EXPECT_NE(garbage.find((state_ / "ca.pem").string()), std::string::npos) << garbage;

  // Half a pair is a creation cut short: made again.
  fs::remove(state_ / "ca-key.pem");
  EXPECT_TRUE(TlsIdentity::load_or_create(state_, sample_names()).made_new_ca());
}

TEST_F(TlsIdentityTest, RefusesNamesACertificateCannotCarry) {
  EXPECT_NE(error_of([&] { (void)TlsIdentity::load_or_create(state_, {{"a,DNS:evil.example"}, {}}); }).find("not a valid DNS name"),
            std::string::npos);
  EXPECT_NE(error_of([&] { (void)TlsIdentity::load_or_create(state_, {{}, {"fe80::1%eth0"}}); }).find("not an IP address"),
            std::string::npos);
  EXPECT_NE(error_of([&] { (void)TlsIdentity::load_or_create(state_, {}); }).find("no names"), std::string::npos);
}

TEST_F(TlsIdentityTest, LoadFilesTakesAnOperatorsCertificate) {
  const auto made = TlsIdentity::load_or_create(state_, sample_names());
  const auto loaded = TlsIdentity::load_files(state_ / "server.pem", state_ / "server-key.pem");
  EXPECT_FALSE(loaded.has_local_ca());
  EXPECT_TRUE(loaded.ca_certificate_der().empty());
  EXPECT_EQ(loaded.leaf_sha256_fingerprint(), made.leaf_sha256_fingerprint());
  EXPECT_EQ(loaded.certificate_chain_pem(), made.certificate_chain_pem());

  // A chain and its key in one file.
  const fs::path combined = root_ / "combined.pem";
  std::ofstream(combined) << made.certificate_chain_pem() << made.ca_certificate_pem() << made.private_key_pem();
  const auto from_one_file = TlsIdentity::load_files(combined, combined);
  EXPECT_EQ(from_one_file.certificate_chain_pem(), made.certificate_chain_pem() + made.ca_certificate_pem());
}

TEST_F(TlsIdentityTest, LoadFilesErrorsNameTheFile) {
  (void)TlsIdentity::load_or_create(state_, sample_names());
  const std::string mismatch = error_of([&] { (void)TlsIdentity::load_files(state_ / "server.pem", state_ / "ca-key.pem"); });
  EXPECT_NE(mismatch.find("ca-key.pem does not match"), std::string::npos) << mismatch;
  EXPECT_NE(mismatch.find("server.pem"), std::string::npos) << mismatch;

  const std::string missing = error_of([&] { (void)TlsIdentity::load_files(root_ / "nope.pem", state_ / "server-key.pem"); });
  EXPECT_NE(missing.find("nope.pem"), std::string::npos) << missing;

  const fs::path not_pem = root_ / "not.pem";
  std::ofstream(not_pem) << "hello";
  const std::string no_cert = error_of([&] { (void)TlsIdentity::load_files(not_pem, state_ / "server-key.pem"); });
  EXPECT_NE(no_cert.find("not.pem: no PEM certificate"), std::string::npos) << no_cert;
  const std::string no_key = error_of([&] { (void)TlsIdentity::load_files(state_ / "server.pem", not_pem); });
  EXPECT_NE(no_key.find("not.pem: not a valid PEM private key"), std::string::npos) << no_key;

  // An encrypted key is refused with a message, never a passphrase prompt.
  const std::string key_text = test::read_file((state_ / "server-key.pem").string());
  BioPtr in(BIO_new_mem_buf(key_text.data(), static_cast<int>(key_text.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(key);
  const fs::path encrypted = root_ / "encrypted-key.pem";
  {
    BioPtr out(BIO_new_file(encrypted.c_str(), "w"));
    char passphrase[] = "secret";
    ASSERT_EQ(PEM_write_bio_PrivateKey(out.get(), key.get(), EVP_aes_256_cbc(), nullptr, 0, nullptr, passphrase), 1);
  }
  const std::string locked = error_of([&] { (void)TlsIdentity::load_files(state_ / "server.pem", encrypted); });
  EXPECT_NE(locked.find("encrypted-key.pem: the key is encrypted"), std::string::npos) << locked;
}

TEST(LocalServerNames, HasLoopbackTheHostAndNoLinkLocal) {
  const ServerNames names = local_server_names();
  const auto has = [](const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
  };
  EXPECT_TRUE(has(names.dns, "localhost"));
  EXPECT_TRUE(has(names.ip, "127.0.0.1"));
  EXPECT_TRUE(has(names.ip, "::1"));
  for (const auto& ip : names.ip) EXPECT_FALSE(ip.starts_with("fe8")) << ip;
  EXPECT_TRUE(std::is_sorted(names.dns.begin(), names.dns.end()));
  EXPECT_TRUE(std::adjacent_find(names.ip.begin(), names.ip.end()) == names.ip.end());
  // And a certificate can be made for all of them.
  const fs::path dir = fs::path(::testing::TempDir()) / ("tls_names_" + std::to_string(::getpid()));
  EXPECT_NO_THROW((void)TlsIdentity::load_or_create(dir, names));
  fs::remove_all(dir);
}

// --- A real handshake ---------------------------------------------------------

struct HandshakeResult {
  boost::system::error_code server;
  boost::system::error_code client;
  std::string alpn;
};

/// One TLS handshake on 127.0.0.1: the server with make_server_context(), the
/// client trusting only `ca_file` and checking `verify_name`.
HandshakeResult handshake(const TlsIdentity& identity, const fs::path& ca_file, const std::string& verify_name,
                          std::string_view client_alpn = std::string_view("\x08http/1.1\x02h2", 12)) {
  asio::io_context io;
  ssl::context server_context = identity.make_server_context();
  ssl::context client_context(ssl::context::tls_client);
  client_context.load_verify_file(ca_file.string());
  client_context.set_verify_mode(ssl::verify_peer);

  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  ssl::stream<tcp::socket> server(io, server_context);
  ssl::stream<tcp::socket> client(io, client_context);
  client.set_verify_callback(ssl::host_name_verification(verify_name));
  SSL_set_tlsext_host_name(client.native_handle(), verify_name.c_str());
  EXPECT_EQ(SSL_set_alpn_protos(client.native_handle(), reinterpret_cast<const unsigned char*>(client_alpn.data()),
                                static_cast<unsigned>(client_alpn.size())),
            0);

  HandshakeResult result;
  acceptor.async_accept(server.next_layer(), [&](boost::system::error_code ec) {
    if (ec) {
      result.server = ec;
      return;
    }
    server.async_handshake(ssl::stream_base::server, [&](boost::system::error_code hs) { result.server = hs; });
  });
  client.next_layer().async_connect(acceptor.local_endpoint(), [&](boost::system::error_code ec) {
    if (ec) {
      result.client = ec;
      return;
    }
    client.async_handshake(ssl::stream_base::client, [&](boost::system::error_code hs) {
      result.client = hs;
      if (hs) return;
      const unsigned char* selected = nullptr;
      unsigned int size = 0;
      SSL_get0_alpn_selected(client.native_handle(), &selected, &size);
      result.alpn.assign(reinterpret_cast<const char*>(selected), size);
    });
  });
  io.run_for(std::chrono::seconds(10));
  return result;
}

TEST_F(TlsIdentityTest, ContextIsTls12MinimumWithoutCompression) {
  const auto identity = TlsIdentity::load_or_create(state_, sample_names());
  ssl::context context = identity.make_server_context();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(context.native_handle()), TLS1_2_VERSION);
  EXPECT_NE(SSL_CTX_get_options(context.native_handle()) & SSL_OP_NO_COMPRESSION, 0u);
}

TEST_F(TlsIdentityTest, HandshakeSucceedsForLocalhostWithOnlyTheCaTrusted) {
  const auto identity = TlsIdentity::load_or_create(state_, sample_names());
  const auto result = handshake(identity, state_ / "ca.pem", "localhost");
  EXPECT_FALSE(result.server) << result.server.message();
  EXPECT_FALSE(result.client) << result.client.message();
  EXPECT_EQ(result.alpn, "http/1.1");

  // A client offering only h2 still gets a connection, without ALPN.
  const auto h2_only = handshake(identity, state_ / "ca.pem", "mic-server.local", std::string_view("\x02h2", 3));
  EXPECT_FALSE(h2_only.client) << h2_only.client.message();
  EXPECT_EQ(h2_only.alpn, "");

  // The operator's-files path serves the same chain.
  const auto loaded = TlsIdentity::load_files(state_ / "server.pem", state_ / "server-key.pem");
  EXPECT_FALSE(handshake(loaded, state_ / "ca.pem", "localhost").client);
}

TEST_F(TlsIdentityTest, HandshakeFailsForANameNotInTheCertificate) {
  const auto identity = TlsIdentity::load_or_create(state_, sample_names());
  const auto result = handshake(identity, state_ / "ca.pem", "evil.example");
  EXPECT_TRUE(result.client);
  EXPECT_TRUE(result.server);
  EXPECT_EQ(ERR_GET_REASON(static_cast<unsigned long>(result.client.value())), SSL_R_CERTIFICATE_VERIFY_FAILED)
      << result.client.message();
}

TEST_F(TlsIdentityTest, HandshakeFailsWhenTheClientTrustsAnotherCa) {
  const auto identity = TlsIdentity::load_or_create(state_, sample_names());
  const auto other = TlsIdentity::load_or_create(root_ / "other", sample_names());
  ASSERT_NE(other.ca_sha256_fingerprint(), identity.ca_sha256_fingerprint());
  const auto result = handshake(identity, root_ / "other" / "ca.pem", "localhost");
  EXPECT_TRUE(result.client);
}

}  // namespace
}  // namespace micstream::server
