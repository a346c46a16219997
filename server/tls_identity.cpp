#include "tls_identity.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "openssl_ptr.h"

namespace micstream::server {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, FreeWith<GENERAL_NAME_free>>;
using StorePtr = std::unique_ptr<X509_STORE, FreeWith<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, FreeWith<X509_STORE_CTX_free>>;

constexpr std::string_view kCaCertFile = "ca.pem";
constexpr std::string_view kCaKeyFile = "ca-key.pem";
constexpr std::string_view kLeafCertFile = "server.pem";
constexpr std::string_view kLeafKeyFile = "server-key.pem";
// X.520's upper bound for commonName.
constexpr std::size_t kMaxCommonName = 64;
// notBefore is set back a little, for phones whose clocks run behind.
constexpr std::chrono::hours kBackdate{1};

/// Appends OpenSSL's queued errors (oldest first) and clears the queue.
[[noreturn]] void throw_openssl(std::string what) {
  bool first = true;
  while (const unsigned long code = ERR_get_error()) {
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    what += first ? ": " : "; ";
    what += text.data();
    first = false;
  }
  throw std::runtime_error(what);
}

void check(int ok, const std::string& what) {
  if (ok != 1) throw_openssl(what);
}

// --- PEM and DER in memory ---------------------------------------------------

BioPtr memory_bio(std::string_view data) {
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (!bio) throw_openssl("BIO_new_mem_buf");
  return bio;
}

BioPtr empty_memory_bio() {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) throw_openssl("BIO_new");
  return bio;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return {data, static_cast<std::size_t>(size)};
}

std::string certificate_pem(X509* cert) {
  const BioPtr bio = empty_memory_bio();
  check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
  return bio_text(bio.get());
}

std::string pkcs8_pem(EVP_PKEY* key) {
  const BioPtr bio = empty_memory_bio();
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), "PEM_write_bio_PrivateKey");
  return bio_text(bio.get());
}

std::vector<std::uint8_t> certificate_der(X509* cert) {
  const int size = i2d_X509(cert, nullptr);
  if (size <= 0) throw_openssl("i2d_X509");
  std::vector<std::uint8_t> der(static_cast<std::size_t>(size));
  unsigned char* out = der.data();
  if (i2d_X509(cert, &out) != size) throw_openssl("i2d_X509");
  return der;
}

std::string sha256_fingerprint(X509* cert) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  check(X509_digest(cert, EVP_sha256(), digest.data(), &size), "X509_digest");
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    if (i > 0) out += ':';
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

// Never prompt on the terminal for a passphrase (OpenSSL's default callback
// would); an encrypted key is refused with a message instead.
int refuse_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

std::string read_whole_file(const fs::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(what + " " + path.string() + ": cannot be read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Every certificate in a PEM text, in order; throws when there is none.
std::vector<X509Ptr> parse_certificates(const std::string& pem, const std::string& source) {
  std::vector<X509Ptr> certs;
  const BioPtr bio = memory_bio(pem);
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    certs.push_back(std::move(cert));
  }
  // Reading stops with "no start line" after the last certificate; any other
  // error is a damaged one.
  const unsigned long last = ERR_peek_last_error();
  const bool ended_cleanly = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (!ended_cleanly) throw_openssl(source + ": not a valid PEM certificate");
  ERR_clear_error();
  if (certs.empty()) throw std::runtime_error(source + ": no PEM certificate in it");
  return certs;
}

PkeyPtr parse_private_key(const std::string& pem, const std::string& source) {
  const BioPtr bio = memory_bio(pem);
  bool asked_for_passphrase = false;
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, &asked_for_passphrase));
  if (!key) {
    if (asked_for_passphrase) {
      ERR_clear_error();
      throw std::runtime_error(source + ": the key is encrypted with a passphrase; give an unencrypted PEM key");
    }
    throw_openssl(source + ": not a valid PEM private key");
  }
  return key;
}

// --- Time --------------------------------------------------------------------

Clock::time_point to_time_point(const ASN1_TIME* time) {
  std::tm tm{};
  check(ASN1_TIME_to_tm(time, &tm), "ASN1_TIME_to_tm");
  return Clock::from_time_t(timegm(&tm));
}

void set_validity(X509* cert, Clock::time_point not_before, std::chrono::days validity) {
  const std::time_t start = Clock::to_time_t(not_before);
  // ASN1_TIME_adj writes UTCTime up to 2049 and GeneralizedTime after, as RFC 5280 wants.
  if (ASN1_TIME_adj(X509_getm_notBefore(cert), start, 0, 0) == nullptr) throw_openssl("notBefore");
  if (ASN1_TIME_adj(X509_getm_notAfter(cert), start, static_cast<int>(validity.count()), 0) == nullptr) {
    throw_openssl("notAfter");
  }
}

