#include "accounts.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "private_file.h"
#include "secrets.h"

namespace micstream::server {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Fast hashes for tests; one test checks the default on its own.
constexpr unsigned kTestIterations = 1000;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::path(::testing::TempDir()) / "accounts_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// Writes text to name with the given mode; returns the path.
  fs::path write(const std::string& name, const std::string& text, mode_t mode = 0600) const {
    const fs::path file = path_ / name;
    std::ofstream(file) << text;
    ::chmod(file.c_str(), mode);
    return file;
  }

 private:
  fs::path path_;
};

// The message of what load throws, or "" when it does not throw.
std::string load_error(const fs::path& file) {
  try {
    static_cast<void>(Accounts::load(file));
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

class AccountsFile : public ::testing::Test {
 protected:
  std::string alice_hash = hash_password("alice's password", kTestIterations);
  std::string bob_hash = hash_password("bob's password", kTestIterations);
  TempDir dir;

  std::string user(const std::string& name, const std::string& hash, const std::string& rest) const {
    return "[users." + name + "]\npassword = \"" + hash + "\"\n" + rest + "\n";
  }
  fs::path good_file() const {
    return dir.write("users.toml", user("alice", alice_hash, R"(roles = ["listen", "admin"])") +
                                       user("bob", bob_hash, R"(roles = ["listen"]
devices = ["kitchen", "garage"])"));
  }
};

TEST(PasswordHash, RoundTripsAndRefusesAWrongPassword) {
  const std::string hash = hash_password("correct horse", kTestIterations);
  EXPECT_TRUE(hash.starts_with("pbkdf2-sha256$1000$")) << hash;
  EXPECT_TRUE(verify_password("correct horse", hash));
  EXPECT_FALSE(verify_password("correct horse ", hash));
  EXPECT_FALSE(verify_password("", hash));
  EXPECT_FALSE(verify_password("Correct horse", hash));
}

TEST(PasswordHash, HasTheDocumentedShape) {
  const std::string hash = hash_password("pw", kTestIterations);
  // 16-byte salt: 24 base64 characters with "==", 32-byte hash: 44 with "=".
  const auto parts_start = std::string("pbkdf2-sha256$1000$").size();
  const std::string salt = hash.substr(parts_start, hash.find('$', parts_start) - parts_start);
  const std::string digest = hash.substr(hash.rfind('$') + 1);
  EXPECT_EQ(salt.size(), 24u);
  EXPECT_TRUE(salt.ends_with("=="));
  EXPECT_EQ(digest.size(), 44u);
  EXPECT_TRUE(digest.ends_with('='));
  // Fresh salt each time.
  EXPECT_NE(hash, hash_password("pw", kTestIterations));
  // encode() gives back what parse() read.
  const auto parsed = PasswordHash::parse(hash);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->encode(), hash);
  EXPECT_EQ(parsed->iterations(), kTestIterations);
}

TEST(PasswordHash, MatchesAKnownVector) {
  // PBKDF2-HMAC-SHA256("password", "saltsaltsaltsalt", 1000), computed independently with Python's hashlib.
  EXPECT_TRUE(verify_password("password",
                              "pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA==$"
                              "8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA="));
}

TEST(PasswordHash, RefusesATamperedHash) {
  const std::string hash = hash_password("pw", kTestIterations);
  ASSERT_TRUE(verify_password("pw", hash));
  const std::size_t salt_at = std::string("pbkdf2-sha256$1000$").size();
  const std::size_t hash_at = hash.rfind('$') + 1;
  for (const std::size_t at : {salt_at, salt_at + 5, hash_at, hash_at + 20}) {
    std::string tampered = hash;
    tampered[at] = tampered[at] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(verify_password("pw", tampered)) << tampered;
  }
  std::string fewer_rounds = hash;
  fewer_rounds.replace(fewer_rounds.find("$1000$"), 6, "$999$");
  EXPECT_FALSE(verify_password("pw", fewer_rounds));
}

TEST(PasswordHash, ParseNamesWhatIsWrong) {
  const std::string salt = "c2FsdHNhbHRzYWx0c2FsdA==";
  const std::string digest = "8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA=";
  const struct {
    std::string encoded;
    std::string reason;
  } cases[] = {
      {"", "not of the form"},
      {"plaintext", "not of the form"},
      {"pbkdf2-sha256$1000$" + salt, "not of the form"},
      {"pbkdf2-sha1$1000$" + salt + "$" + digest, "scheme"},
      {"bcrypt$1000$" + salt + "$" + digest, "scheme"},
      {"pbkdf2-sha256$$" + salt + "$" + digest, "iteration count is not a number"},
      {"pbkdf2-sha256$-1$" + salt + "$" + digest, "iteration count is not a number"},
      {"pbkdf2-sha256$01000$" + salt + "$" + digest, "iteration count is not a number"},
      {"pbkdf2-sha256$0$" + salt + "$" + digest, "iteration count is not 1..10000000"},
      {"pbkdf2-sha256$10000001$" + salt + "$" + digest, "iteration count is not 1..10000000"},
      {"pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA$" + digest, "salt is not base64"},  // no padding
      {"pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdB==$" + digest, "salt is not base64"},  // stray bits
      {"pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2Fs dA=$" + digest, "salt is not base64"},
      {"pbkdf2-sha256$1000$c2FsdA==$" + digest, "salt is not 8..64 bytes"},
      {"pbkdf2-sha256$1000$" + salt + "$8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA-", "hash is not base64"},
      {"pbkdf2-sha256$1000$" + salt + "$" + salt, "hash is not 32 bytes"},
      {"pbkdf2-sha256$1000$" + salt + "$" + digest + "$", "hash is not base64"},
  };
  for (const auto& c : cases) {
    const char* why = "";
    EXPECT_FALSE(PasswordHash::parse(c.encoded, &why)) << c.encoded;
    EXPECT_NE(std::string(why).find(c.reason), std::string::npos) << c.encoded << ": " << why;
  }
}

TEST(PasswordHash, DefaultIterationsRoundTrip) {
  const auto start = std::chrono::steady_clock::now();
  const std::string hash = hash_password("a real password");
  const auto hashed = std::chrono::steady_clock::now();
  EXPECT_TRUE(hash.starts_with("pbkdf2-sha256$600000$")) << hash;
  EXPECT_TRUE(verify_password("a real password", hash));
  const auto verified = std::chrono::steady_clock::now();
  EXPECT_FALSE(verify_password("a real passworD", hash));
  const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  RecordProperty("hash_ms", std::to_string(ms(hashed - start)));
  RecordProperty("verify_ms", std::to_string(ms(verified - hashed)));
}

TEST_F(AccountsFile, LoadsUsersRolesAndDevices) {
  const Accounts accounts = Accounts::load(good_file());
  EXPECT_EQ(accounts.size(), 2u);

  const User* alice = accounts.find("alice");
  ASSERT_NE(alice, nullptr);
  EXPECT_TRUE(alice->can_listen);
  EXPECT_TRUE(alice->can_admin);
  EXPECT_FALSE(alice->devices.has_value());
  EXPECT_TRUE(alice->may_hear("kitchen"));
  EXPECT_TRUE(alice->may_hear("anything-else"));

  const User* bob = accounts.find("bob");
  ASSERT_NE(bob, nullptr);
  EXPECT_TRUE(bob->can_listen);
  EXPECT_FALSE(bob->can_admin);
  EXPECT_TRUE(bob->may_hear("kitchen"));
  EXPECT_TRUE(bob->may_hear("garage"));
  EXPECT_FALSE(bob->may_hear("bedroom"));
  EXPECT_FALSE(bob->may_hear("Kitchen"));
  EXPECT_FALSE(bob->may_hear(""));

  EXPECT_EQ(accounts.find("carol"), nullptr);
}

TEST_F(AccountsFile, ChecksPasswords) {
  const Accounts accounts = Accounts::load(good_file());
  const auto alice = accounts.check_password("alice", "alice's password");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->name, "alice");
  EXPECT_TRUE(alice->can_admin);

  EXPECT_FALSE(accounts.check_password("alice", "bob's password"));
  EXPECT_FALSE(accounts.check_password("bob", "alice's password"));
  EXPECT_FALSE(accounts.check_password("alice", ""));
  EXPECT_FALSE(accounts.check_password("Alice", "alice's password"));
  EXPECT_FALSE(accounts.check_password("carol", "alice's password"));
  EXPECT_FALSE(accounts.check_password("", ""));
  EXPECT_TRUE(accounts.check_password("bob", "bob's password"));
}

TEST(Accounts, EmptyRefusesEveryone) {
  const Accounts accounts;
  EXPECT_EQ(accounts.size(), 0u);
  EXPECT_FALSE(accounts.check_password("alice", "x"));
}

TEST_F(AccountsFile, UnknownUserTakesAsLongAsAKnownOne) {
  // The dummy hash for unknown names has the users' iteration count. Were
  // there none, an unknown name would answer ~at once; were it the default
  // (600000) it would take 20 times longer than these 30000-iteration users.
  // The bounds are loose (4x) because the machine may be busy: the best of
  // interleaved runs is compared.
  const std::string slow = hash_password("pw", 30'000);
  const Accounts accounts = Accounts::load(dir.write("slow.toml", user("alice", slow, R"(roles = ["listen"])")));
  using Duration = std::chrono::steady_clock::duration;
  const auto time = [&](const char* name, Duration& best) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(accounts.check_password(name, "wrong"));
    best = std::min(best, std::chrono::steady_clock::now() - start);
  };
  Duration known = Duration::max();
  Duration unknown = Duration::max();
  for (int i = 0; i < 5; ++i) {
    time("alice", known);
    time("nobody", unknown);
  }
  EXPECT_GT(unknown, known / 4);
  EXPECT_LT(unknown, known * 4);
}

TEST_F(AccountsFile, RefusesAFileOthersCanRead) {
  const fs::path file = good_file();
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  const std::string error = load_error(file);
  EXPECT_NE(error.find(file.string()), std::string::npos) << error;
  EXPECT_NE(error.find("mode 0644"), std::string::npos) << error;
  EXPECT_NE(error.find("chmod 600 " + file.string()), std::string::npos) << error;

  for (const mode_t mode : {0640, 0604, 0620, 0602, 0660, 0601}) {
    ASSERT_EQ(::chmod(file.c_str(), mode), 0);
    EXPECT_NE(load_error(file).find("group or others"), std::string::npos) << std::oct << mode;
  }
  for (const mode_t mode : {0600, 0400}) {
    ASSERT_EQ(::chmod(file.c_str(), mode), 0);
    EXPECT_EQ(load_error(file), "") << std::oct << mode;
  }
}

TEST(PrivateFile, NamesMissingFilesAndDirectories) {
  TempDir dir;
  const fs::path missing = dir.write("x", "") / "nope";
  try {
    require_private_file(missing, "users file");
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("users file " + missing.string()), std::string::npos) << e.what();
  }
  try {
    require_private_file(::testing::TempDir(), "users file");
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
  // A path the shell would split is quoted in the suggested command.
  const fs::path spaced = dir.write("my users.toml", "", 0644);
  try {
    require_private_file(spaced, "users file");
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("chmod 600 '" + spaced.string() + "'"), std::string::npos) << e.what();
  }
}

