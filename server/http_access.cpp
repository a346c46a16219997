#include "http_access.h"

#include <vector>

#include <boost/beast/websocket.hpp>

#include "http_routes.h"
#include "json_text.h"
#include "request_guard.h"

namespace micstream::server {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;

// Who may call what: the one table of the HTTP port's owners (docs/server.md,
// "Who may call what"). The page's files, /api/health, /api/session, the
// login and logout, /ca.crt and /firmware/ (devices fetch their updates) are open.
Need need_of(const Request& req, std::string_view path) {
  if (websocket::is_upgrade(req) || path == "/ws" || path == "/api/devices" || path.starts_with(kStreamPathPrefix)) {
    return Need::listen;
  }
  if (path == "/metrics" || (req.method() == http::verb::post && path.starts_with("/api/devices/"))) return Need::admin;
  return Need::anyone;
}

namespace {

// Browsers' own fetches say so (Sec-Fetch-Mode); only other clients and a
// page being opened get the Basic challenge, so the page never pops a dialog.
bool wants_basic_challenge(const Request& req) {
  const std::string_view mode = req["Sec-Fetch-Mode"];
  return mode.empty() || mode == "navigate";
}

}  // namespace

std::string session_cookie(std::string_view token, std::chrono::seconds max_age, bool encrypted) {
  return std::string(Access::kCookieName) + "=" + std::string(token) + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
         std::to_string(max_age.count()) + (encrypted ? "; Secure" : "");
}

// With HTTPS on, plain HTTP carries only what holds no secret and what must
// work before a phone trusts the CA: the CA itself, health, the devices'
// firmware downloads. A page opened as http://localhost keeps plain HTTP (a
// secure context already, and no network to cross). Everything else is sent
// to https.
bool served_in_the_clear(const Request& req, std::string_view path) {
  return RequestGuard::host_is_loopback(req[http::field::host]) || path == "/ca.crt" || path == "/api/health" ||
         path.starts_with("/firmware/");
}

Response redirect_to_https(const Request& req) {
  auto res = error_response(req, http::status::permanent_redirect, "this server is served over https");
  res.set(http::field::location, "https://" + std::string(req[http::field::host]) + std::string(req.target()));
  return res;
}

Response refuse(const Request& req, const Identity& caller, Need need) {
  using Status = Identity::Status;
  switch (caller.status) {
    case Status::ok:
      return error_response(req, http::status::forbidden,
                            "user " + caller.user.name + " may not " + (need == Need::admin ? "administer" : "listen") +
                                " (roles in the users file)");
    case Status::anonymous:
    case Status::unknown_session:
    case Status::wrong_credentials: {
      auto res = error_response(req, http::status::unauthorized,
                                caller.status == Status::anonymous         ? "log in first (POST /api/login, or Basic credentials)"
                                : caller.status == Status::unknown_session ? "the session has ended: log in again"
                                                                           : "wrong user name or password");
      if (wants_basic_challenge(req)) res.set(http::field::www_authenticate, R"(Basic realm="micstream", charset="UTF-8")");
      if (caller.status == Status::unknown_session) {
        res.set(http::field::set_cookie, session_cookie("", std::chrono::seconds(0), false));
      }
      return res;
    }
    case Status::throttled: {
      auto res = error_response(req, http::status::too_many_requests,
                                "too many failed logins from this address: wait a minute");
      res.set(http::field::retry_after, "60");
      return res;
    }
    case Status::busy: {
      auto res = error_response(req, http::status::service_unavailable, "too many logins at once: try again");
      res.set(http::field::retry_after, "1");
      return res;
    }
    case Status::remote_without_accounts:
      return error_response(req, http::status::forbidden,
                            "this server has no user accounts (--users), so only its own machine may use it; "
                            "see docs/server.md, \"Accounts\"");
  }
  return error_response(req, http::status::forbidden, "refused");
}

nlohmann::json session_json(const Identity& caller, bool has_accounts) {
  const User& user = caller.user;
  nlohmann::json devices = nullptr;
  if (user.devices) devices = nlohmann::json(std::vector<std::string>(user.devices->begin(), user.devices->end()));
  return {{"user", has_accounts ? nlohmann::json(user.name) : nlohmann::json(nullptr)},
          {"listen", user.can_listen},
          {"admin", user.can_admin},
          {"devices", devices},
          {"accounts", has_accounts}};
}

// POST /api/login {"user": "alice", "password": "..."}: a session cookie.
asio::awaitable<Response> post_login(const Request& req, Access& access, const asio::ip::address& peer,
                                     bool encrypted) {
  const auto body = nlohmann::json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
  const auto user = body.is_object() ? body.find("user") : body.end();
  const auto password = body.is_object() ? body.find("password") : body.end();
  if (!body.is_object() || user == body.end() || password == body.end() || !user->is_string() ||
      !password->is_string()) {
    co_return error_response(req, http::status::bad_request, R"(the body must be {"user": "...", "password": "..."})");
  }
  std::string name = user->get<std::string>();
  std::string secret = password->get<std::string>();
  LoginResult result = co_await access.login(std::move(name), std::move(secret), peer);
  if (!result.identity.ok()) co_return refuse(req, result.identity, Need::listen);
  auto res = make_response(req, http::status::ok, json_text(session_json(result.identity, true)) + "\n", "application/json");
  res.set(http::field::set_cookie, session_cookie(result.token, SessionStore::kMaxLifetime, encrypted));
  co_return res;
}

}  // namespace micstream::server
