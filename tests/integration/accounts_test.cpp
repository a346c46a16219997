// Accounts against the real server: who may call each endpoint of the HTTP
// port, the login and its cookie, Basic credentials for tools, roles and
// per-device rights, the limit on failed logins, and password checks that
// never hold up the event loop. The users file is made with the server's own
// `hash-password`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <future>
#include <thread>

#include "harness.h"
#include "http_stream_reader.h"
#include "test_device.h"
#include "ws_listener.h"

#ifndef MICSTREAM_SERVER_BINARY
#error "MICSTREAM_SERVER_BINARY must name the micstream-server executable"
#endif

namespace micstream::itest {
namespace {

namespace fs = std::filesystem;

constexpr const char* kKitchenSecret = "kitchen-secret";
constexpr const char* kGarageSecret = "garage-secret";
constexpr unsigned kFastIterations = 2000;  // the tests log in often; one user keeps the default cost

/// `micstream-server hash-password`, fed the password on stdin.
std::string hash_password(const std::string& password, unsigned iterations = 0) {
  std::string command = "printf '%s\\n' '" + password + "' | '" + MICSTREAM_SERVER_BINARY + "' hash-password";
  if (iterations != 0) command += " --iterations " + std::to_string(iterations);
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed");
  std::string out;
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  if (::pclose(pipe) != 0) throw std::runtime_error("hash-password failed: " + out);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string base64(std::string_view text) {
  static constexpr char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, text.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k) v = (v << 8) | (k < n ? static_cast<unsigned char>(text[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k) out += k <= n ? kDigits[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

std::string basic(std::string_view user, std::string_view password) {
  return "Basic " + base64(std::string(user) + ":" + std::string(password));
}

class AccountsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    users_toml_ = new std::string(
        "[users.alice]\npassword = \"" + hash_password("alice-password", kFastIterations) +
        "\"\nroles = [\"listen\", \"admin\"]\n\n"
        "[users.bob]\npassword = \"" + hash_password("bob-password", kFastIterations) +
        "\"\nroles = [\"listen\"]\ndevices = [\"kitchen\"]\n\n"
        "[users.carol]\npassword = \"" + hash_password("carol-password") + "\"\nroles = [\"listen\"]\n");
  }
  static void TearDownTestSuite() {
    delete users_toml_;
    users_toml_ = nullptr;
  }

  void SetUp() override {
    const fs::path users = dir_.path() / "users.toml";
    write_file(users, *users_toml_);
    fs::permissions(users, fs::perms::owner_read | fs::perms::owner_write);
    ServerOptions o;
    o.binary = MICSTREAM_SERVER_BINARY;
    o.secrets = {{"kitchen", kKitchenSecret}, {"garage", kGarageSecret}};
    o.args = {"--users", users.string()};
    server_ = std::make_unique<ServerProcess>(o);
  }
  void TearDown() override {
    if (!server_) return;
    EXPECT_EQ(server_->terminate(5s), std::optional<int>(0));
    if (HasFailure()) std::cerr << "---- server log:\n" << server_->log_tail(8000) << "---- end\n";
  }

  [[nodiscard]] std::uint16_t port() const { return server_->http_port(); }
  [[nodiscard]] std::string origin() const { return "http://127.0.0.1:" + std::to_string(port()); }

  HttpResponse request(std::string method, std::string target, std::map<std::string, std::string> headers = {},
                       std::string body = {}, Millis timeout = 10s) const {
    if (!body.empty() || method == "POST") {
      headers.emplace("Content-Type", "application/json");
      headers.emplace("Origin", origin());
    }
    return http_request(port(), HttpRequest{std::move(method), std::move(target), std::move(headers), std::move(body)},
                        timeout);
  }
  HttpResponse login(const std::string& user, const std::string& password) const {
    return request("POST", "/api/login", {}, nlohmann::json{{"user", user}, {"password", password}}.dump());
  }
  /// The session cookie ("micstream_session=...") of a successful login.
  std::string cookie_of(const std::string& user, const std::string& password) const {
    const auto r = login(user, password);
    EXPECT_EQ(r.status, 200) << r.body;
    const std::string set_cookie = r.headers.count("set-cookie") ? r.headers.at("set-cookie") : "";
    return set_cookie.substr(0, set_cookie.find(';'));
  }
  /// A device of the secrets file, connected and sending audio in the background.
  std::unique_ptr<TestDevice> connect_device(const std::string& id, const std::string& secret) {
    auto device = std::make_unique<TestDevice>(server_->ingest_port());
    DeviceParams params;
    params.id = id;
    params.secret = secret;
    device->handshake(params);
    return device;
  }

  TempDir dir_{"micstream-accounts"};
  std::unique_ptr<ServerProcess> server_;
  static std::string* users_toml_;
};

std::string* AccountsTest::users_toml_ = nullptr;

/// The raw answer to a WebSocket upgrade of /ws (101 or a refusal).
HttpResponse upgrade(std::uint16_t port, std::map<std::string, std::string> headers) {
  headers.emplace("Connection", "Upgrade");
  headers.emplace("Upgrade", "websocket");
  headers.emplace("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  headers.emplace("Sec-WebSocket-Version", "13");
  return http_request(port, HttpRequest{"GET", "/ws", std::move(headers), {}}, 3s);
}

TEST_F(AccountsTest, EveryProtectedEndpointNeedsALogin) {
  // Open to anyone: the page itself, health, who-am-I, the login.
  EXPECT_EQ(request("GET", "/").status, 200);
  EXPECT_EQ(request("GET", "/api/health").status, 200);
  // The rest: 401, with the Basic challenge for tools but not for the page's own fetches.
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/api/devices"}, {"GET", "/metrics"}, {"GET", "/api/session"}, {"POST", "/api/devices/kitchen/config"},
           {"GET", "/stream/kitchen.wav"}, {"GET", "/stream/kitchen.opus"}}) {
    const auto r = request(method, target, {}, method == "POST" ? R"({"gain_db": 40})" : "");
    EXPECT_EQ(r.status, 401) << method << " " << target << ": " << r.body;
    EXPECT_TRUE(r.headers.count("www-authenticate")) << target;
    EXPECT_TRUE(contains(r.body, "log in")) << r.body;
  }
  const auto from_page = request("GET", "/api/devices", {{"Sec-Fetch-Mode", "cors"}});
  EXPECT_EQ(from_page.status, 401);
  EXPECT_FALSE(from_page.headers.count("www-authenticate")) << "the page's fetch would pop a password dialog";
  EXPECT_EQ(upgrade(port(), {{"Origin", origin()}}).status, 401);
  EXPECT_THROW(WsListener(port(), ListenerOptions{}), std::exception);
  // A made-up session is refused, and told to log in again.
  const auto forged = request("GET", "/api/devices", {{"Cookie", "micstream_session=" + std::string(43, 'A')}});
  EXPECT_EQ(forged.status, 401);
  EXPECT_TRUE(contains(forged.body, "log in again")) << forged.body;
}

TEST_F(AccountsTest, LoginSetsAStrictHttpOnlyCookieThatOpensTheStream) {
  auto device = connect_device("kitchen", kKitchenSecret);
  EXPECT_EQ(login("alice", "wrong").status, 401);
  EXPECT_EQ(login("nobody", "alice-password").status, 401);
  const auto r = login("alice", "alice-password");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string set_cookie = r.headers.at("set-cookie");
  EXPECT_TRUE(contains(set_cookie, "HttpOnly")) << set_cookie;
  EXPECT_TRUE(contains(set_cookie, "SameSite=Strict")) << set_cookie;
  EXPECT_TRUE(contains(set_cookie, "Path=/")) << set_cookie;
  const auto answer = nlohmann::json::parse(r.body);
  EXPECT_EQ(answer["user"], "alice");
  EXPECT_EQ(answer["admin"], true);
  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));