TEST(PrivateFile, AppliesToTheSecretsFile) {
  TempDir dir;
  const fs::path file = dir.write("secrets.toml", "[devices]\nkitchen = \"s3cret\"\n", 0644);
  try {
    static_cast<void>(Secrets::load(file));
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("secrets file " + file.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
  }
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  EXPECT_EQ(Secrets::load(file).size(), 1u);
}

TEST(SecretsFile, AnUnquotedIdWithADotIsRefusedWithTheFix) {
  TempDir dir;
  const fs::path file = dir.write("secrets.toml", "[devices]\nmic.01 = \"s3cret\"\n", 0600);
  try {
    static_cast<void>(Secrets::load(file));
    ADD_FAILURE() << "a dotted key is a table, not the device mic.01";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("quote an id with a dot"), std::string::npos) << e.what();
  }
  const fs::path quoted = dir.write("quoted.toml", "[devices]\n\"mic.01\" = \"s3cret\"\n", 0600);
  const Secrets secrets = Secrets::load(quoted);
  ASSERT_NE(secrets.find("mic.01"), nullptr);
  EXPECT_EQ(*secrets.find("mic.01"), "s3cret");
}

TEST_F(AccountsFile, EachErrorNamesTheFileTheUserAndTheProblem) {
  const std::string listen = R"(roles = ["listen"])";
  const struct {
    std::string text;
    std::string user;  // "" when the error is not about one user
    std::string problem;
  } cases[] = {
      {"[users.alice\npassword = 1", "", "line 1"},
      {"", "", "no [users.<name>] tables"},
      {"[users]\n", "", "no users"},
      {"users = 3\n", "", "no [users.<name>] tables"},
      {"[groups.x]\n" + user("alice", alice_hash, listen), "", "unknown key 'groups'"},
      {user("\"al ice\"", alice_hash, listen), "al ice", "invalid user name"},
      {user("\"\"", alice_hash, listen), "", "user '': invalid user name"},
      {user(std::string(33, 'a'), alice_hash, listen), std::string(33, 'a'), "invalid user name"},
      {user("\"al/ice\"", alice_hash, listen), "al/ice", "invalid user name"},
      {"[users]\nalice = \"pw\"\n", "alice", "not a table"},
      {"[users.alice]\nroles = [\"listen\"]\n", "alice", "no password"},
      {user("alice", "hunter2", listen), "alice", "bad password hash: not of the form"},
      {user("alice", "pbkdf2-sha1$1$c2FsdHNhbHRzYWx0c2FsdA==$c2FsdHNhbHRzYWx0c2FsdA==", listen), "alice",
       "bad password hash: the scheme"},
      {"[users.alice]\npassword = 5\nroles = []\n", "alice", "no password"},
      {user("alice", alice_hash, ""), "alice", "no roles"},
      {user("alice", alice_hash, "roles = \"listen\""), "alice", "no roles"},
      {user("alice", alice_hash, R"(roles = ["listen", "root"])"), "alice", "unknown role 'root'"},
      {user("alice", alice_hash, R"(roles = ["Admin"])"), "alice", "unknown role 'Admin'"},
      {user("alice", alice_hash, R"(roles = [1])"), "alice", "unknown role (not a string)"},
      {user("alice", alice_hash, listen + "\ndevices = \"kitchen\""), "alice", "devices is not an array"},
      {user("alice", alice_hash, listen + "\ndevices = [\"kit chen\"]"), "alice", "invalid device id 'kit chen'"},
      {user("alice", alice_hash, listen + "\ndevices = [\"\"]"), "alice", "invalid device id ''"},
      {user("alice", alice_hash, listen + "\ndevices = [\"" + std::string(33, 'k') + "\"]"), "alice",
       "invalid device id"},
      {user("alice", alice_hash, listen + "\ndevices = [7]"), "alice", "invalid device id (not a string)"},
      {user("alice", alice_hash, listen + "\nrole = [\"admin\"]"), "alice", "unknown key 'role'"},
      {user("alice", alice_hash, listen) + user("bob", "x", listen), "bob", "bad password hash"},
  };
  for (const auto& c : cases) {
    const fs::path file = dir.write("bad.toml", c.text);
    const std::string error = load_error(file);
    SCOPED_TRACE(c.text);
    EXPECT_NE(error.find("users file " + file.string() + ": "), std::string::npos) << error;
    if (!c.user.empty()) {
      EXPECT_NE(error.find("user '" + c.user + "'"), std::string::npos) << error;
    }
    EXPECT_NE(error.find(c.problem), std::string::npos) << error;
  }
}

