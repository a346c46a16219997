#include "http_session.h"

#include <cmath>
#include <optional>
#include <tuple>
#include <variant>

#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include "access.h"
#include "clock.h"
#include "http_access.h"
#include "http_reply.h"
#include "hub.h"
#include "json_text.h"
#include "listener_session.h"
#include "request_guard.h"
#include "static_files.h"
#include "tls_identity.h"

namespace micstream::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr auto kWriteTimeout = std::chrono::seconds(60);
constexpr std::uint32_t kMaxRequestBytes = 16 * 1024;
Reply serve_file(const Request& req, const StaticFolder& folder, std::string_view path) {
  auto opened = folder.open(path);
  if (const auto* refusal = std::get_if<StaticFolder::Refusal>(&opened)) {
    if (*refusal == StaticFolder::Refusal::bad_path) return error_response(req, http::status::bad_request, "bad path");
    return error_response(req, http::status::not_found, "no such file");
  }
  auto& file = std::get<StaticFolder::Opened>(opened);
  if (req.method() == http::verb::head) {
    Response head = make_response(req, http::status::ok, {}, file.mime_type);
    head.content_length(file.size);  // the size a GET would send, no body
    return head;
  }
  FileResponse res{http::status::ok, req.version()};
  set_common_headers(res.base());
  res.set(http::field::content_type, file.mime_type);
  res.keep_alive(req.keep_alive());
  boost::system::error_code ec;
  res.body().reset(std::move(file.file), ec);
  if (ec) return error_response(req, http::status::internal_server_error, "cannot read the file");
  res.prepare_payload();
  return res;
}

// Log lines show what a peer sent without letting it write control characters.
std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 200)) out.push_back(c >= 0x20 && c <= 0x7E ? c : '?');
  return out;
}

std::string_view trim_newline(std::string_view body) { return body.substr(0, body.find('\n')); }

// Host, Origin and, for changes, a JSON body: what no foreign page or
// rebound name can send (RequestGuard). nullopt: the request may go on.
std::optional<Response> guard_request(const Request& req, const RequestGuard& guard) {
  const std::string_view host = req[http::field::host];
  if (!guard.host_allowed(host)) {
    return error_response(req, http::status::misdirected_request,
                          "Host " + printable(host) + " is not a name of this server (see --server-name)");
  }
  const bool changes_state = req.method() != http::verb::get && req.method() != http::verb::head;
  if ((changes_state || websocket::is_upgrade(req)) && !RequestGuard::origin_allowed(req[http::field::origin], host)) {
    return error_response(req, http::status::forbidden, "requests from another origin are refused");
  }
  // A page of another site can POST text/plain without asking first; JSON it cannot.
  if (req.method() == http::verb::post && !req[http::field::content_type].starts_with("application/json")) {
    return error_response(req, http::status::unsupported_media_type, "POST bodies must be application/json");
  }
  return std::nullopt;
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
Response post_config(const Request& req, Hub& hub, const User& caller, std::string_view device_id) {
  if (!caller.may_hear(device_id)) {
    return error_response(req, http::status::forbidden, "user " + caller.name + " may not change this device");
  }
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
  return make_response(req, http::status::ok, json_text({{"sent", true}}) + "\n", "application/json");
}

Reply route(const Request& req, const HttpServices& services, const Identity& caller, bool encrypted) {
  Hub& hub = services.hub;
  const std::string_view path = req.target().substr(0, req.target().find('?'));
  constexpr std::string_view kDevicesPrefix = "/api/devices/";
  constexpr std::string_view kConfigSuffix = "/config";
  if (req.method() == http::verb::post && path.starts_with(kDevicesPrefix) && path.ends_with(kConfigSuffix) &&
      path.size() > kDevicesPrefix.size() + kConfigSuffix.size()) {
    return post_config(req, hub, caller.user,
                       path.substr(kDevicesPrefix.size(), path.size() - kDevicesPrefix.size() - kConfigSuffix.size()));
  }
  if (req.method() == http::verb::post && path == "/api/logout") {
    services.access.logout(req[http::field::cookie]);
    auto res = make_response(req, http::status::ok, json_text({{"logged_out", true}}) + "\n", "application/json");
    res.set(http::field::set_cookie, session_cookie("", std::chrono::seconds(0), encrypted));
    return res;
  }
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res = error_response(req, http::status::method_not_allowed,
                              "only GET and HEAD, and POST to /api/login, /api/logout and /api/devices/<id>/config");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  if (path == "/api/devices") {
    return make_response(req, http::status::ok, json_text(hub.api_devices(caller.user), 2) + "\n", "application/json");
  }
  if (path == "/api/session") {
    if (!caller.ok()) return refuse(req, caller, Need::listen);
    return make_response(req, http::status::ok, json_text(session_json(caller, services.access.has_accounts())) + "\n",
                         "application/json");
  }
  if (path == "/api/health") {
    const nlohmann::json health = {{"status", "ok"},
                                   {"server", kServerName},
                                   {"server_time_us", now_unix_us()},
                                   {"devices", hub.devices_online()},
                                   {"listeners", hub.listener_count()}};
    return make_response(req, http::status::ok, json_text(health) + "\n", "application/json");
  }
  if (path == "/metrics") {
    return make_response(req, http::status::ok,
                         hub.metrics().render(hub.devices_online(), hub.devices_known(), hub.listener_count()),
                         "text/plain; version=0.0.4");
  }
  if (path == "/ws") return error_response(req, http::status::upgrade_required, "/ws is a WebSocket endpoint");
  if (path == "/ca.crt") {
    if (services.tls_identity == nullptr || !services.tls_identity->has_local_ca()) {
      return error_response(req, http::status::not_found, "this server has no local CA (no --tls-dir)");
    }
    const auto& der = services.tls_identity->ca_certificate_der();
    // DER under this type is what iOS and Android offer to install as a CA.
    return make_response(req, http::status::ok, std::string(der.begin(), der.end()), "application/x-x509-ca-cert");
  }
  constexpr std::string_view kFirmwarePrefix = "/firmware/";
  if (path.starts_with(kFirmwarePrefix)) {
    if (services.firmware == nullptr) return error_response(req, http::status::not_found, "no --firmware-dir");
    return serve_file(req, *services.firmware, path.substr(kFirmwarePrefix.size() - 1));
  }
  if (services.page == nullptr) return error_response(req, http::status::not_found, "no web root configured");
  return serve_file(req, *services.page, path);
}

}  // namespace