// --- Names -------------------------------------------------------------------

bool is_valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '.') return false;
  if (name.find("..") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  });
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

/// The canonical text of an address (inet_ntop's), or empty when it is not one.
std::string canonical_ip(const std::string& text) {
  std::array<unsigned char, sizeof(in6_addr)> binary{};
  std::array<char, INET6_ADDRSTRLEN> out{};
  for (const int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, text.c_str(), binary.data()) == 1 &&
        inet_ntop(family, binary.data(), out.data(), out.size()) != nullptr) {
      return out.data();
    }
  }
  return {};
}

void sort_unique(std::vector<std::string>& items) {
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
}

/// Lower-case, canonical, sorted and deduplicated; throws on a name no
/// certificate can carry (a comma or a zone id would be one).
ServerNames normalized(const ServerNames& names) {
  ServerNames out;
  for (const auto& dns : names.dns) {
    if (!is_valid_dns_name(dns)) throw std::runtime_error("TLS identity: '" + dns + "' is not a valid DNS name");
    out.dns.push_back(lower(dns));
  }
  for (const auto& ip : names.ip) {
    std::string canonical = canonical_ip(ip);
    if (canonical.empty()) throw std::runtime_error("TLS identity: '" + ip + "' is not an IP address");
    out.ip.push_back(std::move(canonical));
  }
  sort_unique(out.dns);
  sort_unique(out.ip);
  if (out.dns.empty() && out.ip.empty()) throw std::runtime_error("TLS identity: no names to make a certificate for");
  return out;
}

bool covers(X509* leaf, const ServerNames& names) {
  for (const auto& dns : names.dns) {
    if (X509_check_host(leaf, dns.data(), dns.size(), 0, nullptr) != 1) return false;
  }
  for (const auto& ip : names.ip) {
    if (X509_check_ip_asc(leaf, ip.c_str(), 0) != 1) return false;
  }
  return true;
}

std::string host_name() {
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) != 0) return {};
  return lower(name.data());
}

// --- Making certificates -----------------------------------------------------

PkeyPtr make_p256_key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw_openssl("EC P-256 key generation");
  return key;
}

void set_random_serial(X509* cert) {
  // 128 random bits: unique without a counter, and more than the 64 bits of
  // entropy the CA/Browser Forum asks for.
  std::array<unsigned char, 16> bytes{};
  check(RAND_bytes(bytes.data(), static_cast<int>(bytes.size())), "RAND_bytes");
  const BignumPtr serial(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!serial) throw_openssl("BN_bin2bn");
  if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) throw_openssl("serial number");
}

void set_subject(X509* cert, const std::string& common_name) {
  X509_NAME* name = X509_get_subject_name(cert);
  const std::string cn = common_name.substr(0, kMaxCommonName);
  const auto add = [&](const char* field, const std::string& value) {
    check(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.c_str()),
                                     -1, -1, 0),
          std::string("subject ") + field);
  };
  add("O", "micstream");
  add("CN", cn);
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  const ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!extension) throw_openssl(std::string("extension ") + OBJ_nid2sn(nid) + " = " + value);
  check(X509_add_ext(cert, extension.get(), -1), std::string("X509_add_ext ") + OBJ_nid2sn(nid));
}

/// Built from GENERAL_NAMEs rather than a "DNS:a,IP:b" config string, so no
/// name can smuggle in another entry.
void add_subject_alt_names(X509* cert, const ServerNames& names) {
  const GeneralNamesPtr general_names(GENERAL_NAMES_new());
  if (!general_names) throw_openssl("GENERAL_NAMES_new");
  const auto add = [&](int type, const std::string& value) {
    GeneralNamePtr name(a2i_GENERAL_NAME(nullptr, nullptr, nullptr, type, value.c_str(), 0));
    if (!name) throw_openssl("subjectAltName " + value);
    if (sk_GENERAL_NAME_push(general_names.get(), name.get()) == 0) throw_openssl("sk_GENERAL_NAME_push");
    name.release();  // owned by the stack now
  };
  for (const auto& dns : names.dns) add(GEN_DNS, dns);
  for (const auto& ip : names.ip) add(GEN_IPADD, ip);
  check(X509_add1_ext_i2d(cert, NID_subject_alt_name, general_names.get(), 0, X509V3_ADD_DEFAULT), "subjectAltName");
}