TEST_F(AccountsFile, AcceptsEdgeCases) {
  const std::string longest(32, 'z');
  const fs::path file = dir.write(
      "edge.toml", user("\"a.b_c-D9\"", alice_hash, "roles = []") + user(longest, bob_hash, R"(roles = ["admin"]
devices = [])") + user("carol", bob_hash, R"(roles = ["listen", "listen"]
devices = ["mic.01", "mic_02", "mic-03"])"));
  const Accounts accounts = Accounts::load(file);
  ASSERT_EQ(accounts.size(), 3u);
  // No roles: a disabled account; the password still checks, the user may do nothing.
  const auto disabled = accounts.check_password("a.b_c-D9", "alice's password");
  ASSERT_TRUE(disabled);
  EXPECT_FALSE(disabled->can_listen);
  EXPECT_FALSE(disabled->can_admin);
  EXPECT_FALSE(disabled->may_hear("kitchen"));
  // Admin alone does not listen; an empty device list hears nothing.
  const User* admin = accounts.find(longest);
  ASSERT_NE(admin, nullptr);
  EXPECT_TRUE(admin->can_admin);
  EXPECT_FALSE(admin->may_hear("kitchen"));
  const User* carol = accounts.find("carol");
  ASSERT_NE(carol, nullptr);
  EXPECT_TRUE(carol->may_hear("mic_02"));
  EXPECT_FALSE(carol->may_hear("mic-04"));
}

TEST(User, MayHearNeedsTheListenRole) {
  User user{"u", false, false, std::nullopt};
  EXPECT_FALSE(user.may_hear("kitchen"));
  user.can_listen = true;
  EXPECT_TRUE(user.may_hear("kitchen"));
  user.devices.emplace();
  EXPECT_FALSE(user.may_hear("kitchen"));
  user.devices->insert("kitchen");
  EXPECT_TRUE(user.may_hear("kitchen"));
  EXPECT_FALSE(user.may_hear("garage"));
}

// ---- sessions

class FakeClock {
 public:
  SteadyClock::time_point now() const { return now_; }
  void advance(SteadyClock::duration d) { now_ += d; }
  std::function<SteadyClock::time_point()> function() {
    return [this] { return now_; };
  }

 private:
  SteadyClock::time_point now_ = SteadyClock::time_point{} + 1000h;
};

User listener(const std::string& name) { return User{name, true, false, std::nullopt}; }

TEST(SessionStore, CreatesRandomTokensThatFindTheirUser) {
  FakeClock clock;
  SessionStore store(clock.function());
  const std::string a = store.create(listener("alice"));
  const std::string b = store.create(listener("bob"));
  EXPECT_NE(a, b);
  for (const std::string& token : {a, b}) {
    EXPECT_EQ(token.size(), SessionStore::kTokenLength);
    EXPECT_EQ(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos)
        << token;
  }
  const User* alice = store.find(a);
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->name, "alice");
  ASSERT_NE(store.find(b), nullptr);
  EXPECT_EQ(store.find(b)->name, "bob");
  EXPECT_EQ(store.size(), 2u);

  EXPECT_EQ(store.find(""), nullptr);
  EXPECT_EQ(store.find(a.substr(1)), nullptr);
  std::string altered = a;
  altered[10] = altered[10] == 'A' ? 'B' : 'A';
  EXPECT_EQ(store.find(altered), nullptr);
}

