// The server as a stranger on the network would try it: each attack that
// once worked against it is a test here, against the real binary. Memory
// bounds are measured on the server's RSS and printed.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "harness.h"
#include "micstream/protocol.h"
#include "test_device.h"
#include "ws_listener.h"

#ifndef MICSTREAM_SERVER_BINARY
#error "MICSTREAM_SERVER_BINARY must name the micstream-server executable"
#endif

namespace micstream::itest {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSecret = "the-kitchen-secret-never-served";

/// A raw TCP client on 127.0.0.1 that sends and then reads only when told.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect failed");
    }
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send(std::string_view bytes) const {
    if (!try_send(bytes)) throw std::runtime_error("send failed");
  }
  /// False when the server has closed the connection (or the send would block for 1 s).
  [[nodiscard]] bool try_send(std::string_view bytes) const {
    timeval tv{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  /// Whatever arrives within timeout (until the server closes or it stops coming).
  [[nodiscard]] std::string read_some(Millis timeout) const {
    timeval tv{0, static_cast<suseconds_t>(timeout.count() * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out(4096, '\0');
    const auto n = ::recv(fd_, out.data(), out.size(), 0);
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
  }
  /// True once the server has closed its side (read returns 0 or a reset).
  [[nodiscard]] bool closed_by_server(Millis timeout) const {
    const auto until = steady_us() + timeout.count() * 1000;
    while (steady_us() < until) {
      timeval tv{0, 100'000};
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      char buffer[65536];
      const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
};

class SecurityTest : public ::testing::Test {
 protected:
  void start(const fs::path& web_root, std::vector<std::string> args = {}, std::vector<std::string> wrapper = {}) {
    // Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
    // default) and shows as RSS; keep it small so RSS measures what is held.
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string options = std::string(asan ? asan : "") + (asan && *asan ? ":" : "") + "quarantine_size_mb=4";
    ::setenv("ASAN_OPTIONS", options.c_str(), 1);
    ServerOptions o;
    o.web_root = web_root;
    o.wrapper = std::move(wrapper);
    o.binary = MICSTREAM_SERVER_BINARY;
    o.secrets = {{"kitchen", kSecret}};
    o.args = std::move(args);
    server_ = std::make_unique<ServerProcess>(o);
  }
  void TearDown() override {
    if (!server_) return;
    EXPECT_EQ(server_->terminate(5s), std::optional<int>(0)) << "the server did not exit 0 on SIGTERM";
    if (HasFailure()) {
      server_->keep_dir();
      std::cerr << "---- server log, last part:\n" << server_->log_tail(8000) << "---- end of server log\n";
    }
  }
  [[nodiscard]] std::uint16_t http_port() const { return server_->http_port(); }
  /// The server still answers, and quickly.
  void expect_responsive() {
    const auto start = steady_us();
    const auto r = http_get(http_port(), "/api/health", 2s);
    EXPECT_EQ(r.status, 200);
    EXPECT_LT(steady_us() - start, 500'000) << "/api/health took longer than 0.5 s";
  }

  std::unique_ptr<ServerProcess> server_;
};

// A web root with a page, a link out of it, a FIFO and a link to /dev/zero.
struct HostileWebRoot {
  TempDir dir{"micstream-webroot"};
  fs::path root = dir.path() / "web";
  fs::path firmware = dir.path() / "firmware";
  fs::path outside = dir.path() / "outside.txt";
  HostileWebRoot() {
    fs::create_directories(root / "sub");
    fs::create_directories(firmware);
    write_file(root / "index.html", "<!doctype html><title>micstream</title>");
    write_file(root / "sub" / "inner.js", "export {};");
    write_file(root / ".hidden", "hidden");
    write_file(firmware / "micstream.bin", "FIRMWARE");
    write_file(outside, "outside the web root");
    fs::create_symlink(outside, root / "leak.txt");
    fs::create_symlink("/dev/zero", root / "zero.js");
    fs::create_symlink("/etc/passwd", firmware / "passwd.bin");
    if (::mkfifo((root / "fifo.js").c_str(), 0644) != 0) throw std::runtime_error("mkfifo failed");
  }
};

TEST_F(SecurityTest, FilesOutsideTheWebRootAndFirmwareDirAreNeverServed) {
  HostileWebRoot web;
  start(web.root, {"--firmware-dir", web.firmware.string()});
  const std::string secrets_path = (server_->dir() / "secrets.toml").string();
  const std::vector<std::string> attacks = {
      "//etc/passwd", "/firmware//etc/passwd", "//proc/self/cmdline", "//proc/self/environ", "/" + secrets_path,
      "/" + secrets_path.substr(1), "/../../../../etc/passwd", "/sub/../../outside.txt", "/%2e%2e/%2e%2e/etc/passwd",
      "/sub/..%2f..%2foutside.txt", "/./index.html", "/sub//inner.js", "/.hidden", "/leak.txt", "/zero.js",
      "/fifo.js", "/firmware/passwd.bin", "/firmware/../index.html", "/firmware//proc/self/cmdline",
      "/index.html\\..\\..", "/sub\\inner.js"};
  for (const auto& target : attacks) {
    const auto r = http_get(http_port(), target, 2s);
    EXPECT_TRUE(r.status == 400 || r.status == 404) << target << " answered " << r.status << ": " << r.body.substr(0, 80);
    EXPECT_FALSE(contains(r.body, "root:")) << target;
    EXPECT_FALSE(contains(r.body, kSecret)) << target;
    EXPECT_FALSE(contains(r.body, "outside the web root")) << target;
    EXPECT_FALSE(contains(r.body, "--secrets")) << target;
  }
  // What is inside is served.
  EXPECT_EQ(http_get(http_port(), "/").body, "<!doctype html><title>micstream</title>");
  EXPECT_EQ(http_get(http_port(), "/sub/inner.js").body, "export {};");
  EXPECT_EQ(http_get(http_port(), "/firmware/micstream.bin").body, "FIRMWARE");
  HttpRequest head;
  head.method = "HEAD";
  head.target = "/firmware/micstream.bin";
  auto h = http_request(http_port(), head);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.headers["content-length"], "8");
  expect_responsive();
}

TEST_F(SecurityTest, AFifoOrDeviceFileNeverStallsTheServer) {
  HostileWebRoot web;
  start(web.root);
  for (const auto* target : {"/fifo.js", "/zero.js"}) {
    const auto before = steady_us();
    const auto r = http_get(http_port(), target, 3s);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_LT(steady_us() - before, 500'000) << target << " took over 0.5 s";
  }
  expect_responsive();
}

TEST_F(SecurityTest, ClientsThatDoNotReadABigFileHoldBoundedMemory) {
  HostileWebRoot web;
  constexpr std::size_t kFileBytes = 40u << 20;
  write_file(web.root / "big.bin", std::string(kFileBytes, 'x'));
  start(web.root);
  expect_responsive();
  const std::size_t before_kib = rss_kib(server_->pid());
  constexpr int kClients = 20;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RawClient>(http_port(), 4096));
    clients.back()->send("GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  }
  std::this_thread::sleep_for(2s);
  expect_responsive();
  const std::size_t after_kib = rss_kib(server_->pid());
  const double grown_mib = (static_cast<double>(after_kib) - static_cast<double>(before_kib)) / 1024.0;
  std::cout << "[ bound    ] " << kClients << " clients not reading a " << (kFileBytes >> 20)
            << " MiB file: server RSS grew " << grown_mib << " MiB\n";
  // Whole files in memory would be 800 MiB; streamed, each holds a chunk.
  EXPECT_LT(grown_mib, 32.0);
}

// ---- who may ask: Host, Origin, CSRF ----

HttpRequest with_headers(std::string method, std::string target, std::map<std::string, std::string> headers,
                         std::string body = {}) {
  HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

HttpRequest websocket_upgrade(std::map<std::string, std::string> extra) {
  std::map<std::string, std::string> headers = {{"Connection", "Upgrade"},
                                                {"Upgrade", "websocket"},
                                                {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                                {"Sec-WebSocket-Version", "13"}};
  headers.insert(extra.begin(), extra.end());
  return with_headers("GET", "/ws", std::move(headers));
}

TEST_F(SecurityTest, ARequestForAnotherHostNameIsRefused) {
  HostileWebRoot web;
  start(web.root, {"--server-name", "mics.example.org"});
  const auto port = std::to_string(http_port());
  for (const std::string& host : std::vector<std::string>{"evil.example", "evil.example:" + port, "localhost.evil.example", "", "[::1"}) {
    const auto r = http_request(http_port(), with_headers("GET", "/api/devices", {{"Host", host}}));
    EXPECT_EQ(r.status, 421) << "Host: " << host << " answered " << r.status;
    EXPECT_FALSE(contains(r.body, "kitchen")) << host;
  }
  for (const std::string& host : std::vector<std::string>{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST", "[::1]:" + port,
                                 "192.168.1.20:" + port, "mics.example.org"}) {
    EXPECT_EQ(http_request(http_port(), with_headers("GET", "/api/health", {{"Host", host}})).status, 200)
        << "Host: " << host;
  }
  // A rebound name cannot open a listener either.
  EXPECT_EQ(http_request(http_port(), websocket_upgrade({{"Host", "evil.example"}})).status, 421);
}

TEST_F(SecurityTest, AWebSocketFromAForeignOriginIsRefused) {
  HostileWebRoot web;
  start(web.root);
  const std::string host = "127.0.0.1:" + std::to_string(http_port());
  for (const std::string& origin : std::vector<std::string>{"http://evil.example", "null", "http://127.0.0.1:1", "https://evil.example"}) {
    const auto r = http_request(http_port(), websocket_upgrade({{"Origin", origin}}));
    EXPECT_EQ(r.status, 403) << "Origin: " << origin;
  }
  EXPECT_EQ(http_request(http_port(), websocket_upgrade({{"Origin", "http://" + host}})).status, 101);
  EXPECT_EQ(http_request(http_port(), websocket_upgrade({})).status, 101) << "no Origin: not a browser";
}

TEST_F(SecurityTest, ConfigChangesNeedJsonFromThisOrigin) {
  HostileWebRoot web;
  start(web.root);
  TestDevice device(server_->ingest_port());
  DeviceParams params;
  params.id = "kitchen";
  params.secret = kSecret;
  device.handshake(params);
  const std::string target = "/api/devices/kitchen/config";
  const std::string body = R"({"gain_db": 40})";
  const std::string host = "127.0.0.1:" + std::to_string(http_port());
  // What a foreign page can send without a preflight, and a foreign origin.
  EXPECT_EQ(http_request(http_port(), with_headers("POST", target, {{"Content-Type", "text/plain"}}, body)).status, 415);
  EXPECT_EQ(http_request(http_port(), with_headers("POST", target, {}, body)).status, 415);
  EXPECT_EQ(http_request(http_port(), with_headers("POST", target, {{"Content-Type", "application/x-www-form-urlencoded"},
                                                                    {"Origin", "http://evil.example"}},
                                                   body))
                .status,
            403);
  EXPECT_EQ(http_request(http_port(), with_headers("POST", target, {{"Content-Type", "application/json"},
                                                                    {"Origin", "http://evil.example"}},
                                                   body))
                .status,
            403);
  ReceivedFrame frame;
  EXPECT_EQ(device.read_frame(frame, 300ms), TestDevice::ReadStatus::timeout) << "a refused request reached the device";
  // The page's own request goes through.
  const auto ok = http_request(http_port(), with_headers("POST", target, {{"Content-Type", "application/json"},
                                                                          {"Origin", "http://" + host}},
                                                         R"({"gain_db": 6})"));
  EXPECT_EQ(ok.status, 200) << ok.body;
  ASSERT_EQ(device.read_frame(frame, 2s), TestDevice::ReadStatus::frame);
  ASSERT_EQ(frame.type, proto::FrameType::config);
  proto::Config config;
  ASSERT_EQ(proto::decode(frame.payload, config), Errc::ok);
  EXPECT_TRUE(config.has_gain);
  EXPECT_EQ(config.gain_cdb, 600);
}

// ---- bounds: what one client can make the server hold ----

/// A client-to-server WebSocket frame (masked, as RFC 6455 requires).
std::string client_frame(std::uint8_t opcode, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xFF));
  }
  const char mask[4] = {0x12, 0x34, 0x56, 0x78};
  f.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return f;
}

/// A raw WebSocket listener of /ws, upgraded, that reads nothing more.
std::unique_ptr<RawClient> raw_listener(std::uint16_t port) {
  auto c = std::make_unique<RawClient>(port, 4096);
  c->send("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  if (!contains(c->read_some(2s), "101")) throw std::runtime_error("no 101 for the WebSocket upgrade");
  return c;
}

double grown_mib(std::size_t before_kib, std::size_t after_kib) {
  return (static_cast<double>(after_kib) - static_cast<double>(before_kib)) / 1024.0;
}

TEST_F(SecurityTest, AListenerThatAsksAndNeverReadsIsCutWithMemoryBounded) {
  HostileWebRoot web;
  start(web.root);
  expect_responsive();
  const std::size_t before_kib = rss_kib(server_->pid());
  struct Flood {
    const char* what;
    std::string frame;
    bool must_be_cut;  // answers pile up faster than the socket can hold them
  };
  const std::vector<Flood> floods = {
      {"WebSocket pings", client_frame(0x9, std::string(125, 'p')), true},
      {"JSON pings", client_frame(0x1, R"({"type":"ping","id":1,"t0":1,"pad":")" + std::string(3000, 'x') + "\"}"), false},
      {"JSON pings with a 4 kB id", client_frame(0x1, R"({"type":"ping","t0":1,"id":")" + std::string(4000, 'i') + "\"}"),
       false},
  };
  for (const auto& flood : floods) {
    auto c = raw_listener(http_port());
    std::size_t sent = 0;
    const auto until = steady_us() + 5'000'000;
    while (steady_us() < until && c->try_send(flood.frame)) sent += flood.frame.size();
    if (flood.must_be_cut) {
      EXPECT_TRUE(c->closed_by_server(3s)) << flood.what << ": still connected after " << sent << " bytes";
    }
    const double grown = grown_mib(before_kib, rss_kib(server_->pid()));
    std::cout << "[ bound    ] " << flood.what << ", " << sent / 1024 << " KiB sent, never read: server RSS grew "
              << grown << " MiB\n";
    EXPECT_LT(grown, 24.0) << flood.what;
  }
  expect_responsive();
  EXPECT_GE(Metrics::parse(http_get(http_port(), "/metrics").body).get("micstream_peers_cut_total").value_or(0), 1);
}

TEST_F(SecurityTest, SubscribingToMadeUpIdsLeavesNoState) {
  HostileWebRoot web;
  start(web.root);
  auto c = raw_listener(http_port());
  const std::size_t before_kib = rss_kib(server_->pid());
  for (int i = 0; i < 20000; ++i) {
    ASSERT_TRUE(c->try_send(client_frame(0x1, R"({"type":"subscribe","device":"made-up-)" + std::to_string(i) + "\"}")));
    if (i % 100 == 0) (void)c->read_some(1ms);  // take the answers so the listener is not cut for flooding
  }
  std::this_thread::sleep_for(500ms);
  const auto metrics = Metrics::parse(http_get(http_port(), "/metrics").body);
  EXPECT_EQ(metrics.get("micstream_devices_known").value_or(-1), 0) << "made-up ids were kept";
  const double grown = grown_mib(before_kib, rss_kib(server_->pid()));
  std::cout << "[ bound    ] 20,000 subscriptions to made-up ids: server RSS grew " << grown << " MiB\n";
  EXPECT_LT(grown, 16.0);
}

TEST_F(SecurityTest, AnIdWithoutASecretCannotBeTakenOver) {
  HostileWebRoot web;
  start(web.root, {"--allow-unknown-devices"});
  TestDevice owner(server_->ingest_port());
  DeviceParams params;
  params.id = "porch";
  params.secret = "not-checked";  // no secret for it on the server
  owner.handshake(params);
  TestDevice thief(server_->ingest_port());
  thief.handshake(params);
  const auto refused = thief.read_error(3s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, Errc::unknown_device);
  EXPECT_TRUE(contains(refused->reason.view(), "cannot be taken over")) << refused->reason.view();
  ReceivedFrame frame;
  EXPECT_NE(owner.read_frame(frame, 500ms), TestDevice::ReadStatus::closed) << "the first link was cut";
}

TEST_F(SecurityTest, ABurstOfNewIdsCostsListenersAFewDeviceLists) {
  HostileWebRoot web;
  start(web.root, {"--allow-unknown-devices", "--max-unregistered-devices", "300", "--max-device-links-per-address", "300"});
  WsListener listener(http_port(), ListenerOptions{});
  ASSERT_TRUE(listener.wait_text("devices", 3s));
  constexpr int kIds = 200;
  std::vector<std::unique_ptr<TestDevice>> devices;
  const auto started = steady_us();
  for (int i = 0; i < kIds; ++i) {
    devices.push_back(std::make_unique<TestDevice>(server_->ingest_port()));
    DeviceParams p;
    p.id = "flood-" + std::to_string(i);
    p.secret = "not-checked";
    devices.back()->handshake(p);
  }
  const double seconds = static_cast<double>(steady_us() - started) / 1e6;
  ASSERT_TRUE(listener.wait_text("devices", 3s, [](const nlohmann::json& m) { return m["devices"].size() == kIds; }));
  const std::size_t lists = listener.texts("devices").size();
  std::cout << "[ bound    ] " << kIds << " new ids in " << seconds << " s: the listener got " << lists
            << " device lists\n";
  // One list per 100 ms of the burst (and the first), not one per id.
  EXPECT_LE(lists, static_cast<std::size_t>(seconds * 10) + 3);
}

TEST_F(SecurityTest, ConnectionsAreCappedPerAddressAndInTotal) {
  HostileWebRoot web;
  start(web.root, {"--max-http-per-address", "8", "--max-http-connections", "12"});
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 8; ++i) held.push_back(raw_listener(http_port()));
  // The ninth from this address is told why and closed.
  RawClient ninth(http_port());
  EXPECT_TRUE(contains(ninth.read_some(2s), "503")) << "over the per-address limit";
  held.pop_back();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(http_get(http_port(), "/api/health").status, 200) << "a place freed is a place again";
  const auto metrics = Metrics::parse(http_get(http_port(), "/metrics").body);
  EXPECT_GE(metrics.get("micstream_connections_refused_total").value_or(0), 1);
}

TEST_F(SecurityTest, DescriptorExhaustionIsRecoveredWithBoundedLogging) {
  HostileWebRoot web;
  // 256 descriptors, soft and hard: the server must make its limits fit.
  start(web.root, {"--max-device-links", "16", "--max-http-per-address", "1000"}, {"/usr/bin/prlimit", "--nofile=256:256"});
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 400; ++i) idle.push_back(std::make_unique<RawClient>(http_port()));
  std::this_thread::sleep_for(1s);
  // A device still gets in: the HTTP side was kept below the descriptor limit.
  TestDevice device(server_->ingest_port());
  DeviceParams params;
  params.id = "kitchen";
  params.secret = kSecret;
  EXPECT_NO_THROW(device.handshake(params));
  idle.clear();
  std::this_thread::sleep_for(500ms);
  expect_responsive();
  const auto log = server_->log();
  std::size_t lines = 0;
  for (const auto& line : server_->log_lines()) lines += contains(line, "refused") || contains(line, "accepting") ? 1 : 0;
  std::cout << "[ bound    ] 400 idle connections under 256 descriptors: " << lines << " log lines about refusals\n";
  EXPECT_TRUE(contains(log, "file descriptors")) << "the clamp is not logged";
  EXPECT_LT(lines, 30u);
  EXPECT_LT(log.size(), 200'000u);
}

TEST_F(SecurityTest, HelloGuessingIsThrottledWithoutLockingOutTheDevice) {
  HostileWebRoot web;
  start(web.root);
  DeviceParams real;
  real.id = "kitchen";
  real.secret = kSecret;
  {
    TestDevice first(server_->ingest_port());
    first.handshake(real);  // its address is now the one it proved itself from
  }
  DeviceParams guess = real;
  guess.secret = "a guess";
  for (int i = 0; i < 9; ++i) {
    TestDevice attacker(server_->ingest_port());
    attacker.send_hello(guess, attacker.read_welcome());
    EXPECT_TRUE(attacker.read_error(2s).has_value());
  }
  // Past the per-id limit, but from the address it proved itself from: the device gets in.
  {
    TestDevice again(server_->ingest_port());
    EXPECT_NO_THROW(again.handshake(real));
  }
  // Past the per-address limit: turned away at once, not even a WELCOME.
  {
    TestDevice attacker(server_->ingest_port());
    attacker.send_hello(guess, attacker.read_welcome());
    (void)attacker.read_error(2s);
  }
  TestDevice refused(server_->ingest_port());
  EXPECT_TRUE(refused.wait_closed(2s)) << "an address failing HELLOs may still connect";
  const auto metrics = Metrics::parse(http_get(http_port(), "/metrics").body);
  EXPECT_GE(metrics.get("micstream_connections_refused_total").value_or(0), 1);
}

TEST_F(SecurityTest, InvalidUtf8IsAnsweredNotDropped) {
  HostileWebRoot web;
  start(web.root);
  // A path and a device id cut inside a character.
  for (const std::string& target : {std::string("/caf\xC3"), std::string("/api/devices/k\xE2\x82/config")}) {
    const auto r = http_get(http_port(), target);
    EXPECT_TRUE(r.status == 400 || r.status == 404 || r.status == 405) << r.status;
    EXPECT_TRUE(contains(r.body, "error")) << r.body;
  }
  auto c = raw_listener(http_port());
  (void)c->read_some(300ms);  // welcome, devices, stream
  c->send(client_frame(0x1, "{\"type\":\"subscribe\",\"device\":\"kitch\xC3\"}"));
  std::string answer;  // read until the answer is in: the greeting may still be arriving
  const auto until = steady_us() + 2'000'000;
  while (steady_us() < until && !contains(answer, "\"error\"") && !contains(answer, "\x03\xEF")) {
    answer += c->read_some(100ms);
  }
  // An error message, or a close with 1007 (invalid payload data, RFC 6455 7.4.1).
  EXPECT_TRUE(contains(answer, "\"error\"") || contains(answer, "\x03\xEF")) << "no answer to invalid UTF-8";
  expect_responsive();
  EXPECT_FALSE(contains(server_->log(), "failed:")) << "an exception escaped a coroutine";
}

TEST_F(SecurityTest, AConnectFloodOnTheDevicePortDoesNotStarveARealDevice) {
  HostileWebRoot web;
  start(web.root);
  DeviceParams params;
  params.id = "kitchen";
  params.secret = kSecret;  // 320 samples at 16 kHz: 50 frames a second
  TestDevice device(server_->ingest_port());
  device.handshake(params);
  ListenerOptions lo;
  lo.target = "/ws?device=kitchen";
  WsListener listener(http_port(), lo);
  ASSERT_TRUE(listener.wait_text("stream", 3s).has_value());

  std::atomic<bool> flooding{true};
  std::atomic<std::size_t> attempts{0};
  std::vector<std::thread> flood;
  for (int t = 0; t < 2; ++t) {
    flood.emplace_back([&] {
      std::vector<int> open;
      while (flooding) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(server_->ingest_port());
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ++attempts;
        open.push_back(fd);
        if (open.size() > 300) {  // hold some, churn the rest
          ::close(open.front());
          open.erase(open.begin());
        }
      }
      for (const int fd : open) ::close(fd);
    });
  }
  StreamSpec spec;
  spec.frames = 200;  // 4 s
  const auto started = steady_us();
  (void)stream_audio(device, params, spec);
  flooding = false;
  for (auto& t : flood) t.join();
  std::this_thread::sleep_for(300ms);

  // Frames heard in each whole second of the flood.
  std::vector<int> per_second(4, 0);
  for (const auto& m : listener.messages()) {
    if (!m.binary) continue;
    const auto second = (m.steady_us - started) / 1'000'000;
    if (second >= 0 && second < 4) ++per_second[static_cast<std::size_t>(second)];
  }
  const int worst = *std::min_element(per_second.begin(), per_second.end());
  std::cout << "[ bound    ] " << attempts.load() << " connects in 4 s on the device port: the real device's listener heard "
            << per_second[0] << ", " << per_second[1] << ", " << per_second[2] << ", " << per_second[3]
            << " frames a second (worst " << worst << ")\n";
  EXPECT_GE(worst, 48);
}

}  // namespace
}  // namespace micstream::itest
