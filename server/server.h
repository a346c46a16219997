// The server: the two listening ports, the hub, and a clean stop on SIGINT or
// SIGTERM (devices get ERROR shutting_down, listeners a close frame).
#pragma once

#include <boost/asio.hpp>

#include <optional>

#include "access.h"
#include "admission.h"
#include "http_session.h"
#include "hub.h"
#include "metrics.h"
#include "options.h"
#include "request_guard.h"
#include "secrets.h"
#include "static_files.h"
#include "tls_identity.h"

namespace micstream::server {

class Server {
 public:
  /// Binds both ports (throws std::system_error naming the address when it cannot).
  /// accounts: the users file's, nullopt for a server only its own machine may use.
  Server(boost::asio::io_context& io, const Options& options, Secrets secrets, std::optional<Accounts> accounts);

  [[nodiscard]] std::uint16_t http_port() const { return http_acceptor_.local_endpoint().port(); }
  [[nodiscard]] std::uint16_t ingest_port() const { return ingest_acceptor_.local_endpoint().port(); }

  /// Starts accepting; returns at once (the io_context runs everything).
  void start();
  /// Stops accepting and closes every session.
  void stop();

 private:
  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor, const char* what,
                                           void (Server::*on_accept)(boost::asio::ip::tcp::socket));
  void on_http_connection(boost::asio::ip::tcp::socket socket);
  void on_device_connection(boost::asio::ip::tcp::socket socket);
  void fit_limits_to_descriptors();
  void set_up_tls();
  boost::asio::awaitable<void> drain();

  boost::asio::io_context& io_;
  const Options& options_;
  Secrets secrets_;
  Metrics metrics_;
  Hub hub_;
  std::optional<StaticFolder> page_;
  std::optional<StaticFolder> firmware_;
  std::optional<TlsIdentity> tls_identity_;
  std::optional<boost::asio::ssl::context> tls_context_;  // outlives every TLS stream: the server does
  boost::asio::ssl::context device_tls_;                  // TLS-PSK on the device port (device_tls.h)
  ConnectionLimits http_limits_;
  ConnectionLimits device_limits_;
  HelloThrottle hello_throttle_;
  LogBudget refusal_log_{5, std::chrono::seconds(10)};
  RequestGuard request_guard_;
  Access access_;
  HttpServices http_services_;
  boost::asio::ip::tcp::acceptor ingest_acceptor_;
  boost::asio::ip::tcp::acceptor http_acceptor_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer stop_timer_;
  bool stopping_ = false;
};

}  // namespace micstream::server
