// HTTPS on the listeners' port, against the real server: the local CA is
// offered over plain http, verifies the server's certificate for its names,
// the page, the API and the WebSocket work over TLS on the same port as
// plain http, plain http from another machine's name is sent to https, and a
// login over https gets a Secure cookie.
#include <gtest/gtest.h>

#include <openssl/x509.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "harness.h"
#include "test_device.h"

#ifndef MICSTREAM_SERVER_BINARY
#error "MICSTREAM_SERVER_BINARY must name the micstream-server executable"
#endif

namespace micstream::itest {
namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

constexpr const char* kLanName = "micstream-lan.test";
constexpr const char* kSecret = "kitchen-secret";

/// A client context that trusts only the server's CA (DER) and checks the name.
ssl::context client_context(const std::string& ca_der) {
  ssl::context ctx(ssl::context::tls_client);
  const auto* p = reinterpret_cast<const unsigned char*>(ca_der.data());
  X509* ca = d2i_X509(nullptr, &p, static_cast<long>(ca_der.size()));
  if (ca == nullptr) throw std::runtime_error("/ca.crt is not a DER certificate");
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.native_handle()), ca);
  X509_free(ca);
  ctx.set_verify_mode(ssl::verify_peer);
  return ctx;
}

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

/// Runs a coroutine on its own io_context for at most timeout; rethrows what it threw.
void run(const std::function<net::awaitable<void>()>& body, Millis timeout = 5s) {
  net::io_context ioc;
  std::exception_ptr failure;
  bool done = false;
  net::co_spawn(ioc, body, [&](std::exception_ptr e) {
    failure = e;
    done = true;
  });
  ioc.run_for(timeout);
  if (!done) throw std::runtime_error("timed out");
  if (failure) std::rethrow_exception(failure);
}

/// Connects to 127.0.0.1:port and does a verified TLS handshake for `name`.
net::awaitable<void> connect_tls(TlsStream& stream, std::uint16_t port, const std::string& name) {
  co_await beast::get_lowest_layer(stream).async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                                                         net::use_awaitable);
  SSL_set_tlsext_host_name(stream.native_handle(), name.c_str());
  stream.set_verify_callback(ssl::host_name_verification(name));
  co_await stream.async_handshake(ssl::stream_base::client, net::use_awaitable);
}

HttpResponse https_request(std::uint16_t port, const std::string& ca_der, const HttpRequest& request,
                           const std::string& name = "localhost") {
  HttpResponse out;
  ssl::context ctx = client_context(ca_der);
  run([&]() -> net::awaitable<void> {
    TlsStream stream(co_await net::this_coro::executor, ctx);
    co_await connect_tls(stream, port, name);
    http::request<http::string_body> req{http::string_to_verb(request.method), request.target, 11};
    req.set(http::field::host, name + ":" + std::to_string(port));
    for (const auto& [field, value] : request.headers) req.set(field, value);
    req.body() = request.body;
    req.prepare_payload();
    co_await http::async_write(stream, req, net::use_awaitable);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    co_await http::async_read(stream, buffer, res, net::use_awaitable);
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[http::field::content_type]);
    out.body = res.body();
    for (const auto& field : res) {
      std::string lower(field.name_string());
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[lower] = std::string(field.value());
    }
  });
  return out;
}

class HttpsTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    ServerOptions o;
    o.binary = MICSTREAM_SERVER_BINARY;
    o.secrets = {{"kitchen", kSecret}};
    o.args = {"--tls-dir", (tls_dir_.path() / "tls").string(), "--server-name", kLanName};
    o.args.insert(o.args.end(), extra.begin(), extra.end());
    server_ = std::make_unique<ServerProcess>(o);
  }
  void TearDown() override {
    if (!server_) return;
    EXPECT_EQ(server_->terminate(5s), std::optional<int>(0));
    if (HasFailure()) std::cerr << "---- server log:\n" << server_->log_tail(8000) << "---- end\n";
  }
  [[nodiscard]] std::uint16_t port() const { return server_->http_port(); }
  /// The CA as a phone downloads it: over plain http.
  std::string fetch_ca() {
    const auto r = http_get(port(), "/ca.crt");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "application/x-x509-ca-cert");
    return r.body;
  }

  TempDir tls_dir_{"micstream-https"};
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(HttpsTest, ThePageAndTheApiAreServedOverVerifiedTlsOnTheSamePort) {
  start();
  const std::string ca = fetch_ca();
  for (const std::string name : {"localhost", "127.0.0.1"}) {
    const auto health = https_request(port(), ca, HttpRequest{"GET", "/api/health", {}, {}}, name);
    EXPECT_EQ(health.status, 200) << name;
    EXPECT_TRUE(contains(health.body, "\"ok\"")) << health.body;
  }
  const auto page = https_request(port(), ca, HttpRequest{"GET", "/", {}, {}});
  EXPECT_EQ(page.status, 200);
  EXPECT_TRUE(contains(page.content_type, "text/html")) << page.content_type;
  // Plain http keeps working on the same port, here on this machine.
  EXPECT_EQ(http_get(port(), "/api/health").status, 200);
  // A name the certificate does not hold is refused by a verifying client.
  EXPECT_THROW(https_request(port(), ca, HttpRequest{"GET", "/api/health", {}, {}}, "elsewhere.example"),
               std::exception);
  EXPECT_TRUE(server_->wait_for_log_line([](std::string_view l) { return contains(l, "trust it once"); }, 1s));
}