TEST(SessionStore, ExpiresWhenIdle) {
  FakeClock clock;
  SessionStore store(clock.function());
  const std::string token = store.create(listener("alice"));
  clock.advance(SessionStore::kIdleTimeout - 1s);
  ASSERT_NE(store.find(token), nullptr);  // use resets the idle time
  clock.advance(SessionStore::kIdleTimeout - 1s);
  ASSERT_NE(store.find(token), nullptr);
  clock.advance(SessionStore::kIdleTimeout);
  EXPECT_EQ(store.find(token), nullptr);
  EXPECT_EQ(store.size(), 0u);
}

TEST(SessionStore, ExpiresAfterItsLifetimeHoweverUsed) {
  FakeClock clock;
  SessionStore store(clock.function());
  const std::string token = store.create(listener("alice"));
  auto lived = SteadyClock::duration::zero();
  while (lived + 1h < SessionStore::kMaxLifetime) {
    ASSERT_NE(store.find(token), nullptr) << std::chrono::duration_cast<std::chrono::hours>(lived).count();
    clock.advance(1h);
    lived += 1h;
  }
  ASSERT_NE(store.find(token), nullptr);
  clock.advance(1h);
  EXPECT_EQ(store.find(token), nullptr);
}

TEST(SessionStore, RemovesOneTokenOrAUsersEveryToken) {
  FakeClock clock;
  SessionStore store(clock.function());
  const std::string a1 = store.create(listener("alice"));
  const std::string a2 = store.create(listener("alice"));
  const std::string b = store.create(listener("bob"));
  store.remove(a1);
  EXPECT_EQ(store.find(a1), nullptr);
  EXPECT_NE(store.find(a2), nullptr);
  store.remove(a1);  // twice is harmless
  store.remove("not a token");
  const std::string a3 = store.create(listener("alice"));
  EXPECT_EQ(store.remove_user("alice"), 2u);
  EXPECT_EQ(store.find(a2), nullptr);
  EXPECT_EQ(store.find(a3), nullptr);
  EXPECT_NE(store.find(b), nullptr);
  EXPECT_EQ(store.remove_user("alice"), 0u);
  EXPECT_EQ(store.size(), 1u);
}

