// The server as a stranger on the network would try it: each attack that
// once worked against it is a test here, against the real binary. Memory
// bounds are measured on the server's RSS and printed.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <memory>

#include "harness.h"
#include "micstream/protocol.h"
#include "test_device.h"

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
    if (::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size())) {
      throw std::runtime_error("send failed");
    }
  }

 private:
  int fd_ = -1;
};

class SecurityTest : public ::testing::Test {
 protected:
  void start(const fs::path& web_root, std::vector<std::string> args = {}) {
    ServerOptions o;
    o.web_root = web_root;
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

}  // namespace
}  // namespace micstream::itest
