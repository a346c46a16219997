// The HTTP side of port 2000: the page's static files, the REST API, the
// Prometheus metrics, and the upgrade of /ws to a listener session.
#pragma once

#include <boost/asio.hpp>

namespace micstream::server {

class Hub;
class RequestGuard;
class StaticFolder;

/// What the HTTP side serves; the folders are null when not configured.
struct HttpServices {
  Hub& hub;
  const RequestGuard& guard;
  const StaticFolder* page = nullptr;      ///< --web-root
  const StaticFolder* firmware = nullptr;  ///< --firmware-dir, at /firmware/
};

/// Serves one HTTP connection until it closes or upgrades to a WebSocket.
boost::asio::awaitable<void> serve_http(boost::asio::ip::tcp::socket socket, HttpServices& services);

}  // namespace micstream::server