  const auto session = request("GET", "/api/session", {{"Cookie", cookie}});
  EXPECT_EQ(session.status, 200);
  EXPECT_EQ(nlohmann::json::parse(session.body)["user"], "alice");

  ListenerOptions o;
  o.target = "/ws?device=kitchen";
  o.headers = {{"Cookie", cookie}, {"Origin", origin()}};
  WsListener listener(port(), o);
  DeviceParams params;
  params.id = "kitchen";
  stream_audio(*device, params, StreamSpec{.frames = 10});
  EXPECT_TRUE(listener.wait_audio_count(5, 5s)) << "no audio reached the logged-in listener";

  // Logged out: the cookie opens nothing any more.
  EXPECT_EQ(request("POST", "/api/logout", {{"Cookie", cookie}}, "{}").status, 200);
  EXPECT_EQ(request("GET", "/api/devices", {{"Cookie", cookie}}).status, 401);
  EXPECT_EQ(upgrade(port(), {{"Cookie", cookie}, {"Origin", origin()}}).status, 401);
}

TEST_F(AccountsTest, ALoginFromAnotherSiteIsRefused) {
  const auto r = http_request(port(), HttpRequest{"POST", "/api/login",
                                                  {{"Content-Type", "application/json"}, {"Origin", "http://evil.example"}},
                                                  R"({"user": "alice", "password": "alice-password"})"});
  EXPECT_EQ(r.status, 403);
  EXPECT_FALSE(r.headers.count("set-cookie"));
}

TEST_F(AccountsTest, RolesAndDeviceRightsAreEnforced) {
  auto kitchen = connect_device("kitchen", kKitchenSecret);
  auto garage = connect_device("garage", kGarageSecret);
  const std::string bob = cookie_of("bob", "bob-password");
  const std::string alice = cookie_of("alice", "alice-password");

  // bob listens to the kitchen only: the garage is not even named to him.
  const auto devices = request("GET", "/api/devices", {{"Cookie", bob}});
  ASSERT_EQ(devices.status, 200);
  const auto list = nlohmann::json::parse(devices.body);
  ASSERT_EQ(list.size(), 1u) << devices.body;
  EXPECT_EQ(list[0]["id"], "kitchen");
  EXPECT_EQ(nlohmann::json::parse(request("GET", "/api/devices", {{"Cookie", alice}}).body).size(), 2u);

  ListenerOptions o;
  o.headers = {{"Cookie", bob}, {"Origin", origin()}};
  WsListener listener(port(), o);
  const auto first = listener.wait_text("devices", 3s);
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)["devices"].size(), 1u) << first->dump();
  ASSERT_TRUE(listener.send_text(R"({"type": "subscribe", "device": "garage"})"));
  const auto refused = listener.wait_text("error", 3s);
  ASSERT_TRUE(refused);
  EXPECT_TRUE(contains((*refused)["message"].get<std::string>(), "no device garage")) << refused->dump();
  // The same for the standard streams, with a tool's Basic credentials.
  const std::string bob_basic = basic("bob", "bob-password");
  const auto garage_stream = request("GET", "/stream/garage.wav", {{"Authorization", bob_basic}});
  EXPECT_EQ(garage_stream.status, 404) << garage_stream.body;
  HttpStreamReader kitchen_stream(port(), "/stream/kitchen.opus", {{"Authorization", bob_basic}});
  EXPECT_EQ(kitchen_stream.status(), 200);
  EXPECT_TRUE(kitchen_stream.read_body(4, 3s));
  EXPECT_EQ(kitchen_stream.body().substr(0, 4), "OggS");

  // Listening is not administering.
  EXPECT_EQ(request("GET", "/metrics", {{"Cookie", bob}}).status, 403);
  EXPECT_EQ(request("POST", "/api/devices/kitchen/config", {{"Cookie", bob}}, R"({"gain_db": 40})").status, 403);
  const auto changed = request("POST", "/api/devices/kitchen/config", {{"Cookie", alice}}, R"({"gain_db": 6})");
  EXPECT_EQ(changed.status, 200) << changed.body;
  EXPECT_EQ(request("GET", "/metrics", {{"Cookie", alice}}).status, 200);
}

