#include "server.h"

#include <sys/resource.h>

#include <algorithm>
#include <optional>

#include <spdlog/spdlog.h>

#include "device_session.h"
#include "device_tls.h"
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

}  // namespace

Server::Server(asio::io_context& io, const Options& options, Secrets secrets, std::optional<Accounts> accounts)
    : io_(io),
      options_(options),
      secrets_(std::move(secrets)),
      hub_(io.get_executor(), options_, metrics_, secrets_),
      device_tls_(make_device_tls_context(secrets_)),
      http_limits_(options.max_http_connections, options.max_http_per_address),
      device_limits_(options.max_device_links, options.max_device_links_per_address),
      request_guard_(options.server_names),
      access_(std::move(accounts)),
      http_services_{hub_, request_guard_, access_},
      ingest_acceptor_(open_acceptor(io, options.bind, options.ingest_port, "devices")),
      http_acceptor_(open_acceptor(io, options.bind, options.http_port, "HTTP")),
      signals_(io, SIGINT, SIGTERM),
      stop_timer_(io) {
  if (!options.web_root.empty()) http_services_.page = &page_.emplace(options.web_root);
  if (!options.firmware_dir.empty()) http_services_.firmware = &firmware_.emplace(options.firmware_dir);
  set_up_tls();
  fit_limits_to_descriptors();
}

void Server::set_up_tls() {
  if (!options_.tls_cert.empty()) {
    tls_identity_.emplace(TlsIdentity::load_files(options_.tls_cert, options_.tls_key));
    spdlog::info("https: certificate {} (SHA-256 {})", options_.tls_cert.string(),
                 tls_identity_->leaf_sha256_fingerprint());
  } else if (!options_.tls_dir.empty()) {
    ServerNames names = local_server_names();
    names.dns.insert(names.dns.end(), options_.server_names.begin(), options_.server_names.end());
    tls_identity_.emplace(TlsIdentity::load_or_create(options_.tls_dir, names));
    const TlsIdentity& id = *tls_identity_;
    spdlog::info("https: local CA in {}{}; trust it once on each phone from http://<this machine>:{}/ca.crt "
                 "(SHA-256 {}); server certificate {}(SHA-256 {})",
                 options_.tls_dir.string(), id.made_new_ca() ? " (new)" : "", http_port(), id.ca_sha256_fingerprint(),
                 id.made_new_leaf() ? "made now " : "", id.leaf_sha256_fingerprint());
  } else {
    if (!options_.users_file.empty()) {
      spdlog::warn("--users without https (--tls-dir or --tls-cert): passwords and session cookies cross the "
                   "network in the clear");
    }
    return;
  }
  http_services_.tls = &tls_context_.emplace(tls_identity_->make_server_context());
  http_services_.tls_identity = &*tls_identity_;
}

// Connections beyond the descriptor limit would fail at accept for everyone:
// raise the soft limit to the hard one, and if both ports' limits still do
// not fit, lower the HTTP side's so devices can always connect.
void Server::fit_limits_to_descriptors() {
  constexpr std::size_t kReserved = 64;  // log, listening sockets, files being served
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
    (void)::getrlimit(RLIMIT_NOFILE, &limit);
  }
  const std::size_t descriptors = limit.rlim_cur == RLIM_INFINITY ? SIZE_MAX : limit.rlim_cur;
  const std::size_t wanted = http_limits_.total_limit() + device_limits_.total_limit() + kReserved;
  if (wanted <= descriptors) return;
  const std::size_t for_http =
      descriptors > device_limits_.total_limit() + kReserved * 2 ? descriptors - device_limits_.total_limit() - kReserved : 16;
  spdlog::warn("only {} file descriptors (ulimit -n): at most {} HTTP connections instead of {}, so {} device links fit",
               descriptors, for_http, http_limits_.total_limit(), device_limits_.total_limit());
  http_limits_.set_total_limit(for_http);
}

