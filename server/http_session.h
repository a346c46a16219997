// The HTTP side of port 2000: the page's static files, the REST API, the
// Prometheus metrics, and the upgrade of /ws to a listener session.
#pragma once

#include <boost/asio.hpp>

namespace micstream::server {

class Hub;

/// Serves one HTTP connection until it closes or upgrades to a WebSocket.
boost::asio::awaitable<void> serve_http(boost::asio::ip::tcp::socket socket, Hub& hub);

}  // namespace micstream::server
