#include "server.h"

#include <optional>

#include <spdlog/spdlog.h>

#include "device_session.h"
#include "spawn.h"

namespace micstream::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto kStopGrace = std::chrono::seconds(2);  // for goodbyes to reach slow peers

tcp::acceptor open_acceptor(asio::io_context& io, const std::string& address, std::uint16_t port, const char* what) {
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) throw std::runtime_error(std::string("--bind: not an IP address: ") + address);
  const tcp::endpoint endpoint(ip, port);
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint, ec);
  if (ec) {
    throw std::runtime_error(std::string("cannot listen for ") + what + " on " + address + ":" + std::to_string(port) +
                             ": " + ec.message());
  }
  acceptor.listen(asio::socket_base::max_listen_connections);
  return acceptor;
}

// A connection already in the listen backlog, or none (never waits).
std::optional<tcp::socket> accept_waiting(tcp::acceptor& acceptor) {
  boost::system::error_code ec;
  acceptor.non_blocking(true, ec);
  tcp::socket socket = acceptor.accept(ec);
  if (ec) return std::nullopt;
  return socket;
}

}  // namespace

Server::Server(asio::io_context& io, const Options& options, Secrets secrets)
    : io_(io),
      options_(options),
      secrets_(std::move(secrets)),
      hub_(options_, metrics_),
      request_guard_(options.server_names),
      http_services_{hub_, request_guard_},
      ingest_acceptor_(open_acceptor(io, options.bind, options.ingest_port, "devices")),
      http_acceptor_(open_acceptor(io, options.bind, options.http_port, "HTTP")),
      signals_(io, SIGINT, SIGTERM),
      stop_timer_(io) {
  if (!options.web_root.empty()) http_services_.page = &page_.emplace(options.web_root);
  if (!options.firmware_dir.empty()) http_services_.firmware = &firmware_.emplace(options.firmware_dir);
}

void Server::start() {
  spawn(io_, accept_devices(), "accepting device links");
  spawn(io_, accept_http(), "accepting HTTP connections");
  signals_.async_wait([this](boost::system::error_code ec, int signal) {
    if (ec) return;
    spdlog::info("received {}, stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
    stop();
  });
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  boost::system::error_code ignored;
  ingest_acceptor_.close(ignored);
  http_acceptor_.close(ignored);
  signals_.cancel();
  hub_.shut_down();
  spawn(io_, drain(), "stopping");
}

// Sessions end as their goodbyes are written; whatever is still stuck after
// the grace period (a peer that stopped reading) is abandoned.
asio::awaitable<void> Server::drain() {
  const auto give_up = std::chrono::steady_clock::now() + kStopGrace;
  while (!hub_.idle() && std::chrono::steady_clock::now() < give_up) {
    stop_timer_.expires_after(std::chrono::milliseconds(20));
    co_await stop_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (!hub_.idle()) spdlog::info("stopping now; peers that did not take their goodbye are dropped");
  io_.stop();
}

void Server::serve(tcp::socket socket) {
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  std::string what = "HTTP connection " + (ec ? std::string("of an unknown peer") : peer.address().to_string() + ":" +
                                                                                      std::to_string(peer.port()));
  spawn(io_, serve_http(std::move(socket), http_services_), std::move(what));
}

asio::awaitable<void> Server::accept_devices() {
  while (!stopping_) {
    auto [ec, socket] = co_await ingest_acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (stopping_) break;
      spdlog::warn("accepting a device link failed: {}", ec.message());
      continue;
    }
    std::make_shared<DeviceSession>(std::move(socket), hub_, secrets_)->start();
    // Take every connection already waiting, not one an event-loop pass.
    while (auto more = accept_waiting(ingest_acceptor_)) {
      std::make_shared<DeviceSession>(std::move(*more), hub_, secrets_)->start();
    }
  }
}

asio::awaitable<void> Server::accept_http() {
  while (!stopping_) {
    auto [ec, socket] = co_await http_acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (stopping_) break;
      spdlog::warn("accepting an HTTP connection failed: {}", ec.message());
      continue;
    }
    serve(std::move(socket));
    while (auto more = accept_waiting(http_acceptor_)) serve(std::move(*more));
  }
}

}  // namespace micstream::server
