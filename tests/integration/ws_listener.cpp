#include "ws_listener.h"

#include "micstream/listener_audio.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <future>
#include <stdexcept>
#include <thread>

namespace micstream::itest {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

AudioMessage parse_audio_message(std::span<const std::uint8_t> bytes) {
  AudioMessage m;
  listener::Audio a;
  m.error = listener::decode_audio(bytes, a);
  if (m.error != Errc::ok) {
    m.payload.assign(bytes.begin(), bytes.end());
    return m;
  }
  m.codec = static_cast<std::uint8_t>(a.codec);
  m.channels = a.channels;
  m.sequence = a.sequence;
  m.first_sample = a.first_sample;
  m.capture_time_us = a.capture_server_us;
  m.sample_rate = a.sample_rate;
  m.sample_count = a.sample_count;
  m.payload.assign(a.payload.begin(), a.payload.end());
  return m;
}

struct WsListener::Impl {
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
  std::thread thread;
  bool stopped = false;  // run() returned (under mutex)

  // Only touched on the I/O thread.
  bool paused = false;
  bool reading = false;

  mutable std::mutex mutex;
  mutable std::condition_variable cv;
  std::vector<WsMessage> messages;
  std::size_t audio_count = 0;
  bool ended = false;
  std::optional<int> close_code;
  std::string end_reason;

  void start_read() {
    if (paused || reading) return;
    {
      std::lock_guard lock(mutex);
      if (ended) return;
    }
    reading = true;
    ws.async_read(buffer, [this](beast::error_code ec, std::size_t) { on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    reading = false;
    const std::int64_t steady = steady_us();
    const std::int64_t system = system_us();
    if (ec) {
      std::lock_guard lock(mutex);
      ended = true;
      end_reason = ec.message();
      if (ec == websocket::error::closed && !close_code) close_code = static_cast<int>(ws.reason().code);
      cv.notify_all();
      return;
    }
    WsMessage m;
    m.binary = ws.got_binary();
    m.steady_us = steady;
    m.system_us = system;
    const auto data = buffer.data();
    const auto* p = static_cast<const std::uint8_t*>(data.data());
    if (m.binary) {
      m.data.assign(p, p + data.size());
    } else {
      m.text.assign(reinterpret_cast<const char*>(p), data.size());
      m.json = nlohmann::json::parse(m.text, nullptr, /*allow_exceptions=*/false);
      if (m.json.is_discarded()) m.json = nullptr;
    }
    buffer.consume(buffer.size());
    {
      std::lock_guard lock(mutex);
      if (m.binary) ++audio_count;
      messages.push_back(std::move(m));
      cv.notify_all();
    }
    start_read();
  }

  void hard_close() {
    beast::error_code ec;
    beast::get_lowest_layer(ws).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws).socket().close(ec);
  }
};

WsListener::WsListener(std::uint16_t http_port, ListenerOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& im = *impl_;
  auto& sock = beast::get_lowest_layer(im.ws).socket();
  sock.open(tcp::v4());
  if (options.receive_buffer > 0) sock.set_option(net::socket_base::receive_buffer_size(options.receive_buffer));
  if (options.max_segment > 0) {
    sock.set_option(net::detail::socket_option::integer<IPPROTO_TCP, TCP_MAXSEG>(options.max_segment));
  }
  sock.set_option(tcp::no_delay(true));

  im.thread = std::thread([&im] {
    im.ioc.run();
    std::lock_guard lock(im.mutex);
    im.stopped = true;
    im.cv.notify_all();
  });

  std::promise<beast::error_code> connected;
  auto connected_future = connected.get_future();
  const tcp::endpoint endpoint(net::ip::make_address_v4("127.0.0.1"), http_port);
  const std::string host = "127.0.0.1:" + std::to_string(http_port);
  net::post(im.ioc, [&im, &connected, endpoint, host, options] {
    beast::get_lowest_layer(im.ws).expires_after(options.connect_timeout);
    beast::get_lowest_layer(im.ws).async_connect(endpoint, [&im, &connected, host, options](beast::error_code ec) {
      if (ec) {
        connected.set_value(ec);
        return;
      }
      beast::get_lowest_layer(im.ws).expires_never();
      websocket::stream_base::timeout t{};
      t.handshake_timeout = options.connect_timeout;
      t.idle_timeout = websocket::stream_base::none();
      t.keep_alive_pings = false;
      im.ws.set_option(t);
      im.ws.set_option(websocket::stream_base::decorator([headers = options.headers](websocket::request_type& req) {
        req.set(beast::http::field::user_agent, "micstream-itest");
        for (const auto& [name, value] : headers) req.set(name, value);
      }));
      // A close frame is recorded when it arrives, even if the TCP teardown
      // after it fails (a server that closes without waiting for our answer).
      im.ws.control_callback([&im](websocket::frame_type kind, beast::string_view) {
        if (kind != websocket::frame_type::close) return;
        std::lock_guard lock(im.mutex);
        im.close_code = static_cast<int>(im.ws.reason().code);
      });
      im.ws.async_handshake(host, options.target,
                            [&connected](beast::error_code hec) { connected.set_value(hec); });
    });
  });

  std::string failure;
  if (connected_future.wait_for(options.connect_timeout + 1s) != std::future_status::ready) {
    failure = "timed out";
  } else if (auto ec = connected_future.get()) {
    failure = ec.message();
  }
  if (!failure.empty()) {
    net::post(im.ioc, [&im] { im.hard_close(); });
    im.work.reset();
    im.ioc.stop();
    im.thread.join();
    throw std::runtime_error("WebSocket connect to " + host + options.target + " failed: " + failure);
  }
  beast::error_code ec;
  auto local = sock.local_endpoint(ec);
  local_port_ = local.port();
  net::post(im.ioc, [&im] { im.start_read(); });
}

WsListener::~WsListener() {
  Impl& im = *impl_;
  net::post(im.ioc, [&im] { im.hard_close(); });
  im.work.reset();
  // The close aborts any outstanding operation, after which run() runs out of work.
  {
    std::unique_lock lock(im.mutex);
    im.cv.wait_for(lock, 2s, [&im] { return im.stopped; });
  }
  im.ioc.stop();
  im.thread.join();
}

void WsListener::pause_reading() {
  std::promise<void> done;
  net::post(impl_->ioc, [this, &done] {
    impl_->paused = true;
    done.set_value();
  });
  done.get_future().wait();
}

void WsListener::resume_reading() {
  net::post(impl_->ioc, [this] {
    impl_->paused = false;
    impl_->start_read();
  });
}

bool WsListener::send_text(const std::string& text, Millis timeout) {
  auto message = std::make_shared<std::string>(text);
  auto done = std::make_shared<std::promise<bool>>();
  auto future = done->get_future();
  net::post(impl_->ioc, [this, message, done] {
    impl_->ws.text(true);
    impl_->ws.async_write(net::buffer(*message),
                          [message, done](beast::error_code ec, std::size_t) { done->set_value(!ec); });
  });
  if (future.wait_for(timeout) != std::future_status::ready) return false;
  return future.get();
}

void WsListener::close() {
  net::post(impl_->ioc, [this] {
    impl_->ws.async_close(websocket::close_code::normal, [](beast::error_code) {});
  });
}

std::vector<WsMessage> WsListener::messages() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->messages;
}

std::vector<AudioMessage> WsListener::audio() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<AudioMessage> out;
  out.reserve(impl_->audio_count);
  for (const auto& m : impl_->messages) {
    if (!m.binary) continue;
    AudioMessage a = parse_audio_message(m.data);  // a broken one stays visible, with its error
    a.steady_us = m.steady_us;
    a.system_us = m.system_us;
    out.push_back(std::move(a));
  }
  return out;
}