void Server::start() {
  spawn(io_, accept_loop(ingest_acceptor_, "a device link", &Server::on_device_connection), "accepting device links");
  spawn(io_, accept_loop(http_acceptor_, "an HTTP connection", &Server::on_http_connection), "accepting HTTP connections");
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

// Accepts connections for as long as the server runs. Out of descriptors
// (EMFILE, ENFILE) it waits before trying again instead of spinning, and says
// so once per interval; it yields to the event loop after a batch, so a
// connect flood never starves the streams.
asio::awaitable<void> Server::accept_loop(tcp::acceptor& acceptor, const char* what, void (Server::*on_accept)(tcp::socket)) {
  constexpr std::size_t kBatch = 16;
  constexpr auto kMaxBackoff = std::chrono::seconds(1);
  LogBudget error_log(1, std::chrono::seconds(10));
  std::chrono::milliseconds backoff(0);
  asio::steady_timer pause(io_);
  while (!stopping_) {
    for (std::size_t i = 0; i < kBatch && !stopping_; ++i) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (stopping_) break;
      if (ec) {
        if (error_log.allow(std::chrono::steady_clock::now())) {
          spdlog::warn("accepting {} failed: {} ({} more such failures in the last interval); retrying", what,
                       ec.message(), error_log.take_suppressed());
        }
        backoff = std::min<std::chrono::milliseconds>(kMaxBackoff, std::max(backoff * 2, std::chrono::milliseconds(20)));
        pause.expires_after(backoff);
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        break;
      }
      backoff = std::chrono::milliseconds(0);
      (this->*on_accept)(std::move(socket));
    }
    co_await asio::post(io_, asio::use_awaitable);
  }
}

namespace {

// Said before closing a connection that is over a limit: a fresh socket's
// buffer always takes it, so this never waits.
void refuse_now(tcp::socket& socket, std::string_view goodbye) {
  boost::system::error_code ignored;
  socket.non_blocking(true, ignored);
  if (!goodbye.empty()) socket.write_some(asio::buffer(goodbye), ignored);
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

std::string peer_of(const tcp::socket& socket) {
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  return ec ? std::string("unknown peer") : peer.address().to_string() + ":" + std::to_string(peer.port());
}

}  // namespace

void Server::on_http_connection(tcp::socket socket) {
  boost::system::error_code ec;
  const auto address = socket.remote_endpoint(ec).address();
  if (ec) return;
  const char* why = nullptr;
  auto slot = http_limits_.admit(address, &why);
  if (!slot) {
    ++metrics_.connections_refused;
    if (refusal_log_.allow(std::chrono::steady_clock::now())) {
      spdlog::warn("HTTP connection {} refused: {} ({} more refusals not logged)", peer_of(socket), why,
                   refusal_log_.take_suppressed());
    }
    refuse_now(socket,
               "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n"
               "Connection: close\r\nRetry-After: 5\r\n\r\ntoo many connections\r\n");
    return;
  }
  std::string what = "HTTP connection " + peer_of(socket);
  spawn(io_, serve_http(std::move(socket), std::move(*slot), http_services_), std::move(what));
}

void Server::on_device_connection(tcp::socket socket) {
  boost::system::error_code ec;
  const auto address = socket.remote_endpoint(ec).address();
  if (ec) return;
  const auto now = std::chrono::steady_clock::now();
  const char* why = nullptr;
  std::optional<ConnectionLimits::Slot> slot;
  if (hello_throttle_.by_address.blocked(address_key(address), now)) {
    why = "too many failed HELLOs from this address in the last minute";
  } else {
    slot = device_limits_.admit(address, &why);
  }
  if (!slot) {
    ++metrics_.connections_refused;
    if (refusal_log_.allow(now)) {
      spdlog::warn("device link {} refused: {} ({} more refusals not logged)", peer_of(socket), why,
                   refusal_log_.take_suppressed());
    }
    refuse_now(socket, {});
    return;
  }
  std::make_shared<DeviceSession>(std::move(socket), std::move(*slot), hub_, secrets_, hello_throttle_, &device_tls_)
      ->start();
}

}  // namespace micstream::server