TEST(SessionStore, IsBoundedAndDropsTheOldest) {
  FakeClock clock;
  SessionStore store(clock.function(), 3);
  const std::string first = store.create(listener("u1"));
  clock.advance(1s);
  const std::string second = store.create(listener("u2"));
  clock.advance(1s);
  const std::string third = store.create(listener("u3"));
  ASSERT_NE(store.find(first), nullptr);  // recently used, but still the oldest created
  const std::string fourth = store.create(listener("u4"));
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.find(first), nullptr);
  EXPECT_NE(store.find(second), nullptr);
  EXPECT_NE(store.find(third), nullptr);
  EXPECT_NE(store.find(fourth), nullptr);
}

TEST(SessionStore, DefaultBoundHolds) {
  FakeClock clock;
  SessionStore store(clock.function());
  std::string first;
  for (std::size_t i = 0; i < SessionStore::kMaxSessions + 10; ++i) {
    std::string token = store.create(listener("u"));
    if (i == 0) first = token;
  }
  EXPECT_EQ(store.size(), SessionStore::kMaxSessions);
  EXPECT_EQ(store.find(first), nullptr);
}

TEST(SessionStore, CreateDropsSessionsPastTheirLifetime) {
  FakeClock clock;
  SessionStore store(clock.function());
  static_cast<void>(store.create(listener("old")));
  clock.advance(SessionStore::kMaxLifetime);
  static_cast<void>(store.create(listener("new")));
  EXPECT_EQ(store.size(), 1u);
}

