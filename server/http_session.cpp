#include "http_session.h"

#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <spdlog/spdlog.h>

#include "http_requests.h"

namespace micstream::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;

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
  stream.expires_after(kHttpIdleTimeout);
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
