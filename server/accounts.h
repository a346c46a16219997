// Who may listen and who may administer: user accounts from a TOML file,
//
//   [users.alice]
//   password = "pbkdf2-sha256$600000$<salt base64>$<hash base64>"
//   roles = ["listen", "admin"]      # listen: the page, /ws, streams; admin: POST endpoints, settings
//   devices = ["kitchen", "garage"]  # optional; absent = every device
//
// the login sessions made from them, and the limit on failed logins.
//
// Checking a password costs one PBKDF2 (hundreds of milliseconds at the
// default iterations, by design): run it off the event loop, and never per
// request; requests carry a session token instead.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace micstream::server {

/// OWASP's recommendation for PBKDF2-HMAC-SHA256 (2023).
inline constexpr unsigned kDefaultIterations = 600'000;

/// A salted PBKDF2-HMAC-SHA256 password hash, as written in the users file:
/// "pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>" (standard base64, padded).
class PasswordHash {
 public:
  static constexpr std::string_view kScheme = "pbkdf2-sha256";
  static constexpr std::size_t kSaltSize = 16;  ///< what make() uses; parse() accepts 8..64
  static constexpr std::size_t kHashSize = 32;
  /// Above this one check would hold a thread for seconds: a typo, not a policy.
  static constexpr unsigned kMaxIterations = 10'000'000;

  /// A fresh random salt. Throws std::runtime_error when OpenSSL fails.
  [[nodiscard]] static PasswordHash make(std::string_view password, unsigned iterations = kDefaultIterations);
  /// nullopt for anything but the format above, with the reason in *why (a static string).
  [[nodiscard]] static std::optional<PasswordHash> parse(std::string_view encoded, const char** why = nullptr);
  /// One that no password matches in practice (random hash), for unknown users:
  /// verifying against it costs what verifying a real one does.
  [[nodiscard]] static PasswordHash unmatchable(unsigned iterations);

  /// Recomputes the hash and compares in constant time (CRYPTO_memcmp).
  [[nodiscard]] bool verify(std::string_view password) const;
  [[nodiscard]] std::string encode() const;
  [[nodiscard]] unsigned iterations() const { return iterations_; }

 private:
  PasswordHash() = default;

  unsigned iterations_ = 0;
  std::vector<std::uint8_t> salt_;
  std::array<std::uint8_t, kHashSize> hash_{};
};

/// "pbkdf2-sha256$..." for a new password (what the users file holds).
[[nodiscard]] std::string hash_password(std::string_view password, unsigned iterations = kDefaultIterations);
/// False for a wrong password and for a malformed hash.
[[nodiscard]] bool verify_password(std::string_view password, std::string_view encoded_hash);

/// Padded standard base64 (RFC 4648 section 4) and nothing else: no
/// whitespace, no stray bits; nullopt too when it holds more than max_bytes.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text, std::size_t max_bytes = 192);

/// What a logged-in user may do.
struct User {
  std::string name;
  bool can_listen = false;  ///< the page, /ws, the streams
  bool can_admin = false;   ///< POST endpoints, settings
  /// nullopt: every device; otherwise only these (possibly none).
  std::optional<std::set<std::string, std::less<>>> devices;

  /// Listening to device_id: needs the listen role and, when restricted, the device in the list.
  [[nodiscard]] bool may_hear(std::string_view device_id) const;
};

class Accounts {
 public:
  static constexpr std::size_t kMaxUserNameLength = 32;

  /// No users: every check_password fails.
  Accounts();

  /// Throws std::runtime_error naming the file, the user and the problem: a
  /// group/other-accessible file (see private_file.h), TOML syntax, an
  /// invalid user name (1..32 of [A-Za-z0-9._-]), a bad hash, an unknown
  /// role or key, an invalid device id.
  [[nodiscard]] static Accounts load(const std::filesystem::path& file);

  /// The user when the password is theirs. Costs one PBKDF2 whether or not
  /// the user exists (an unknown name is checked against a dummy hash), so
  /// the time taken does not tell which names exist.
  [[nodiscard]] std::optional<User> check_password(std::string_view name, std::string_view password) const;

  [[nodiscard]] const User* find(std::string_view name) const;
  [[nodiscard]] std::size_t size() const { return accounts_.size(); }

