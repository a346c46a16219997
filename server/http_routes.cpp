#include "http_routes.h"

#include <cmath>
#include <variant>

#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "access.h"
#include "clock.h"
#include "http_access.h"
#include "http_session.h"
#include "hub.h"
#include "json_text.h"
#include "request_guard.h"
#include "static_files.h"
#include "tls_identity.h"

namespace micstream::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

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

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 200)) out.push_back(c >= 0x20 && c <= 0x7E ? c : '?');
  return out;
}

std::string_view trim_newline(std::string_view body) { return body.substr(0, body.find('\n')); }

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

std::variant<StreamRequest, Response> stream_request(const Request& req, std::string_view path, const Hub& hub,
                                                    const User& user) {
  const std::string_view name = path.substr(kStreamPathPrefix.size());
  const auto dot = name.rfind('.');
  const auto format = dot == std::string_view::npos ? std::nullopt : format_from_extension(name.substr(dot + 1));
  if (!format) {
    return error_response(req, http::status::not_found, "streams are /stream/<device id>.wav, .opus and .mp3");
  }
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res = error_response(req, http::status::method_not_allowed, "a stream takes GET or HEAD");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  if (req.version() < 11) {
    return error_response(req, http::status::http_version_not_supported, "a stream needs HTTP/1.1 (its body is chunked)");
  }
  const std::string device_id(name.substr(0, dot));
  if (auto refusal = hub.check_stream_request(user, device_id)) {
    auto res = error_response(req, static_cast<http::status>(refusal->status), refusal->reason);
    if (refusal->status == 503) res.set(http::field::retry_after, "5");
    return res;
  }
  return StreamRequest{device_id, *format};
}

http::response<http::empty_body> stream_response_header(const Request& req, StreamFormat format) {
  http::response<http::empty_body> res{http::status::ok, req.version()};
  set_common_headers(res.base());
  res.set(http::field::content_type, format_info(format).content_type);
  res.set(http::field::cache_control, "no-store");
  res.chunked(true);
  res.keep_alive(false);  // endless: the connection ends with it
  return res;
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
                                   {"listeners", hub.listener_count()},
                                   {"stream_listeners", hub.stream_listener_count()}};
    return make_response(req, http::status::ok, json_text(health) + "\n", "application/json");
  }
  if (path == "/metrics") {
    return make_response(req, http::status::ok,
                         hub.metrics().render(hub.gauges()),
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
}  // namespace micstream::server