// ---- hash-password

TEST(HashPasswordCommand, PrintsAHashOfTheLine) {
  std::istringstream in("s3cret pass\nignored\n");
  std::ostringstream out, err;
  EXPECT_EQ(run_hash_password(in, out, err, kTestIterations), 0);
  EXPECT_EQ(err.str(), "");
  const std::string line = out.str();
  ASSERT_TRUE(line.ends_with('\n'));
  EXPECT_TRUE(verify_password("s3cret pass", line.substr(0, line.size() - 1))) << line;
}

TEST(HashPasswordCommand, TakesOffACarriageReturnAndANoNewlineLine) {
  for (const char* input : {"pw\r\n", "pw"}) {
    std::istringstream in(input);
    std::ostringstream out, err;
    EXPECT_EQ(run_hash_password(in, out, err, kTestIterations), 0);
    EXPECT_TRUE(verify_password("pw", out.str().substr(0, out.str().size() - 1)));
  }
}

TEST(HashPasswordCommand, RefusesNoPassword) {
  for (const char* input : {"", "\n", "\r\n"}) {
    std::istringstream in(input);
    std::ostringstream out, err;
    EXPECT_EQ(run_hash_password(in, out, err, kTestIterations), 1);
    EXPECT_EQ(out.str(), "");
    EXPECT_NE(err.str(), "");
  }
}

}  // namespace
}  // namespace micstream::server
