#include "http_reply.h"

#include "json_text.h"

namespace micstream::server {

namespace http = boost::beast::http;

void set_common_headers(http::response_header<>& header) {
  header.set(http::field::server, kServerName);
  header.set(http::field::cache_control, "no-cache");
  // Cross-origin isolation lets the page's audio worklet share memory
  // (SharedArrayBuffer) with the page.
  header.set("Cross-Origin-Opener-Policy", "same-origin");
  header.set("Cross-Origin-Embedder-Policy", "require-corp");
  header.set("Cross-Origin-Resource-Policy", "same-origin");
  header.set("X-Content-Type-Options", "nosniff");
}

Response make_response(const Request& req, http::status status, std::string body, std::string_view content_type) {
  Response res{status, req.version()};
  set_common_headers(res.base());
  res.set(http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = req.method() == http::verb::head ? std::string() : std::move(body);
  res.content_length(req.method() == http::verb::head ? 0 : res.body().size());
  return res;
}

Response error_response(const Request& req, http::status status, std::string message) {
  return make_response(req, status, json_text({{"error", std::move(message)}}) + "\n", "application/json");
}

}  // namespace micstream::server
