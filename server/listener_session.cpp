#include "listener_session.h"

#include <spdlog/spdlog.h>

#include "clock.h"
#include "device_stream.h"
#include "hub.h"
#include "listener_protocol.h"
#include "spawn.h"

namespace micstream::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr std::size_t kMaxFramesPerWrite = 64;  // one gather write catches a lagging listener up
// Everything waiting for one listener, audio or not: audio is bounded in time
// (--listener-queue-ms) already; this bounds what a client can make the
// server say by asking (pongs, errors) without reading the answers.
constexpr std::size_t kMaxQueuedBytes = 1024 * 1024;
constexpr auto kKeepaliveTick = std::chrono::seconds(1);
constexpr auto kPingAfterSilence = std::chrono::seconds(15);  // browsers answer pings by themselves
constexpr auto kSilenceLimit = std::chrono::seconds(45);
constexpr std::size_t kMaxPingIdLength = 64;
}

ListenerSession::ListenerSession(Transport transport, ConnectionLimits::Slot slot, Hub& hub, User user,
                                 std::string leftover)
    : transport_(std::move(transport)),
      slot_(std::move(slot)),
      hub_(hub),
      user_(std::move(user)),
      leftover_(std::move(leftover)),
      last_progress_at_(std::chrono::steady_clock::now()),
      last_heard_at_(last_progress_at_),
      keepalive_timer_(transport_.get_executor()) {
  boost::system::error_code ec;
  const auto endpoint = transport_.socket().remote_endpoint(ec);
  peer_ = ec ? std::string("unknown peer") : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  transport_.socket().set_option(tcp::no_delay(true), ec);
}

ListenerSession::~ListenerSession() { finish(); }

void ListenerSession::start(const std::string& device_id, WantedCodec codec) {
  wanted_codec_ = codec;
  hub_.add_listener(*this);
  spdlog::info("listener {} ({}) connected, subscribing to {}{}", peer_, user_.name,
               device_id.empty() ? "the first device" : device_id,
               codec == WantedCodec::opus ? " in Opus" : codec == WantedCodec::none ? " without audio" : "");
  send_json({{"type", "welcome"}, {"server", "micstream-server " MICSTREAM_VERSION}, {"server_time_us", now_unix_us()}});
  send_json(hub_.devices_message(user_));
  hub_.subscribe(*this, device_id);
  spawn(transport_.get_executor(), [self = shared_from_this()] { return self->read_loop(); }, "reading listener " + peer_);
  spawn(transport_.get_executor(), [self = shared_from_this()] { return self->keepalive(); }, "watching listener " + peer_);
}

void ListenerSession::deliver_audio(const std::shared_ptr<const std::string>& frame, std::uint32_t duration_us,
                                    std::chrono::steady_clock::time_point arrived) {
  if (closing_) return;  // (a stalled listener is cut by keepalive())
  ++hub_.metrics().frames_out;
  enqueue({frame, duration_us, arrived});
}

// Drops every waiting audio frame but the newest: the listener jumps to live
// instead of staying a queue's length behind.
void ListenerSession::skip_to_live() {
  const std::size_t dropped = outbox_.skip_to_live();
  if (dropped == 0) return;
  skipped_total_ += dropped;
  hub_.metrics().dropped_listener_skip += dropped;
  spdlog::debug("listener {} fell behind: skipped {} frames to live ({} in all)", peer_, dropped, skipped_total_);
  send_json({{"type", "skipped"}, {"frames", dropped}, {"total", skipped_total_}});
}

void ListenerSession::send(const std::shared_ptr<const std::string>& frame) {
  if (closing_) return;
  enqueue({frame, 0});
}

void ListenerSession::enqueue(AudioOutbox::Item item) {
  outbox_.push(std::move(item));
  if (outbox_.audio_us() > std::uint64_t{hub_.options().listener_queue_ms} * 1000) skip_to_live();
  if (outbox_.bytes() > kMaxQueuedBytes) {
    cut(fmt::format("listener floods: {} bytes of answers waiting that it does not read", outbox_.bytes()));
    return;
  }
  write_next();
}

// Too slow or too greedy to be owed even a close frame.
void ListenerSession::cut(std::string_view reason) {
  if (closing_) return;
  ++hub_.metrics().peers_cut;
  close(WsCloseCode::policy_violation, reason);
}

// Once a second: a listener whose socket has taken nothing for the stall
// limit is cut (whether or not audio is flowing to it: one whose writes
// complete is keeping up, even when a busy loop means its queue is rarely
// empty; falling behind is what skipping handles), and one that has said
// nothing, not even a pong, for kSilenceLimit is closed.
asio::awaitable<void> ListenerSession::keepalive() {
  auto self = shared_from_this();
  const auto stall_limit = std::chrono::milliseconds(hub_.options().listener_stall_ms);
  auto pinged_at = std::chrono::steady_clock::time_point{};
  while (!closing_) {
    keepalive_timer_.expires_after(kKeepaliveTick);
    co_await keepalive_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (closing_) break;
    const auto now = std::chrono::steady_clock::now();
    if (writing_ && now - last_progress_at_ > stall_limit) {
      ++hub_.metrics().listener_disconnects_slow;
      close(WsCloseCode::policy_violation, "listener too slow: behind for longer than the stall limit");
    } else if (now - last_heard_at_ > kSilenceLimit) {
      ++hub_.metrics().peers_cut;
      close(WsCloseCode::going_away, "no answer to pings");
    } else if (now - last_heard_at_ > kPingAfterSilence && now - pinged_at > kPingAfterSilence) {
      pinged_at = now;
      send(std::make_shared<const std::string>(make_ws_frame(WsOpcode::ping, {})));
    }
  }
}

void ListenerSession::send_json(const nlohmann::json& json) { send(build_text_frame(json)); }

