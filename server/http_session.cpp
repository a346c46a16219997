#include "http_session.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include "clock.h"
#include "hub.h"
#include "listener_session.h"

namespace micstream::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr std::uint32_t kMaxRequestBytes = 16 * 1024;
constexpr const char* kServerName = "micstream-server " MICSTREAM_VERSION;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

std::string_view mime_type(std::string_view path) {
  const auto dot = path.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? "" : path.substr(dot);
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".wasm") return "application/wasm";
  if (ext == ".wav") return "audio/wav";
  return "application/octet-stream";
}

Response make_response(const Request& req, http::status status, std::string body, std::string_view content_type) {
  Response res{status, req.version()};
  res.set(http::field::server, kServerName);
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-cache");
  // Cross-origin isolation lets the page's audio worklet share memory
  // (SharedArrayBuffer) with the page.
  res.set("Cross-Origin-Opener-Policy", "same-origin");
  res.set("Cross-Origin-Embedder-Policy", "require-corp");
  res.set("Cross-Origin-Resource-Policy", "same-origin");
  res.keep_alive(req.keep_alive());
  res.body() = req.method() == http::verb::head ? std::string() : std::move(body);
  res.content_length(req.method() == http::verb::head ? 0 : res.body().size());
  return res;
}

Response error_response(const Request& req, http::status status, std::string message) {
  return make_response(req, status, nlohmann::json{{"error", std::move(message)}}.dump() + "\n", "application/json");
}

// The request path without its query, or empty when it could escape the web root.
std::string safe_path(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path.empty() || path[0] != '/' || path.find("..") != std::string_view::npos ||
      path.find('\\') != std::string_view::npos || path.find('\0') != std::string_view::npos) {
    return {};
  }
  std::string p(path);
  if (p.back() == '/') p += "index.html";
  return p;
}

Response serve_file(const Request& req, const std::filesystem::path& web_root) {
  const std::string path = safe_path(req.target());
  if (path.empty()) return error_response(req, http::status::bad_request, "bad path");
  const std::filesystem::path file = web_root / path.substr(1);
  std::ifstream in(file, std::ios::binary);
  if (!in || std::filesystem::is_directory(file)) {
    return error_response(req, http::status::not_found, "no such file: " + path);
  }
  std::ostringstream body;
  body << in.rdbuf();
  return make_response(req, http::status::ok, body.str(), mime_type(path));
}

std::string query_param(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name && eq != std::string_view::npos) return std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

// POST /api/devices/<id>/config {"gain_db": 6, "codec": "mulaw", "check_update": true}
Response post_config(const Request& req, Hub& hub, std::string_view device_id) {
  const auto body = nlohmann::json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return error_response(req, http::status::bad_request, "the body must be a JSON object");
  proto::Config config;
  if (const auto gain = body.find("gain_db"); gain != body.end()) {
    if (!gain->is_number() || std::abs(gain->get<double>()) * 100 > proto::kMaxGainCentiDb) {
      return error_response(req, http::status::bad_request, "gain_db must be a number within +-40");
    }
    config.has_gain = true;
    config.gain_cdb = static_cast<std::int16_t>(std::lround(gain->get<double>() * 100));
  }
  if (const auto codec = body.find("codec"); codec != body.end()) {
    if (!codec->is_string() || !codec_from_name(codec->get<std::string>(), config.codec)) {
      return error_response(req, http::status::bad_request, "codec must be pcm16, mulaw or ima-adpcm");
    }
    config.has_codec = true;
  }
  if (const auto update = body.find("check_update"); update != body.end()) {
    if (!update->is_boolean()) return error_response(req, http::status::bad_request, "check_update must be a boolean");
    config.check_update = update->get<bool>();
  }
  if (!config.has_gain && !config.has_codec && !config.check_update) {
    return error_response(req, http::status::bad_request, "nothing to send: give gain_db, codec or check_update");
  }
  if (!hub.send_config(std::string(device_id), config)) {
    return error_response(req, http::status::not_found, "device " + std::string(device_id) + " is not connected");
  }
  return make_response(req, http::status::ok, nlohmann::json{{"sent", true}}.dump() + "\n", "application/json");
}