namespace {

// Who is at the other end of one HTTP connection.
struct Peer {
  std::string name;            // address:port, for the log
  asio::ip::address address;   // unspecified when unknown: no loopback rights
  bool encrypted = false;      // came over TLS
};

Transport release_transport(beast::tcp_stream& stream) { return Transport(stream.release_socket()); }
Transport release_transport(TlsStream& stream) { return Transport(std::move(stream)); }

// The end of a connection. TLS answers a peer's close_notify with its own
// (a careful client reports a truncated stream otherwise); it does not start
// one, which would wait on a read of its own.
asio::awaitable<void> finish(beast::tcp_stream& stream, bool /*peer_ended*/) {
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  co_return;
}
asio::awaitable<void> finish(TlsStream& stream, bool peer_ended) {
  if (peer_ended) {
    stream.next_layer().expires_after(std::chrono::seconds(1));
    co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
  }
  boost::system::error_code ignored;
  stream.next_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
}

// Requests on one connection, plain or TLS, until it closes or upgrades.
template <class Stream>
asio::awaitable<void> serve_requests(Stream& stream, beast::flat_buffer& buffer, ConnectionLimits::Slot slot,
                                     HttpServices& services, const Peer& connection) {
  Hub& hub = services.hub;
  const std::string& peer = connection.name;
  const asio::ip::address& address = connection.address;
  auto& tcp_layer = beast::get_lowest_layer(stream);
  bool peer_ended = false;

  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxRequestBytes);
    parser.body_limit(kMaxRequestBytes);
    tcp_layer.expires_after(kIdleTimeout);
    auto [read_ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (read_ec) {
      peer_ended = read_ec == http::error::end_of_stream;
      if (read_ec != http::error::end_of_stream && read_ec != beast::error::timeout &&
          read_ec != asio::ssl::error::stream_truncated) {
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
    if (auto refusal = guard_request(req, services.guard)) {
      spdlog::info("http {}: {} {} refused: {}", peer, std::string(req.method_string()), printable(req.target()),
                   trim_newline(refusal->body()));
      refusal->keep_alive(false);
      co_await http::async_write(stream, *refusal, asio::as_tuple(asio::use_awaitable));
      break;
    }

    const std::string_view path = req.target().substr(0, req.target().find('?'));
    if (services.tls != nullptr && !connection.encrypted && !served_in_the_clear(req, path)) {
      Response moved = redirect_to_https(req);
      auto [write_ec, written] = co_await http::async_write(stream, moved, asio::as_tuple(asio::use_awaitable));
      if (write_ec || !moved.keep_alive()) break;
      continue;
    }
    const Need need = need_of(req, path);
    Identity caller;
    if (need != Need::anyone || path == "/api/session") {
      Identity identified =
          co_await services.access.identify(req[http::field::cookie], req[http::field::authorization], address);
      caller = std::move(identified);
    }
    if (!caller.allows(need)) {
      Response refusal = refuse(req, caller, need);
      spdlog::info("http {}: {} {} refused: {}", peer, std::string(req.method_string()), printable(req.target()),
                   trim_newline(refusal.body()));
      const bool upgrade = websocket::is_upgrade(req);
      if (upgrade) refusal.keep_alive(false);  // a refused upgrade leaves nothing to keep
      auto [write_ec, written] = co_await http::async_write(stream, refusal, asio::as_tuple(asio::use_awaitable));
      if (write_ec || upgrade || !refusal.keep_alive()) break;
      continue;
    }

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
      tcp_layer.expires_never();
      {
        websocket::stream<Stream&> ws(stream);
        ws.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, kServerName); }));
        auto [accept_ec] = co_await ws.async_accept(req, asio::as_tuple(asio::use_awaitable));
        if (accept_ec) {
          spdlog::info("listener {} refused: WebSocket handshake failed: {}", peer, accept_ec.message());
          co_return;
        }
      }
      std::string leftover(static_cast<const char*>(buffer.data().data()), buffer.size());
      auto session = std::make_shared<ListenerSession>(release_transport(stream), std::move(slot), hub,
                                                        std::move(caller.user), std::move(leftover));
      session->start(device);
      co_return;
    }

    // co_await only in plain declarations: GCC 12 mishandles temporaries
    // around a co_await inside larger expressions.
    Reply reply;
    if (req.method() == http::verb::post && path == "/api/login") {
      Response answer = co_await post_login(req, services.access, address, connection.encrypted);
      reply = std::move(answer);
    } else {
      reply = route(req, services, caller, connection.encrypted);
    }
    // A client that stops reading a long reply is cut after this, holding no
    // more than its socket's buffers and one chunk of the file meanwhile.
    tcp_layer.expires_after(kWriteTimeout);
    boost::system::error_code write_ec;
    bool keep_alive = false;
    if (auto* file = std::get_if<FileResponse>(&reply)) {
      keep_alive = file->keep_alive();
      std::tie(write_ec, std::ignore) = co_await http::async_write(stream, *file, asio::as_tuple(asio::use_awaitable));
    } else {
      auto& res = std::get<Response>(reply);
      keep_alive = res.keep_alive();
      std::tie(write_ec, std::ignore) = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    }
    if (write_ec) {
      spdlog::debug("http {}: reply not written: {}", peer, write_ec.message());
      break;
    }
    if (!keep_alive) break;
  }
  co_await finish(stream, peer_ended);
}

}  // namespace

