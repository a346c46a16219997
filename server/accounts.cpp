#include "accounts.h"

#include <algorithm>
#include <cstring>
#include <istream>
#include <ostream>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <toml++/toml.h>

#include "micstream/protocol.h"
#include "private_file.h"

namespace micstream::server {

namespace {

constexpr std::size_t kMinSaltSize = 8;
constexpr std::size_t kMaxSaltSize = 64;

void random_bytes(std::uint8_t* out, std::size_t size) {
  if (RAND_bytes(out, static_cast<int>(size)) != 1) throw std::runtime_error("OpenSSL RAND_bytes failed");
}

std::string base64(const std::uint8_t* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');  // EVP_EncodeBlock writes a NUL too
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// RFC 4648 section 5, without padding: safe in a cookie and a URL as is.
std::string base64url(const std::uint8_t* data, std::size_t size) {
  std::string out = base64(data, size);
  while (out.ends_with('=')) out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return out;
}

std::array<std::uint8_t, PasswordHash::kHashSize> pbkdf2(std::string_view password, const std::vector<std::uint8_t>& salt,
                                                       unsigned iterations) {
  std::array<std::uint8_t, PasswordHash::kHashSize> out{};
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(), static_cast<int>(salt.size()),
                        static_cast<int>(iterations), EVP_sha256(), static_cast<int>(out.size()), out.data()) != 1) {
    throw std::runtime_error("OpenSSL PKCS5_PBKDF2_HMAC failed");
  }
  return out;
}

// A name as it may be quoted in an error message: no control characters reach the log.
std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > 64) out += "...";
  return out;
}

}  // namespace

// EVP_DecodeBlock skips
// surrounding whitespace and counts padding as zero bytes, so the text is
// checked first, the padding taken off, and the result must encode back to
// the same text (no stray bits in the last character).
std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text, std::size_t max_bytes) {
  if (text.empty() || text.size() % 4 != 0 || text.size() / 4 * 3 > max_bytes + 2) return std::nullopt;
  const std::size_t padding = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
  const auto is_digit = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
  };
  if (!std::all_of(text.begin(), text.end() - static_cast<std::ptrdiff_t>(padding), is_digit)) return std::nullopt;
  std::vector<std::uint8_t> out(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) return std::nullopt;
  out.resize(out.size() - padding);
  if (out.size() > max_bytes || base64(out.data(), out.size()) != text) return std::nullopt;
  return out;
}

// ---- PasswordHash

PasswordHash PasswordHash::make(std::string_view password, unsigned iterations) {
  if (iterations < 1 || iterations > kMaxIterations) throw std::invalid_argument("PBKDF2 iterations out of range");
  PasswordHash h;
  h.iterations_ = iterations;
  h.salt_.resize(kSaltSize);
  random_bytes(h.salt_.data(), h.salt_.size());
  h.hash_ = pbkdf2(password, h.salt_, iterations);
  return h;
}

PasswordHash PasswordHash::unmatchable(unsigned iterations) {
  PasswordHash h;
  h.iterations_ = std::clamp(iterations, 1U, kMaxIterations);
  h.salt_.resize(kSaltSize);
  random_bytes(h.salt_.data(), h.salt_.size());
  random_bytes(h.hash_.data(), h.hash_.size());
  return h;
}

std::optional<PasswordHash> PasswordHash::parse(std::string_view encoded, const char** why) {
  const auto fail = [why](const char* reason) {
    if (why != nullptr) *why = reason;
    return std::nullopt;
  };
  // scheme $ iterations $ salt $ hash
  std::string_view parts[4];
  std::string_view rest = encoded;
  for (int i = 0; i < 3; ++i) {
    const auto dollar = rest.find('$');
    if (dollar == std::string_view::npos) {
      return fail("not of the form pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>");
    }
    parts[i] = rest.substr(0, dollar);
    rest.remove_prefix(dollar + 1);
  }
  parts[3] = rest;
  if (parts[0] != kScheme) return fail("the scheme is not pbkdf2-sha256");

  const std::string_view digits = parts[1];
  if (digits.empty() || digits.size() > 9 || (digits.size() > 1 && digits.front() == '0') ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return fail("the iteration count is not a number");
  }
  unsigned iterations = 0;
  for (const char c : digits) iterations = iterations * 10 + static_cast<unsigned>(c - '0');
  if (iterations < 1 || iterations > kMaxIterations) return fail("the iteration count is not 1..10000000");

  auto salt = decode_base64(parts[2]);
  if (!salt) return fail("the salt is not base64");
  if (salt->size() < kMinSaltSize || salt->size() > kMaxSaltSize) return fail("the salt is not 8..64 bytes");
  const auto hash = decode_base64(parts[3]);
  if (!hash) return fail("the hash is not base64");
  if (hash->size() != kHashSize) return fail("the hash is not 32 bytes");

  PasswordHash h;
  h.iterations_ = iterations;
  h.salt_ = std::move(*salt);
  std::copy(hash->begin(), hash->end(), h.hash_.begin());
  return h;
}

