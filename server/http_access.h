// Who may call what on the HTTP port, and how a refusal is said: the one
// table of endpoint owners (need_of), the answers to a caller without the
// right (401 with or without a Basic challenge, 403, 429, 503), the login
// endpoint and its cookie, and what plain http still serves once https is on.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "access.h"
#include "http_reply.h"

namespace micstream::server {

/// What the endpoint of req (at path) asks of its caller.
[[nodiscard]] Need need_of(const Request& req, std::string_view path);
/// The answer to a caller who may not do what need asks.
[[nodiscard]] Response refuse(const Request& req, const Identity& caller, Need need);
/// GET /api/session's answer.
[[nodiscard]] nlohmann::json session_json(const Identity& caller, bool has_accounts);
/// The session cookie (an empty token with max_age 0 ends it); Secure over TLS.
[[nodiscard]] std::string session_cookie(std::string_view token, std::chrono::seconds max_age, bool encrypted);
/// POST /api/login.
boost::asio::awaitable<Response> post_login(const Request& req, Access& access, const boost::asio::ip::address& peer,
                                            bool encrypted);
/// With https on: whether a plain-http request is still served as it is.
[[nodiscard]] bool served_in_the_clear(const Request& req, std::string_view path);
/// 308 to the same URL over https.
[[nodiscard]] Response redirect_to_https(const Request& req);

}  // namespace micstream::server