std::size_t WsListener::audio_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->audio_count;
}

std::vector<nlohmann::json> WsListener::texts(const std::string& type) const {
  std::lock_guard lock(impl_->mutex);
  std::vector<nlohmann::json> out;
  for (const auto& m : impl_->messages) {
    if (m.binary) continue;
    if (!type.empty() && !(m.json.is_object() && m.json.value("type", std::string()) == type)) continue;
    out.push_back(m.json);
  }
  return out;
}

bool WsListener::wait(const std::function<bool(const std::vector<WsMessage>&)>& pred, Millis timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->cv.wait_for(lock, timeout, [&] { return pred(impl_->messages); });
}

bool WsListener::wait_audio_count(std::size_t n, Millis timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->audio_count >= n; });
}

std::optional<nlohmann::json> WsListener::wait_text(const std::string& type, Millis timeout,
                                                    const std::function<bool(const nlohmann::json&)>& pred) const {
  std::optional<nlohmann::json> found;
  wait(
      [&](const std::vector<WsMessage>& msgs) {
        for (const auto& m : msgs) {
          if (m.binary || !m.json.is_object() || m.json.value("type", std::string()) != type) continue;
          if (pred && !pred(m.json)) continue;
          found = m.json;
          return true;
        }
        return false;
      },
      timeout);
  return found;
}

bool WsListener::ended() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->ended;
}

bool WsListener::wait_ended(Millis timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->ended; });
}

std::optional<int> WsListener::close_code() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->close_code;
}

std::string WsListener::end_reason() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->end_reason;
}

}  // namespace micstream::itest
