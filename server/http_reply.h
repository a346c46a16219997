// The HTTP port's replies: the message types, the headers every reply
// carries (cross-origin isolation for the page's shared memory, no sniffing),
// and the JSON error body every refusal uses.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include <boost/beast/http.hpp>

namespace micstream::server {

inline constexpr const char* kServerName = "micstream-server " MICSTREAM_VERSION;

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using FileResponse = boost::beast::http::response<boost::beast::http::file_body>;
using Reply = std::variant<Response, FileResponse>;

void set_common_headers(boost::beast::http::response_header<>& header);
/// A reply to req (HEAD: the same headers, no body).
[[nodiscard]] Response make_response(const Request& req, boost::beast::http::status status, std::string body,
                                     std::string_view content_type);
/// {"error": message}
[[nodiscard]] Response error_response(const Request& req, boost::beast::http::status status, std::string message);

}  // namespace micstream::server
