// The HTTP side of port 2000: the page's static files, the REST API, the
// Prometheus metrics, and the upgrade of /ws to a listener session.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl/context.hpp>

#include "admission.h"

namespace micstream::server {

class Access;
class Hub;
class RequestGuard;
class StaticFolder;
class TlsIdentity;

/// What the HTTP side serves; the folders are null when not configured.
struct HttpServices {
  Hub& hub;
  const RequestGuard& guard;
  Access& access;
  const StaticFolder* page = nullptr;      ///< --web-root
  const StaticFolder* firmware = nullptr;  ///< --firmware-dir, at /firmware/
  boost::asio::ssl::context* tls = nullptr;      ///< HTTPS on the same port, when configured
  const TlsIdentity* tls_identity = nullptr;     ///< its certificates (the CA offered at /ca.crt)
};

/// Serves one HTTP connection until it closes or upgrades to a WebSocket;
/// slot is its place under the port's connection limits.
boost::asio::awaitable<void> serve_http(boost::asio::ip::tcp::socket socket, ConnectionLimits::Slot slot,
                                        HttpServices& services);

}  // namespace micstream::server
