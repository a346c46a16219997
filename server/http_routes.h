// What the HTTP port answers, request by request: the guard every request
// passes first (Host, Origin, the body's type) and the route to the REST API,
// the metrics, the CA, the firmware and the page's files. The connection
// itself (reading, access, the WebSocket upgrade) is http_request_loop.h's.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "http_reply.h"
#include "stream_encoder.h"

namespace micstream::server {

struct HttpServices;
class Hub;
class Identity;
struct User;
class RequestGuard;

/// Host, Origin and, for changes, a JSON body: what no foreign page or
/// rebound name can send (RequestGuard). nullopt: the request may go on.
[[nodiscard]] std::optional<Response> guard_request(const Request& req, const RequestGuard& guard);

/// The answer to an allowed request that is not a WebSocket upgrade nor a
/// login (those wait on the network or the KDF: the request loop's).
[[nodiscard]] Reply route(const Request& req, const HttpServices& services, const Identity& caller, bool encrypted);

/// Where the standard streams are: /stream/<device id>.<wav|opus|mp3>.
inline constexpr std::string_view kStreamPathPrefix = "/stream/";

struct StreamRequest {
  std::string device_id;
  StreamFormat format;
};
/// A GET or HEAD of a standard stream: what to stream, or the refusal.
[[nodiscard]] std::variant<StreamRequest, Response> stream_request(const Request& req, std::string_view path,
                                                                   const Hub& hub, const User& user);
/// The header of a standard stream's response (its body is chunked, endless).
[[nodiscard]] boost::beast::http::response<boost::beast::http::empty_body> stream_response_header(const Request& req,
                                                                                                 StreamFormat format);

/// The value of `name` in the target's query, raw; empty when absent.
[[nodiscard]] std::string query_param(std::string_view target, std::string_view name);

/// What a peer sent, for a log line: at most 200 characters, control
/// characters and non-ASCII shown as '?'.
[[nodiscard]] std::string printable(std::string_view text);

/// An error body's first line, for a log line.
[[nodiscard]] std::string_view trim_newline(std::string_view body);

}  // namespace micstream::server
