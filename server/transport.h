// The byte stream under a session: plain TCP, or TLS (a listener whose page
// was opened over https, a device on a TLS-PSK link). An asio AsyncReadStream
// and AsyncWriteStream, so a session reads and writes the same way over either.
#pragma once

#include <utility>
#include <variant>

#include <boost/asio.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace micstream::server {

using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

class Transport {
 public:
  using executor_type = boost::asio::any_io_executor;

  explicit Transport(boost::asio::ip::tcp::socket socket) : stream_(std::move(socket)) {}
  explicit Transport(TlsStream stream) : stream_(std::move(stream)) {}

  executor_type get_executor() {
    return std::visit([](auto& s) -> executor_type { return s.get_executor(); }, stream_);
  }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return std::visit([&](auto& s) { return s.async_read_some(buffers, std::forward<Token>(token)); }, stream_);
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return std::visit([&](auto& s) { return s.async_write_some(buffers, std::forward<Token>(token)); }, stream_);
  }

  /// The TCP socket at the bottom, for addresses and options.
  boost::asio::ip::tcp::socket& socket() {
    if (auto* plain = std::get_if<boost::asio::ip::tcp::socket>(&stream_)) return *plain;
    return std::get<TlsStream>(stream_).next_layer().socket();
  }
  [[nodiscard]] bool encrypted() const { return std::holds_alternative<TlsStream>(stream_); }
  /// The TLS stream, or nullptr on plain TCP.
  TlsStream* tls() { return std::get_if<TlsStream>(&stream_); }

  /// Plain TCP becomes TLS (the handshake is the caller's to do).
  void start_tls(boost::asio::ssl::context& context) {
    auto& plain = std::get<boost::asio::ip::tcp::socket>(stream_);
    boost::beast::tcp_stream tcp(std::move(plain));
    stream_.emplace<TlsStream>(std::move(tcp), context);
  }

  /// After a goodbye (a WebSocket close frame): plain TCP half-closes so the
  /// peer's own goodbye and end of stream still arrive. TLS leaves the socket as it is (a
  /// close_notify would need a read of its own); the read loop ends it.
  void finish_sending() {
    boost::system::error_code ignored;
    if (!encrypted()) socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  }
  /// The peer has ended its side (its close_notify arrived): answer with
  /// ours, so a careful TLS client sees a clean end, within a second.
  boost::asio::awaitable<void> answer_end_of_stream() {
    auto* tls = std::get_if<TlsStream>(&stream_);
    if (tls == nullptr) co_return;
    tls->next_layer().expires_after(std::chrono::seconds(1));
    co_await tls->async_shutdown(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  void close() {
    boost::system::error_code ignored;
    socket().close(ignored);
  }

 private:
  std::variant<boost::asio::ip::tcp::socket, TlsStream> stream_;
};

}  // namespace micstream::server
