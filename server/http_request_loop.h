// One HTTP connection's requests, plain or TLS, until it closes or upgrades
// to a listener session: the template both http_requests_plain.cpp and
// http_requests_tls.cpp instantiate, each in its own translation unit (Beast's
// templates make each one of the server's largest compiles). Included by
// those two files only.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <tuple>
#include <variant>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include "access.h"
#include "http_access.h"
#include "http_reply.h"
#include "http_requests.h"
#include "http_routes.h"
#include "http_session.h"
#include "hub.h"
#include "http_stream_session.h"
#include "listener_session.h"
#include "transport.h"

namespace micstream::server::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;

constexpr auto kWriteTimeout = std::chrono::seconds(60);
constexpr std::uint32_t kMaxRequestBytes = 16 * 1024;

inline Transport release_transport(beast::tcp_stream& stream) { return Transport(stream.release_socket()); }
inline Transport release_transport(TlsStream& stream) { return Transport(std::move(stream)); }

// The end of a connection. TLS answers a peer's close_notify with its own
// (a careful client reports a truncated stream otherwise); it does not start
// one, which would wait on a read of its own.
inline asio::awaitable<void> finish(beast::tcp_stream& stream, bool /*peer_ended*/) {
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  co_return;
}
inline asio::awaitable<void> finish(TlsStream& stream, bool peer_ended) {
  if (peer_ended) {
    stream.next_layer().expires_after(std::chrono::seconds(1));
    co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
  }
  boost::system::error_code ignored;
  stream.next_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
}

template <class Stream>
asio::awaitable<void> request_loop(Stream& stream, beast::flat_buffer& buffer, ConnectionLimits::Slot slot,
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
    tcp_layer.expires_after(kHttpIdleTimeout);
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
      if (path != "/ws") {
        auto res = error_response(req, http::status::not_found, "WebSocket endpoint is /ws");
        res.keep_alive(false);
        co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        break;
      }
      const std::string device = query_param(req.target(), "device");
      const std::string codec_name = query_param(req.target(), "codec");
      const auto codec = codec_name.empty() ? std::optional(WantedCodec::device) : wanted_codec_from_name(codec_name);
      if (!codec) {
        auto res = error_response(req, http::status::bad_request, "codec must be device, opus or none");
        res.keep_alive(false);
        co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        break;
      }
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
      session->start(device, *codec);
      co_return;
    }

    if (path.starts_with(kStreamPathPrefix)) {
      auto wanted = stream_request(req, path, hub, caller.user);
      if (auto* refusal = std::get_if<Response>(&wanted)) {
        refusal->keep_alive(false);
        co_await http::async_write(stream, *refusal, asio::as_tuple(asio::use_awaitable));
        break;
      }
      const auto& target = std::get<StreamRequest>(wanted);
      auto header = stream_response_header(req, target.format);
      http::response_serializer<http::empty_body> serializer(header);
      tcp_layer.expires_after(kWriteTimeout);
      auto [header_ec, header_bytes] =
          co_await http::async_write_header(stream, serializer, asio::as_tuple(asio::use_awaitable));
      if (header_ec || req.method() == http::verb::head) break;
      // From here on the session writes the chunks itself, each built once for all its listeners.
      tcp_layer.expires_never();
      auto session = std::make_shared<HttpStreamSession>(release_transport(stream), std::move(slot), hub, peer,
                                                         target.format);
      session->start(target.device_id);
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
}  // namespace micstream::server::detail