void ListenerSession::write_next() {
  if (writing_ || outbox_.empty()) return;
  writing_ = true;
  const auto& buffers = outbox_.start_write(kMaxFramesPerWrite);
  asio::async_write(transport_, buffers, [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
    const auto now = std::chrono::steady_clock::now();
    self->writing_ = false;
    self->outbox_.write_done(!ec, n, now, self->hub_.metrics());
    self->last_progress_at_ = now;
    if (ec) {
      if (ec != asio::error::operation_aborted) spdlog::info("listener {} write failed: {}", self->peer_, ec.message());
      self->closing_ = true;
      self->transport_.close();
      return;
    }
    if (self->outbox_.empty()) {
      if (self->closing_) {
        // The close frame is out: let the read loop see the listener's own
        // close and end of stream (a clean close for browsers).
        self->transport_.finish_sending();
        return;
      }
    }
    self->write_next();
  });
}

void ListenerSession::close(WsCloseCode code, std::string_view reason) {
  if (closing_) return;
  spdlog::info("listener {} closed by server: {} ({})", peer_, reason, static_cast<int>(code));
  if (code == WsCloseCode::policy_violation) {
    // Too slow to take even a close frame: cut it.
    closing_ = true;
    transport_.close();
    return;
  }
  // Waiting audio is dropped; the close frame goes out after what is in flight.
  outbox_.drop_audio();
  outbox_.push({std::make_shared<const std::string>(make_ws_close(code, reason))});
  closing_ = true;
  write_next();
}

void ListenerSession::handle_text(std::string_view text) {
  const auto received_us = now_unix_us();
  const auto message = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const std::string type = message.is_object() ? message.value("type", std::string()) : std::string();
  if (type == "subscribe") {
    const auto codec = message.find("codec");
    if (codec != message.end()) {  // absent: as before
      const auto wanted = codec->is_string() ? wanted_codec_from_name(codec->get_ref<const std::string&>()) : std::nullopt;
      if (!wanted) {
        send_json({{"type", "error"}, {"message", "subscribe: codec must be \"device\", \"opus\" or \"none\""}});
        return;
      }
      wanted_codec_ = *wanted;
    }
    const auto device = message.find("device");
    if (device == message.end() || device->is_null()) {
      hub_.subscribe(*this, {});
    } else if (device->is_string()) {
      hub_.subscribe(*this, device->get<std::string>());
    } else {
      send_json({{"type", "error"}, {"message", "subscribe: device must be a string or null"}});
    }
  } else if (type == "ping") {
    const auto id = message.value("id", nlohmann::json());
    const bool id_ok = id.is_null() || id.is_number() || (id.is_string() && id.get_ref<const std::string&>().size() <= kMaxPingIdLength);
    const auto t0 = message.value("t0", nlohmann::json());
    if (!id_ok || !(t0.is_null() || t0.is_number())) {
      send_json({{"type", "error"}, {"message", "ping: id must be a number or a string of at most 64 bytes, t0 a number"}});
      return;
    }
    send_json({{"type", "pong"},
               {"id", message.value("id", nlohmann::json())},
               {"t0", message.value("t0", nlohmann::json())},
               {"t1", received_us},
               {"t2", now_unix_us()}});
  } else {
    send_json({{"type", "error"}, {"message", "unknown message; expected {\"type\": \"subscribe\"|\"ping\", ...}"}});
  }
}

asio::awaitable<void> ListenerSession::read_loop() {
  auto self = shared_from_this();
  std::array<std::uint8_t, 4096> buffer{};
  std::string pending = std::move(leftover_);
  for (;;) {
    std::span<const std::uint8_t> data(reinterpret_cast<const std::uint8_t*>(pending.data()), pending.size());
    while (!data.empty() && !closing_) {  // after a close, what the listener sends is discarded
      const auto step = reader_.feed(data);
      data = data.subspan(step.consumed);
      if (step.status == WsClientFrameReader::Status::error) {
        spdlog::info("listener {} sent a bad WebSocket frame: {}", peer_, reader_.error());
        close(reader_.error_close_code(), reader_.error());
      } else if (step.status == WsClientFrameReader::Status::frame) {
        switch (reader_.opcode()) {
          case WsOpcode::text: handle_text(reader_.payload()); break;
          case WsOpcode::ping: send(std::make_shared<const std::string>(make_ws_frame(WsOpcode::pong, reader_.payload()))); break;
          case WsOpcode::close: close(WsCloseCode::normal, "closed by the listener"); break;
          case WsOpcode::binary: close(WsCloseCode::unsupported_data, "binary messages are not accepted"); break;
          default: break;  // pong
        }
      }
    }
    // Reading goes on while closing, to the listener's end of stream.
    auto [ec, n] = co_await transport_.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::eof && !writing_) co_await transport_.answer_end_of_stream();
    if (ec) {
      // A TLS peer that closes without close_notify (browsers do) is an end of stream too.
      if (ec != asio::error::eof && ec != asio::error::operation_aborted && ec != asio::error::connection_reset &&
          ec != asio::ssl::error::stream_truncated) {
        spdlog::info("listener {} read failed: {}", peer_, ec.message());
      }
      break;
    }
    last_heard_at_ = std::chrono::steady_clock::now();
    pending.assign(reinterpret_cast<const char*>(buffer.data()), n);
  }
  transport_.close();  // cancels a write still in flight to a listener that is gone
  keepalive_timer_.cancel();  // so the session (and its connection slot) goes now
  spdlog::info("listener {} disconnected after skipping {} frames", peer_, skipped_total_);
  finish();
}

void ListenerSession::finish() {
  if (finished_) return;
  finished_ = true;
  closing_ = true;
  hub_.remove_listener(*this);
}

}  // namespace micstream::server