bool PasswordHash::verify(std::string_view password) const {
  const auto computed = pbkdf2(password, salt_, iterations_);
  return CRYPTO_memcmp(computed.data(), hash_.data(), hash_.size()) == 0;
}

std::string PasswordHash::encode() const {
  return std::string(kScheme) + "$" + std::to_string(iterations_) + "$" + base64(salt_.data(), salt_.size()) + "$" +
         base64(hash_.data(), hash_.size());
}

std::string hash_password(std::string_view password, unsigned iterations) {
  return PasswordHash::make(password, iterations).encode();
}

bool verify_password(std::string_view password, std::string_view encoded_hash) {
  const auto hash = PasswordHash::parse(encoded_hash);
  return hash && hash->verify(password);
}

// ---- User

bool User::may_hear(std::string_view device_id) const {
  return can_listen && (!devices || devices->contains(device_id));
}

// ---- Accounts

Accounts::Accounts() : dummy_(PasswordHash::unmatchable(kDefaultIterations)) {}

bool Accounts::is_valid_user_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxUserNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
         });
}

Accounts Accounts::load(const std::filesystem::path& file) {
  require_private_file(file, "users file");
  const std::string where = "users file " + file.string() + ": ";
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(where + "line " + std::to_string(e.source().begin.line) + ": " +
                             std::string(e.description()));
  }
  for (const auto& [key, value] : root) {
    if (key.str() != "users") {
      throw std::runtime_error(where + "unknown key '" + printable(key.str()) + "' (expected only [users.<name>] tables)");
    }
  }
  const toml::table* users = root["users"].as_table();
  if (users == nullptr) throw std::runtime_error(where + "no [users.<name>] tables");
  if (users->empty()) throw std::runtime_error(where + "no users");

  Accounts accounts;
  std::map<unsigned, std::size_t> iteration_counts;
  for (const auto& [key, value] : *users) {
    const std::string name(key.str());
    if (!is_valid_user_name(name)) {
      throw std::runtime_error(where + "user '" + printable(name) +
                               "': invalid user name (1..32 of A-Z a-z 0-9 . _ -)");
    }
    const std::string at = where + "user '" + name + "': ";
    const toml::table* entry = value.as_table();
    if (entry == nullptr) throw std::runtime_error(at + "not a table (write [users." + name + "])");
    for (const auto& [field, ignored] : *entry) {
      if (field.str() != "password" && field.str() != "roles" && field.str() != "devices") {
        throw std::runtime_error(at + "unknown key '" + printable(field.str()) +
                                 "' (expected password, roles, devices)");
      }
    }

    const auto encoded = (*entry)["password"].value<std::string>();
    if (!encoded) {
      throw std::runtime_error(at + "no password (a string made by: micstream-server hash-password)");
    }
    const char* why = "";
    auto hash = PasswordHash::parse(*encoded, &why);
    if (!hash) {
      throw std::runtime_error(at + "bad password hash: " + why + " (make one with: micstream-server hash-password)");
    }

    User user;
    user.name = name;
    const toml::array* roles = (*entry)["roles"].as_array();
    if (roles == nullptr) throw std::runtime_error(at + "no roles (an array of \"listen\", \"admin\")");
    for (const auto& role : *roles) {
      const auto text = role.value<std::string>();
      if (text == "listen") {
        user.can_listen = true;
      } else if (text == "admin") {
        user.can_admin = true;
      } else {
        throw std::runtime_error(at + "unknown role " + (text ? "'" + printable(*text) + "'" : "(not a string)") +
                                 " (expected \"listen\" or \"admin\")");
      }
    }
    if (const auto devices = (*entry)["devices"]; devices) {
      const toml::array* ids = devices.as_array();
      if (ids == nullptr) throw std::runtime_error(at + "devices is not an array of device ids");
      user.devices.emplace();
      for (const auto& id : *ids) {
        const auto text = id.value<std::string>();
        if (!text || !proto::is_valid_device_id(*text)) {
          throw std::runtime_error(at + "invalid device id " + (text ? "'" + printable(*text) + "'" : "(not a string)") +
                                   " (1..32 of A-Z a-z 0-9 . _ -)");
        }
        user.devices->insert(*text);
      }
    }

    ++iteration_counts[hash->iterations()];
    accounts.accounts_.emplace(name, Account{std::move(user), std::move(*hash)});
  }
  // The dummy costs what most users' hashes cost: an unknown name then looks like a typical user.
  const auto most = std::max_element(iteration_counts.begin(), iteration_counts.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
  accounts.dummy_ = PasswordHash::unmatchable(most->first);
  return accounts;
}

std::optional<User> Accounts::check_password(std::string_view name, std::string_view password) const {
  const auto it = accounts_.find(name);
  if (it == accounts_.end()) {
    // Same work as for a real user; the answer is no whatever the dummy says.
    static_cast<void>(dummy_.verify(password));
    return std::nullopt;
  }
  if (!it->second.hash.verify(password)) return std::nullopt;
  return it->second.user;
}

