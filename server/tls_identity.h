// The server's TLS identity for HTTPS on the listeners' port, so that a phone
// on the LAN gets a secure context (AudioWorklet, Wake Lock need one).
//
// Either a small local CA kept in the state directory, which signs a leaf for
// this machine's names (the CA is made once and trusted once on each phone;
// the leaf is remade whenever the names change or it nears expiry), or an
// operator's own certificate and key (--tls-cert/--tls-key).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

namespace micstream::server {

/// The names a leaf certificate is made for: its subjectAltName entries.
struct ServerNames {
  std::vector<std::string> dns;  ///< "localhost", "mybox", "mybox.local"
  std::vector<std::string> ip;   ///< textual addresses: "127.0.0.1", "::1", "192.168.1.20"
};

/// localhost, the host name and <host name>.local (what Avahi publishes),
/// 127.0.0.1, ::1 and every up interface's address. Link-local IPv6 (fe80::/10)
/// is left out: it needs a zone id (%eth0), which neither a certificate's
/// IP entry nor a browser's URL can carry. Sorted, without duplicates.
[[nodiscard]] ServerNames local_server_names();

class TlsIdentity {
 public:
  /// Leaves are made for this long; 397 days keeps under Apple's 398-day limit.
  static constexpr std::chrono::days kLeafValidity{397};
  /// A leaf with less than this left is remade at start-up.
  static constexpr std::chrono::days kRenewBefore{30};
  static constexpr std::chrono::days kCaValidity{3652};

  /// Loads state_dir/{ca,ca-key,server,server-key}.pem when the leaf is
  /// signed by that CA, covers every name and has kRenewBefore left; makes
  /// what is missing otherwise. A CA whose files are unreadable or do not
  /// match throws (phones may trust it: it is never replaced silently); one
  /// is remade only when it would expire before a fresh leaf (once in ~9 years).
  /// `now` is the clock for validity decisions (tests pass a past one).
  /// Throws std::runtime_error naming the file and OpenSSL's reason.
  [[nodiscard]] static TlsIdentity load_or_create(
      const std::filesystem::path& state_dir, const ServerNames& names,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

  /// An operator's own certificate (PEM, the leaf first, then any
  /// intermediates) and unencrypted PEM private key; they may be one file.
  /// Throws std::runtime_error naming the file when either cannot be read
  /// or the key is not the certificate's.
  [[nodiscard]] static TlsIdentity load_files(const std::filesystem::path& cert_path,
                                              const std::filesystem::path& key_path);

  /// TLS 1.2 minimum, no compression, ALPN "http/1.1" when the client offers it.
  /// The context must outlive every stream made with it.
  [[nodiscard]] boost::asio::ssl::context make_server_context() const;

  /// The leaf, then any intermediates, as PEM (what the server sends).
  [[nodiscard]] const std::string& certificate_chain_pem() const { return chain_pem_; }
  /// PKCS#8 PEM, unencrypted.
  [[nodiscard]] const std::string& private_key_pem() const { return key_pem_; }
  [[nodiscard]] std::string leaf_sha256_fingerprint() const { return leaf_fingerprint_; }
  [[nodiscard]] std::chrono::system_clock::time_point leaf_not_after() const { return leaf_not_after_; }

  /// False for an operator's own certificate: then there is no CA to offer.
  [[nodiscard]] bool has_local_ca() const { return !ca_der_.empty(); }
  [[nodiscard]] const std::string& ca_certificate_pem() const { return ca_pem_; }
  /// For the download URL: iOS installs a CA from application/x-x509-ca-cert DER.
  [[nodiscard]] const std::vector<std::uint8_t>& ca_certificate_der() const { return ca_der_; }
  /// "AA:BB:..." of the CA's DER, for the log line "trust this CA once".
  [[nodiscard]] std::string ca_sha256_fingerprint() const { return ca_fingerprint_; }

  /// What load_or_create had to make this time (for the start-up log).
  [[nodiscard]] bool made_new_ca() const { return made_new_ca_; }
  [[nodiscard]] bool made_new_leaf() const { return made_new_leaf_; }

 private:
  TlsIdentity() = default;

  std::string chain_pem_;
  std::string key_pem_;
  std::string leaf_fingerprint_;
  std::chrono::system_clock::time_point leaf_not_after_;
  std::string ca_pem_;
  std::vector<std::uint8_t> ca_der_;
  std::string ca_fingerprint_;
  bool made_new_ca_ = false;
  bool made_new_leaf_ = false;
};

}  // namespace micstream::server