asio::awaitable<void> serve_http(tcp::socket socket, ConnectionLimits::Slot slot, HttpServices& services) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  const auto endpoint = stream.socket().remote_endpoint(ec);
  Peer peer{ec ? "unknown peer" : endpoint.address().to_string() + ":" + std::to_string(endpoint.port()),
            endpoint.address(), false};
  if (services.tls == nullptr) {
    co_await serve_requests(stream, buffer, std::move(slot), services, peer);
    co_return;
  }
  // One port for both: a TLS ClientHello starts with a handshake record, HTTP with a method.
  stream.expires_after(kIdleTimeout);
  auto [detect_ec, is_tls] = co_await beast::async_detect_ssl(stream, buffer, asio::as_tuple(asio::use_awaitable));
  if (detect_ec) co_return;
  if (!is_tls) {
    co_await serve_requests(stream, buffer, std::move(slot), services, peer);
    co_return;
  }
  TlsStream tls(std::move(stream), *services.tls);
  auto [handshake_ec, used] =
      co_await tls.async_handshake(asio::ssl::stream_base::server, buffer.data(), asio::as_tuple(asio::use_awaitable));
  if (handshake_ec) {
    spdlog::debug("https {}: TLS handshake failed: {}", peer.name, handshake_ec.message());
    co_return;
  }
  buffer.consume(used);
  peer.encrypted = true;
  co_await serve_requests(tls, buffer, std::move(slot), services, peer);
}

}  // namespace micstream::server