const User* Accounts::find(std::string_view name) const {
  const auto it = accounts_.find(name);
  return it == accounts_.end() ? nullptr : &it->second.user;
}

// ---- SessionStore

namespace {

std::array<std::uint8_t, 32> sha256(std::string_view text) {
  std::array<std::uint8_t, 32> out{};
  unsigned size = 0;
  if (EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha256(), nullptr) != 1 || size != out.size()) {
    throw std::runtime_error("OpenSSL EVP_Digest(SHA-256) failed");
  }
  return out;
}

}  // namespace

std::size_t SessionStore::KeyHash::operator()(const Key& key) const noexcept {
  // The key is a digest of a random token: any 8 of its bytes are already uniform.
  std::size_t h = 0;
  std::memcpy(&h, key.data(), sizeof h);
  return h;
}

SessionStore::SessionStore(std::function<SteadyClock::time_point()> now, std::size_t max_sessions)
    : now_(std::move(now)), max_sessions_(std::max<std::size_t>(max_sessions, 1)) {}

bool SessionStore::expired(const Session& session, SteadyClock::time_point now) const {
  return now - session.last_used >= kIdleTimeout || now - session.created >= kMaxLifetime;
}

void SessionStore::erase(Sessions::iterator it) {
  by_key_.erase(it->key);
  sessions_.erase(it);
}

std::string SessionStore::create(const User& user) {
  const auto now = now_();
  // Oldest first: drop those past their lifetime, then make room.
  while (!sessions_.empty() && now - sessions_.front().created >= kMaxLifetime) erase(sessions_.begin());
  while (sessions_.size() >= max_sessions_) erase(sessions_.begin());

  std::array<std::uint8_t, kTokenBytes> secret{};
  random_bytes(secret.data(), secret.size());
  std::string token = base64url(secret.data(), secret.size());
  OPENSSL_cleanse(secret.data(), secret.size());

  sessions_.push_back(Session{sha256(token), user, now, now});
  const auto it = std::prev(sessions_.end());
  if (!by_key_.emplace(it->key, it).second) {
    sessions_.pop_back();  // a 2^-256 collision
    throw std::runtime_error("session token collision");
  }
  return token;
}

const User* SessionStore::find(std::string_view token) {
  if (token.size() != kTokenLength) return nullptr;  // the length is no secret
  const auto found = by_key_.find(sha256(token));
  if (found == by_key_.end()) return nullptr;
  const auto now = now_();
  Session& session = *found->second;
  if (expired(session, now)) {
    erase(found->second);
    return nullptr;
  }
  session.last_used = now;
  return &session.user;
}

void SessionStore::remove(std::string_view token) {
  if (token.size() != kTokenLength) return;
  const auto found = by_key_.find(sha256(token));
  if (found != by_key_.end()) erase(found->second);
}

std::size_t SessionStore::remove_user(std::string_view name) {
  std::size_t removed = 0;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    const auto next = std::next(it);
    if (it->user.name == name) {
      erase(it);
      ++removed;
    }
    it = next;
  }
  return removed;
}

// ---- CredentialCache

CredentialCache::CredentialCache(std::function<SteadyClock::time_point()> now) : now_(std::move(now)) {
  random_bytes(salt_.data(), salt_.size());
}

CredentialCache::Key CredentialCache::key(std::string_view name, std::string_view password) const {
  std::string material(reinterpret_cast<const char*>(salt_.data()), salt_.size());
  material.append(name).push_back('\0');  // names hold no NUL: "a" + "b:c" never meets "a:b" + "c"
  material.append(password);
  const Key digest = sha256(material);
  OPENSSL_cleanse(material.data(), material.size());
  return digest;
}

const User* CredentialCache::find(std::string_view name, std::string_view password) {
  const auto it = entries_.find(key(name, password));
  if (it == entries_.end()) return nullptr;
  if (now_() - it->second.verified >= kLifetime) {
    entries_.erase(it);
    return nullptr;
  }
  return &it->second.user;
}

void CredentialCache::remember(std::string_view name, std::string_view password, const User& user) {
  const auto now = now_();
  if (entries_.size() >= kMaxEntries) {
    std::erase_if(entries_, [&](const auto& entry) { return now - entry.second.verified >= kLifetime; });
  }
  if (entries_.size() >= kMaxEntries) {
    entries_.erase(std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
      return a.second.verified < b.second.verified;
    }));
  }
  entries_.insert_or_assign(key(name, password), Entry{user, now});
}

// ---- hash-password

int run_hash_password(std::istream& in, std::ostream& out, std::ostream& err, unsigned iterations) {
  std::string password;
  if (!std::getline(in, password)) {
    err << "hash-password: no password given (type one line, or pipe it in)\n";
    return 1;
  }
  if (password.ends_with('\r')) password.pop_back();
  if (password.empty()) {
    err << "hash-password: the password is empty\n";
    return 1;
  }
  out << hash_password(password, iterations) << '\n';
  OPENSSL_cleanse(password.data(), password.size());
  return 0;
}

}  // namespace micstream::server