Response route(const Request& req, Hub& hub) {
  const std::string_view target = req.target();
  const std::string_view path = target.substr(0, target.find('?'));
  constexpr std::string_view kDevicesPrefix = "/api/devices/";
  constexpr std::string_view kConfigSuffix = "/config";
  if (req.method() == http::verb::post && path.starts_with(kDevicesPrefix) && path.ends_with(kConfigSuffix) &&
      path.size() > kDevicesPrefix.size() + kConfigSuffix.size()) {
    return post_config(req, hub,
                       path.substr(kDevicesPrefix.size(), path.size() - kDevicesPrefix.size() - kConfigSuffix.size()));
  }
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res = error_response(req, http::status::method_not_allowed, "only GET and HEAD (and POST to /api/devices/<id>/config)");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  if (path == "/api/devices") return make_response(req, http::status::ok, hub.api_devices().dump(2) + "\n", "application/json");
  if (path == "/api/health") {
    const nlohmann::json health = {{"status", "ok"},
                                   {"server", kServerName},
                                   {"server_time_us", now_unix_us()},
                                   {"devices", hub.devices_online()},
                                   {"listeners", hub.listener_count()}};
    return make_response(req, http::status::ok, health.dump() + "\n", "application/json");
  }
  if (path == "/metrics") {
    return make_response(req, http::status::ok,
                         hub.metrics().render(hub.devices_online(), hub.devices_known(), hub.listener_count()),
                         "text/plain; version=0.0.4");
  }
  if (path == "/ws") return error_response(req, http::status::upgrade_required, "/ws is a WebSocket endpoint");
  constexpr std::string_view kFirmwarePrefix = "/firmware/";
  if (path.starts_with(kFirmwarePrefix)) {
    if (hub.options().firmware_dir.empty()) return error_response(req, http::status::not_found, "no --firmware-dir");
    Request inner = req;
    inner.target(std::string(target.substr(kFirmwarePrefix.size() - 1)));
    return serve_file(inner, hub.options().firmware_dir);
  }
  if (hub.options().web_root.empty()) return error_response(req, http::status::not_found, "no web root configured");
  return serve_file(req, hub.options().web_root);
}

}  // namespace

asio::awaitable<void> serve_http(tcp::socket socket, Hub& hub) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  const auto endpoint = stream.socket().remote_endpoint(ec);
  const std::string peer = ec ? "unknown peer" : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());

  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxRequestBytes);
    parser.body_limit(kMaxRequestBytes);
    stream.expires_after(kIdleTimeout);
    auto [read_ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (read_ec) {
      if (read_ec != http::error::end_of_stream && read_ec != beast::error::timeout) {
        spdlog::debug("http {}: {}", peer, read_ec.message());
        // A request we could not parse gets a 400 before the connection closes.
        if (read_ec.category() == http::make_error_code(http::error::bad_target).category()) {
          Request bad;
          auto res = error_response(bad, http::status::bad_request, read_ec.message());
          res.keep_alive(false);
          co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        }
      }
      break;
    }
    Request req = parser.release();

    if (websocket::is_upgrade(req)) {
      if (req.target().substr(0, req.target().find('?')) != "/ws") {
        auto res = error_response(req, http::status::not_found, "WebSocket endpoint is /ws");
        res.keep_alive(false);
        co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        break;
      }
      const std::string device = query_param(req.target(), "device");
      // Beast validates the upgrade and answers 101; from then on the listener
      // session frames its own messages so each audio frame is built once for all.
      stream.expires_never();
      websocket::stream<beast::tcp_stream> ws(std::move(stream));
      ws.set_option(websocket::stream_base::decorator(
          [](websocket::response_type& res) { res.set(http::field::server, kServerName); }));
      auto [accept_ec] = co_await ws.async_accept(req, asio::as_tuple(asio::use_awaitable));
      if (accept_ec) {
        spdlog::info("listener {} refused: WebSocket handshake failed: {}", peer, accept_ec.message());
        co_return;
      }
      std::string leftover(static_cast<const char*>(buffer.data().data()), buffer.size());
      auto session = std::make_shared<ListenerSession>(ws.next_layer().release_socket(), hub, std::move(leftover));
      session->start(device);
      co_return;
    }

    Response res = route(req, hub);
    const bool keep_alive = res.keep_alive();
    auto [write_ec, written] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    if (write_ec || !keep_alive) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace micstream::server
