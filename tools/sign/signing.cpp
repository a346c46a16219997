#include "signing.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <system_error>

#include "openssl_ptr.h"  // server/'s owners of OpenSSL objects (header only)

namespace micstream::sign {

namespace {

using server::BioPtr;
using server::FreeWith;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, FreeWith<EVP_MD_CTX_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, FreeWith<ECDSA_SIG_free>>;

// The oldest error OpenSSL queued, for a message; clears the queue.
std::string openssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no reason given";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

[[noreturn]] void fail(const std::string& what) { throw SigningError(what + " (" + openssl_reason() + ")"); }

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

BioPtr memory_bio(std::string_view text) {
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) fail("out of memory");
  return bio;
}

// Refuses a passphrase prompt: keys are stored unencrypted, 0600.
int no_passphrase(char*, int, int, void*) { return -1; }

bool is_p256(EVP_PKEY* pkey) {
  char group[64] = {};
  std::size_t length = 0;
  return EVP_PKEY_is_a(pkey, "EC") == 1 &&
         EVP_PKEY_get_group_name(pkey, group, sizeof group, &length) == 1 && std::strcmp(group, "prime256v1") == 0;
}

Bytes der_signature(const ota::ImageSignature& sig) {
  EcdsaSigPtr ecdsa(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(sig.signature.data(), 32, nullptr);
  BIGNUM* s = BN_bin2bn(sig.signature.data() + 32, 32, nullptr);
  if (!ecdsa || r == nullptr || s == nullptr || ECDSA_SIG_set0(ecdsa.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    fail("out of memory");
  }
  unsigned char* der = nullptr;
  const int size = i2d_ECDSA_SIG(ecdsa.get(), &der);
  if (size <= 0) fail("encoding the signature");
  Bytes out(der, der + size);
  OPENSSL_free(der);
  return out;
}

}  // namespace

Key Key::generate() {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (pkey == nullptr) fail("generating a P-256 key");
  Key key(pkey);
  key.private_ = true;
  return key;
}

Key Key::from_pem(std::string_view pem, const std::string& what) {
  bool is_private = true;
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(memory_bio(pem).get(), nullptr, no_passphrase, nullptr);
  if (pkey == nullptr) {
    ERR_clear_error();
    is_private = false;
    pkey = PEM_read_bio_PUBKEY(memory_bio(pem).get(), nullptr, no_passphrase, nullptr);
  }
  if (pkey == nullptr) {
    fail(what + " holds no PEM key (an unencrypted \"PRIVATE KEY\" or a \"PUBLIC KEY\")");
  }
  Key key(pkey);
  key.private_ = is_private;
  if (!is_p256(pkey)) throw SigningError(what + " is not an ECDSA P-256 (prime256v1) key");
  return key;
}

bool Key::is_private() const { return private_; }

std::string Key::private_pem() const {
  if (!private_) throw SigningError("a public key has no private part");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    fail("writing the private key");
  }
  return bio_text(bio.get());
}

std::string Key::public_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), get()) != 1) fail("writing the public key");
  return bio_text(bio.get());
}

std::string Key::public_base64() const {
  unsigned char* der = nullptr;
  const int size = i2d_PUBKEY(get(), &der);
  if (size <= 0) fail("encoding the public key");
  std::string text(static_cast<std::size_t>(4 * ((size + 2) / 3)) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()), der, size);
  OPENSSL_free(der);
  text.resize(static_cast<std::size_t>(written));
  return text;
}

std::array<std::uint8_t, ota::kSha256Size> sha256(std::span<const std::uint8_t> bytes) {
  std::array<std::uint8_t, ota::kSha256Size> digest{};
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != digest.size()) {
    fail("computing SHA-256");
  }
  return digest;
}

ota::ImageSignature sign_image(const Key& key, std::span<const std::uint8_t> image) {
  if (!key.is_private()) throw SigningError("signing needs the private key, not a public one");
  if (image.empty() || image.size() > std::numeric_limits<std::uint32_t>::max()) {
    throw SigningError("an image is 1 byte to 4 GiB - 1; this one is " + std::to_string(image.size()) + " bytes");
  }
  ota::ImageSignature sig;
  sig.image_size = static_cast<std::uint32_t>(image.size());
  sig.image_sha256 = sha256(image);
  std::array<std::uint8_t, ota::kSignedSize> message{};
  ota::encode_signed_part(sig, message);

  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t size = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, message.data(), message.size()) != 1) {
    fail("preparing to sign");
  }
  Bytes der(size);
  if (EVP_DigestSign(ctx.get(), der.data(), &size, message.data(), message.size()) != 1) fail("signing");
  const unsigned char* cursor = der.data();
  EcdsaSigPtr ecdsa(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(size)));
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  if (ecdsa) ECDSA_SIG_get0(ecdsa.get(), &r, &s);
  if (r == nullptr || s == nullptr || BN_bn2binpad(r, sig.signature.data(), 32) != 32 ||
      BN_bn2binpad(s, sig.signature.data() + 32, 32) != 32) {
    fail("reading the signature");
  }
  return sig;
}

Bytes signature_file(const Key& key, std::span<const std::uint8_t> image) {
  Bytes file(ota::kSignatureFileSize);
  ota::encode(sign_image(key, image), std::span<std::uint8_t, ota::kSignatureFileSize>(file));
  return file;
}

std::string verify_image(const Key& key, std::span<const std::uint8_t> image, std::span<const std::uint8_t> file) {
  ota::ImageSignature sig;
  if (const auto error = ota::parse(file, sig); error != ota::SignatureFileError::ok) {
    return std::string("bad signature file: ") + ota::describe(error);
  }
  const Bytes der = der_signature(sig);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) {
    fail("preparing to verify");
  }
  const int verified = EVP_DigestVerify(ctx.get(), der.data(), der.size(), file.data(), ota::kSignedSize);
  ERR_clear_error();
  if (verified != 1) return "the signature was not made by this key";
  if (image.size() != sig.image_size) {
    return "the image is " + std::to_string(image.size()) + " bytes; the signed one was " +
           std::to_string(sig.image_size);
  }
  if (sha256(image) != sig.image_sha256) return "the image's SHA-256 differs from the signed one: it was changed";
  return {};
}

Bytes read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SigningError("cannot read " + path.string() + ": " + std::strerror(errno));
  Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw SigningError("cannot read " + path.string());
  return bytes;
}

void write_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  std::filesystem::path temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw SigningError("cannot write " + temporary.string() + ": " + std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) throw SigningError("cannot write " + path.string() + ": " + ec.message());
}

void write_private_file(const std::filesystem::path& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const std::string reason = errno == EEXIST ? "it exists; remove it first to replace it" : std::strerror(errno);
    throw SigningError("not writing " + path.string() + ": " + reason);
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  const bool ok = done == text.size() && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    throw SigningError("cannot write " + path.string() + ": " + std::strerror(saved));
  }
}

}  // namespace micstream::sign