TEST_F(AccountsTest, BasicCredentialsServeTools) {
  const auto metrics = request("GET", "/metrics", {{"Authorization", basic("alice", "alice-password")}});
  EXPECT_EQ(metrics.status, 200);
  EXPECT_TRUE(contains(metrics.body, "micstream_")) << metrics.body.substr(0, 200);
  // Remembered after the first check: the same again is answered too.
  EXPECT_EQ(request("GET", "/metrics", {{"Authorization", basic("alice", "alice-password")}}).status, 200);
  EXPECT_EQ(request("GET", "/metrics", {{"Authorization", basic("alice", "alice-passwor")}}).status, 401);
  EXPECT_EQ(request("GET", "/metrics", {{"Authorization", "Basic !!!not-base64"}}).status, 401);
  EXPECT_EQ(request("GET", "/metrics", {{"Authorization", basic("bob", "bob-password")}}).status, 403);
}

TEST_F(AccountsTest, FailedLoginsAreLimitedPerAddressWhileAudioFlows) {
  auto device = connect_device("kitchen", kKitchenSecret);
  ListenerOptions o;
  o.target = "/ws?device=kitchen";
  o.headers = {{"Cookie", cookie_of("alice", "alice-password")}, {"Origin", origin()}};
  WsListener listener(port(), o);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(login("alice", "guess-" + std::to_string(i)).status, 401) << i;
  // Now even the right password is turned away, before any check, for a while.
  const auto limited = login("alice", "alice-password");
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(limited.headers.count("retry-after"), 1u);
  EXPECT_EQ(request("GET", "/metrics", {{"Authorization", basic("bob", "guess")}}).status, 429);
  // The listener already in hears on.
  DeviceParams params;
  params.id = "kitchen";
  stream_audio(*device, params, StreamSpec{.frames = 10});
  EXPECT_TRUE(listener.wait_audio_count(5, 5s));
  const auto lines = server_->log_lines();
  const auto warnings = std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
    return contains(l, "wrong password for user 'alice'");
  });
  EXPECT_EQ(warnings, 10) << "each failure is logged (within the log budget)";
}