/// The leaf's CN: only shown in certificate viewers (clients match the
/// subjectAltName), so the most telling name rather than "localhost".
std::string display_name(const ServerNames& names) {
  for (const auto& dns : names.dns) {
    if (dns != "localhost") return dns;
  }
  return names.dns.empty() ? names.ip.front() : names.dns.front();
}

struct CertAndKey {
  X509Ptr cert;
  PkeyPtr key;
};

X509Ptr new_v3_certificate(EVP_PKEY* key, Clock::time_point now, std::chrono::days validity) {
  X509Ptr cert(X509_new());
  if (!cert) throw_openssl("X509_new");
  check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");
  set_random_serial(cert.get());
  set_validity(cert.get(), now - kBackdate, validity);
  check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");
  return cert;
}

CertAndKey make_ca(Clock::time_point now) {
  CertAndKey ca{nullptr, make_p256_key()};
  ca.cert = new_v3_certificate(ca.key.get(), now, TlsIdentity::kCaValidity);
  set_subject(ca.cert.get(), "micstream local CA " + host_name());
  check(X509_set_issuer_name(ca.cert.get(), X509_get_subject_name(ca.cert.get())), "X509_set_issuer_name");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca.cert.get(), ca.cert.get(), nullptr, nullptr, 0);
  // pathlen 0: it signs leaves only, so a stolen key cannot mint sub-CAs.
  add_extension(ca.cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(ca.cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(ca.cert.get(), &ctx, NID_subject_key_identifier, "hash");
  add_extension(ca.cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  if (X509_sign(ca.cert.get(), ca.key.get(), EVP_sha256()) <= 0) throw_openssl("signing the CA certificate");
  return ca;
}

// Validity: 397 days, under the 398 of Apple's "About upcoming limits on
// trusted certificates" (support.apple.com/HT211025: TLS server certificates
// issued on or after 2020-09-01 must not be valid for more than 398 days),
// which is stricter than the 825 days of "Requirements for trusted
// certificates in iOS 13 and macOS 10.15" (support.apple.com/HT210176). That
// page's other rules are met too: names in subjectAltName (the CN is not
// used), extendedKeyUsage serverAuth, a SHA-2 signature. The 398-day rule is
// written for CAs Apple ships, but the one day spare costs nothing and keeps
// user-trusted CAs safe should Apple extend it.
CertAndKey make_leaf(const CertAndKey& ca, const ServerNames& names, Clock::time_point now) {
  CertAndKey leaf{nullptr, make_p256_key()};
  leaf.cert = new_v3_certificate(leaf.key.get(), now, TlsIdentity::kLeafValidity);
  set_subject(leaf.cert.get(), display_name(names));
  check(X509_set_issuer_name(leaf.cert.get(), X509_get_subject_name(ca.cert.get())), "X509_set_issuer_name");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca.cert.get(), leaf.cert.get(), nullptr, nullptr, 0);
  add_extension(leaf.cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
  // ECDHE-ECDSA needs only signatures; keyEncipherment is for RSA key exchange.
  add_extension(leaf.cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
  add_extension(leaf.cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
  add_extension(leaf.cert.get(), &ctx, NID_subject_key_identifier, "hash");
  add_extension(leaf.cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  add_subject_alt_names(leaf.cert.get(), names);
  if (X509_sign(leaf.cert.get(), ca.key.get(), EVP_sha256()) <= 0) throw_openssl("signing the server certificate");
  return leaf;
}

// --- Files -------------------------------------------------------------------

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

/// Creates the directory 0700 when it is missing; an existing one is left as it is.
void ensure_private_directory(const fs::path& dir) {
  if (fs::is_directory(dir)) return;
  if (dir.has_parent_path()) fs::create_directories(dir.parent_path());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("TLS state directory " + dir.string());
  if (!fs::is_directory(dir)) throw std::runtime_error("TLS state directory " + dir.string() + " is not a directory");
}

/// Temp file in the same directory, then rename: a crash leaves the old file
/// or the new one, never half of either. mkstemp makes it 0600, so a key is
/// never readable by others even for a moment.
void write_file_atomically(const fs::path& path, std::string_view content, mode_t mode) {
  std::string temp = path.string() + ".tmp-XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) throw_errno("creating a temporary file for " + path.string());
  const auto fail = [&](const std::string& what) {
    const int saved = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    errno = saved;
    throw_errno(what + " " + path.string());
  };
  if (::fchmod(fd, mode) != 0) fail("chmod");
  for (std::size_t done = 0; done < content.size();) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("writing");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("fsync");
  if (::close(fd) != 0) {
    ::unlink(temp.c_str());
    throw_errno("closing " + path.string());
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    throw_errno("renaming into " + path.string());
  }
  // The rename itself survives a power cut only once the directory is synced.
  const int dir_fd = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

void write_pair(const fs::path& cert_path, const fs::path& key_path, const CertAndKey& pair) {
  // Key first: a crash between the two leaves a certificate that does not
  // match its key, which load_or_create notices (for a leaf: remakes it).
  write_file_atomically(key_path, pkcs8_pem(pair.key.get()), 0600);
  write_file_atomically(cert_path, certificate_pem(pair.cert.get()), 0644);
}

/// Throws when the files are unusable rather than replacing a CA that phones may trust.
CertAndKey load_ca(const fs::path& cert_path, const fs::path& key_path) {
  const std::string advice = " (remove " + cert_path.string() + " and " + key_path.string() +
                             " to make a new CA; phones will have to trust the new one)";
  CertAndKey ca;
  try {
    auto certs = parse_certificates(read_whole_file(cert_path, "TLS CA certificate"),
                                    "TLS CA certificate " + cert_path.string());
    ca.cert = std::move(certs.front());
    ca.key = parse_private_key(read_whole_file(key_path, "TLS CA key"), "TLS CA key " + key_path.string());
  } catch (const std::exception& e) {
    throw std::runtime_error(e.what() + advice);
  }
  if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error("TLS CA key " + key_path.string() + " does not match " + cert_path.string() + advice);
  }
  return ca;
}

/// The leaf from its files when it is still good for these names; else empty.
CertAndKey load_usable_leaf(const fs::path& cert_path, const fs::path& key_path, const CertAndKey& ca,
                            const ServerNames& names, Clock::time_point now) {
  if (!fs::exists(cert_path) || !fs::exists(key_path)) return {};
  CertAndKey leaf;
  try {
    auto certs = parse_certificates(read_whole_file(cert_path, "TLS certificate"), cert_path.string());
    leaf.cert = std::move(certs.front());
    leaf.key = parse_private_key(read_whole_file(key_path, "TLS key"), key_path.string());
  } catch (const std::exception&) {
    ERR_clear_error();
    return {};  // half-written or damaged: it is only the leaf, make it again
  }
  const bool key_matches = X509_check_private_key(leaf.cert.get(), leaf.key.get()) == 1;
  ERR_clear_error();
  if (!key_matches || !covers(leaf.cert.get(), names)) return {};

  const auto not_before = to_time_point(X509_get0_notBefore(leaf.cert.get()));
  const auto not_after = to_time_point(X509_get0_notAfter(leaf.cert.get()));
  if (not_after - not_before > TlsIdentity::kLeafValidity + std::chrono::days(1)) return {};
  if (not_after - now < TlsIdentity::kRenewBefore) return {};

  // Signed by this CA, valid now, fit for a TLS server: as a client would check.
  const StorePtr store(X509_STORE_new());
  const StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx) throw_openssl("X509_STORE_new");
  check(X509_STORE_add_cert(store.get(), ca.cert.get()), "X509_STORE_add_cert");
  check(X509_STORE_CTX_init(ctx.get(), store.get(), leaf.cert.get(), nullptr), "X509_STORE_CTX_init");
  X509_STORE_CTX_set_time(ctx.get(), 0, Clock::to_time_t(now));
  check(X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER), "X509_STORE_CTX_set_purpose");
  const bool verified = X509_verify_cert(ctx.get()) == 1;
  ERR_clear_error();
  if (!verified) return {};
  return leaf;
}

// ALPN: "http/1.1" when offered; otherwise no ALPN at all rather than a fatal
// alert, so a client that offers only h2 still falls back to HTTP/1.1.
int select_http11(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_size, const unsigned char* offered,
                   unsigned int offered_size, void* /*arg*/) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  unsigned char selected_size = 0;
  if (SSL_select_next_proto(&selected, &selected_size, kHttp11, sizeof kHttp11, offered, offered_size) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  *out_size = selected_size;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

ServerNames local_server_names() {
  ServerNames names;
  names.dns.emplace_back("localhost");
  const std::string host = host_name();
  if (is_valid_dns_name(host)) {
    names.dns.push_back(host);
    const std::string short_name = host.substr(0, host.find('.'));
    names.dns.push_back(short_name);
    names.dns.push_back(short_name + ".local");
  }
  names.ip = {"127.0.0.1", "::1"};

  ifaddrs* interfaces = nullptr;
  if (getifaddrs(&interfaces) == 0) {
    const std::unique_ptr<ifaddrs, FreeWith<freeifaddrs>> owner(interfaces);
    for (const ifaddrs* i = interfaces; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_UP) == 0) continue;
      std::array<char, INET6_ADDRSTRLEN> text{};
      if (i->ifa_addr->sa_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
        if (inet_ntop(AF_INET, &v4->sin_addr, text.data(), text.size()) != nullptr) names.ip.emplace_back(text.data());
      } else if (i->ifa_addr->sa_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
        if (IN6_IS_ADDR_LINKLOCAL(&v6->sin6_addr)) continue;
        if (inet_ntop(AF_INET6, &v6->sin6_addr, text.data(), text.size()) != nullptr) names.ip.emplace_back(text.data());
      }
    }
  }
  sort_unique(names.dns);
  sort_unique(names.ip);
  return names;
}

TlsIdentity TlsIdentity::load_or_create(const fs::path& state_dir, const ServerNames& requested_names,
                                        Clock::time_point now) {
  ERR_clear_error();  // so that no stale error ends up in a message of ours
  const ServerNames names = normalized(requested_names);
  ensure_private_directory(state_dir);
  const fs::path ca_cert_path = state_dir / kCaCertFile;
  const fs::path ca_key_path = state_dir / kCaKeyFile;
  const fs::path leaf_cert_path = state_dir / kLeafCertFile;
  const fs::path leaf_key_path = state_dir / kLeafKeyFile;

  TlsIdentity identity;
  CertAndKey ca;
  // One file of the pair without the other is a creation cut short, never a
  // CA anyone trusts: make it again.
  if (fs::exists(ca_cert_path) && fs::exists(ca_key_path)) {
    ca = load_ca(ca_cert_path, ca_key_path);
    // A leaf must not outlive its CA: renew the CA before it gets that close.
    if (to_time_point(X509_get0_notAfter(ca.cert.get())) - now < kLeafValidity + kRenewBefore) ca = {};
  }
  if (!ca.cert) {
    ca = make_ca(now);
    write_pair(ca_cert_path, ca_key_path, ca);
    identity.made_new_ca_ = true;
  }

  CertAndKey leaf;
  if (!identity.made_new_ca_) leaf = load_usable_leaf(leaf_cert_path, leaf_key_path, ca, names, now);
  if (!leaf.cert) {
    leaf = make_leaf(ca, names, now);
    write_pair(leaf_cert_path, leaf_key_path, leaf);
    identity.made_new_leaf_ = true;
  }

  identity.chain_pem_ = certificate_pem(leaf.cert.get());
  identity.key_pem_ = pkcs8_pem(leaf.key.get());
  identity.leaf_fingerprint_ = sha256_fingerprint(leaf.cert.get());
  identity.leaf_not_after_ = to_time_point(X509_get0_notAfter(leaf.cert.get()));
  identity.ca_pem_ = certificate_pem(ca.cert.get());
  identity.ca_der_ = certificate_der(ca.cert.get());
  identity.ca_fingerprint_ = sha256_fingerprint(ca.cert.get());
  return identity;
}

TlsIdentity TlsIdentity::load_files(const fs::path& cert_path, const fs::path& key_path) {
  const std::string cert_source = "TLS certificate " + cert_path.string();
  const std::string key_source = "TLS key " + key_path.string();
  ERR_clear_error();
  const auto certs = parse_certificates(read_whole_file(cert_path, "TLS certificate"), cert_source);
  const PkeyPtr key = parse_private_key(read_whole_file(key_path, "TLS key"), key_source);
  if (X509_check_private_key(certs.front().get(), key.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error(key_source + " does not match " + cert_source +
                             " (the key must be the first certificate's)");
  }
  TlsIdentity identity;
  for (const auto& cert : certs) identity.chain_pem_ += certificate_pem(cert.get());
  identity.key_pem_ = pkcs8_pem(key.get());
  identity.leaf_fingerprint_ = sha256_fingerprint(certs.front().get());
  identity.leaf_not_after_ = to_time_point(X509_get0_notAfter(certs.front().get()));
  return identity;
}

boost::asio::ssl::context TlsIdentity::make_server_context() const {
  namespace ssl = boost::asio::ssl;
  ssl::context context(ssl::context::tls_server);
  SSL_CTX* native = context.native_handle();
  check(SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION), "SSL_CTX_set_min_proto_version");
  // Compression is off in OpenSSL 3 unless asked for; said here so it stays off (CRIME).
  context.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  context.use_certificate_chain(boost::asio::buffer(chain_pem_));
  context.use_private_key(boost::asio::buffer(key_pem_), ssl::context::pem);
  check(SSL_CTX_check_private_key(native), "SSL_CTX_check_private_key");
  SSL_CTX_set_alpn_select_cb(native, select_http11, nullptr);
  return context;
}

}  // namespace micstream::server