  [[nodiscard]] static bool is_valid_user_name(std::string_view name);

 private:
  struct Account {
    User user;
    PasswordHash hash;
  };
  std::map<std::string, Account, std::less<>> accounts_;
  PasswordHash dummy_;  // iterations as most users', so unknown names take as long
};

using SteadyClock = std::chrono::steady_clock;

/// Login sessions: a random token (the cookie) for a user, in memory only.
/// Bounded: past kMaxSessions the oldest created goes.
class SessionStore {
 public:
  static constexpr std::chrono::hours kIdleTimeout{12};
  static constexpr std::chrono::hours kMaxLifetime{24 * 7};
  static constexpr std::size_t kMaxSessions = 1024;
  static constexpr std::size_t kTokenBytes = 32;
  static constexpr std::size_t kTokenLength = 43;  ///< base64url of kTokenBytes, no padding

  /// now: the clock for expiry (tests pass their own).
  explicit SessionStore(std::function<SteadyClock::time_point()> now = SteadyClock::now,
                        std::size_t max_sessions = kMaxSessions);

  /// A new 256-bit token (base64url, no padding). Throws std::runtime_error when OpenSSL fails.
  [[nodiscard]] std::string create(const User& user);
  /// The token's user, or nullptr when unknown or expired (then it is dropped).
  /// Counts as use for the idle timeout. The pointer is valid until the next
  /// call that changes the store (create, remove, remove_user, find).
  [[nodiscard]] const User* find(std::string_view token);
  void remove(std::string_view token);
  /// Logs a user out everywhere (password changed, account removed); returns how many sessions went.
  std::size_t remove_user(std::string_view name);
  [[nodiscard]] std::size_t size() const { return by_key_.size(); }

 private:
  // Sessions are found by SHA-256 of the token, so the lookup compares a
  // digest, never the secret itself, and the map holds no usable token.
  using Key = std::array<std::uint8_t, 32>;
  struct KeyHash {
    std::size_t operator()(const Key& key) const noexcept;
  };
  struct Session {
    Key key;
    User user;
    SteadyClock::time_point created;
    SteadyClock::time_point last_used;
  };
  using Sessions = std::list<Session>;  // oldest created first

  [[nodiscard]] bool expired(const Session& session, SteadyClock::time_point now) const;
  void erase(Sessions::iterator it);

  std::function<SteadyClock::time_point()> now_;
  std::size_t max_sessions_;
  Sessions sessions_;
  std::unordered_map<Key, Sessions::iterator, KeyHash> by_key_;
};

/// Basic credentials that verified, remembered by a salted SHA-256 so a
/// tool's every request (curl -u, a Prometheus scrape) costs a digest, not a
/// PBKDF2. Bounded; an entry lives kLifetime from its verification, so a
/// password changed in the users file (read at start) stops working within it.
class CredentialCache {
 public:
  static constexpr std::chrono::minutes kLifetime{10};
  static constexpr std::size_t kMaxEntries = 256;

  explicit CredentialCache(std::function<SteadyClock::time_point()> now = SteadyClock::now);

  /// The user these credentials verified as within kLifetime, or nullptr.
  /// Valid until the next call that changes the cache.
  [[nodiscard]] const User* find(std::string_view name, std::string_view password);
  void remember(std::string_view name, std::string_view password, const User& user);
  [[nodiscard]] std::size_t size() const { return entries_.size(); }

 private:
  using Key = std::array<std::uint8_t, 32>;
  struct Entry {
    User user;
    SteadyClock::time_point verified;
  };
  [[nodiscard]] Key key(std::string_view name, std::string_view password) const;

  std::function<SteadyClock::time_point()> now_;
  std::array<std::uint8_t, 16> salt_{};  // per process: the digests are useless elsewhere
  std::map<Key, Entry> entries_;
};

/// `micstream-server hash-password`: reads one password line from in, writes
/// its hash line (for the users file) to out. 0 on success, 1 (with a message
/// on err) when no password was given.
[[nodiscard]] int run_hash_password(std::istream& in, std::ostream& out, std::ostream& err,
                                    unsigned iterations = kDefaultIterations);

}  // namespace micstream::server