// carol's hash has the default cost: her logins take long enough to see that
// the server answers everything else while they are checked.
TEST_F(AccountsTest, PasswordChecksNeverHoldUpTheServer) {
  std::vector<std::future<std::int64_t>> logins;
  for (int i = 0; i < 4; ++i) {
    logins.push_back(std::async(std::launch::async, [this] {
      EXPECT_EQ(login("carol", "carol-password").status, 200);
      return steady_us();
    }));
  }
  std::this_thread::sleep_for(50ms);  // the logins are in
  const auto health = request("GET", "/api/health");
  const std::int64_t health_done = steady_us();
  EXPECT_EQ(health.status, 200);
  // Checked on the event loop, the first login would hold it until done,
  // and the health request would wait behind it.
  std::int64_t first_login_done = INT64_MAX;
  for (auto& l : logins) first_login_done = std::min(first_login_done, l.get());
  EXPECT_LT(health_done, first_login_done) << "/api/health waited for a password check";
}

TEST_F(AccountsTest, AStopDuringPasswordChecksIsClean) {
  std::vector<std::future<void>> logins;
  for (int i = 0; i < 4; ++i) {
    logins.push_back(std::async(std::launch::async, [this] { (void)login("carol", "carol-password"); }));
  }
  std::this_thread::sleep_for(100ms);  // the checks are under way
  EXPECT_EQ(server_->terminate(10s), std::optional<int>(0)) << server_->log_tail(4000);
  server_.reset();
  for (auto& l : logins) {
    try {
      l.get();
    } catch (const std::exception&) {
      // the server went away mid-request: expected
    }
  }
}

}  // namespace
}  // namespace micstream::itest