TEST_F(HttpsTest, AListenerHearsTheDeviceOverWss) {
  start();
  const std::string ca = fetch_ca();
  TestDevice device(server_->ingest_port());
  DeviceParams params;
  params.id = "kitchen";
  params.secret = kSecret;
  device.handshake(params);
  std::jthread sender([&] { stream_audio(device, params, StreamSpec{.frames = 25}); });

  ssl::context ctx = client_context(ca);
  int audio_messages = 0;
  std::string first_text;
  run(
      [&]() -> net::awaitable<void> {
        websocket::stream<TlsStream> ws(co_await net::this_coro::executor, ctx);
        co_await connect_tls(ws.next_layer(), port(), "localhost");
        co_await ws.async_handshake("localhost:" + std::to_string(port()), "/ws?device=kitchen", net::use_awaitable);
        beast::flat_buffer buffer;
        while (audio_messages < 10) {
          co_await ws.async_read(buffer, net::use_awaitable);
          if (ws.got_binary()) ++audio_messages;
          else if (first_text.empty()) first_text = beast::buffers_to_string(buffer.data());
          buffer.consume(buffer.size());
        }
        co_await ws.async_close(websocket::close_code::normal, net::use_awaitable);
      },
      10s);
  EXPECT_EQ(audio_messages, 10);
  EXPECT_TRUE(contains(first_text, "welcome")) << first_text;
}

TEST_F(HttpsTest, PlainHttpByTheLanNameIsSentToHttpsExceptWhatAPhoneNeedsFirst) {
  start();
  const std::string lan_host = std::string(kLanName) + ":" + std::to_string(port());
  auto page = http_request(port(), HttpRequest{"GET", "/index.html?x=1", {{"Host", lan_host}}, {}});
  EXPECT_EQ(page.status, 308);
  EXPECT_EQ(page.headers["location"], "https://" + lan_host + "/index.html?x=1");
  EXPECT_EQ(http_request(port(), HttpRequest{"GET", "/api/devices", {{"Host", lan_host}}, {}}).status, 308);
  // The CA (to trust https at all), health, and the devices' firmware stay reachable.
  EXPECT_EQ(http_request(port(), HttpRequest{"GET", "/ca.crt", {{"Host", lan_host}}, {}}).status, 200);
  EXPECT_EQ(http_request(port(), HttpRequest{"GET", "/api/health", {{"Host", lan_host}}, {}}).status, 200);
  // Over https by that name: served.
  const auto secure = https_request(port(), fetch_ca(), HttpRequest{"GET", "/", {}, {}}, kLanName);
  EXPECT_EQ(secure.status, 200);
}

TEST_F(HttpsTest, ALoginOverHttpsGetsASecureCookie) {
  const fs::path users = tls_dir_.path() / "users.toml";
  // "pw" at 1000 iterations, as `hash-password --iterations 1000` wrote it.
  write_file(users,
             "[users.alice]\npassword = \"pbkdf2-sha256$1000$/ugH9L+1yCiaq5TMLmSnWg==$"
             "2b+IvMmKfi9S/hxu89H9V5byJ+F4Mls4slwASfmHB+k=\"\nroles = [\"listen\"]\n");
  fs::permissions(users, fs::perms::owner_read | fs::perms::owner_write);
  start({"--users", users.string()});
  auto r = https_request(port(), fetch_ca(),
                               HttpRequest{"POST",
                                           "/api/login",
                                           {{"Content-Type", "application/json"},
                                            {"Origin", "https://localhost:" + std::to_string(port())}},
                                           R"({"user": "alice", "password": "pw"})"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(contains(r.headers["set-cookie"], "; Secure")) << r.headers["set-cookie"];
  EXPECT_TRUE(contains(r.headers["set-cookie"], "HttpOnly")) << r.headers["set-cookie"];
}

TEST_F(HttpsTest, GarbageAfterAClientHelloCostsOnlyThatConnection) {
  start();
  const std::string ca = fetch_ca();
  run([&]() -> net::awaitable<void> {
    tcp::socket s(co_await net::this_coro::executor);
    co_await s.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port()), net::use_awaitable);
    // A TLS handshake record header, then nonsense.
    const std::string bad = std::string("\x16\x03\x01\x00\x40", 5) + std::string(64, '\xAB');
    co_await net::async_write(s, net::buffer(bad), net::use_awaitable);
    char byte;
    auto [ec, n] = co_await s.async_read_some(net::buffer(&byte, 1), net::as_tuple(net::use_awaitable));
    EXPECT_TRUE(ec || n > 0);  // an alert or the close; either way the server is done with it
  });
  EXPECT_EQ(https_request(port(), ca, HttpRequest{"GET", "/api/health", {}, {}}).status, 200);
}

TEST_F(HttpsTest, TheLocalCaIsKeptAcrossRestarts) {
  start();
  const std::string before = fetch_ca();
  ASSERT_EQ(server_->terminate(5s), std::optional<int>(0));
  start();
  EXPECT_EQ(fetch_ca(), before) << "phones that trust the CA would have to trust it again";
}

}  // namespace
}  // namespace micstream::itest
