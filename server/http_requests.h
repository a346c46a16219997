// The request loop of one HTTP connection, once in the clear and once over
// TLS (http_request_loop.h). serve_http (http_session.cpp) picks one.
#pragma once

#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "admission.h"
#include "transport.h"

namespace micstream::server {

struct HttpServices;

/// How long a connection may wait for its next request (and a TLS client
/// for its handshake) before it is closed.
inline constexpr auto kHttpIdleTimeout = std::chrono::seconds(30);

/// Who is at the other end of one HTTP connection.
struct Peer {
  std::string name;                       ///< address:port, for the log
  boost::asio::ip::address address;       ///< unspecified when unknown: no loopback rights
  bool encrypted = false;                 ///< came over TLS
};

/// Serves requests on `stream` (whose bytes so far are in `buffer`) until the
/// connection closes or upgrades to a listener session.
boost::asio::awaitable<void> serve_requests(boost::beast::tcp_stream& stream, boost::beast::flat_buffer& buffer,
                                            ConnectionLimits::Slot slot, HttpServices& services, const Peer& peer);
boost::asio::awaitable<void> serve_requests(TlsStream& stream, boost::beast::flat_buffer& buffer,
                                            ConnectionLimits::Slot slot, HttpServices& services, const Peer& peer);

}  // namespace micstream::server
