#include "http_stream_session.h"

#include <spdlog/spdlog.h>

#include "device_stream.h"
#include "hub.h"
#include "spawn.h"
#include "standard_stream.h"

namespace micstream::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr std::size_t kMaxChunksPerWrite = 64;
constexpr auto kStallCheckTick = std::chrono::seconds(1);
// After the last chunk, the client has this long to close its side before the server does.
constexpr auto kEndGrace = std::chrono::seconds(5);
// A stream's client has nothing to say after its request; what it sends is
// read and dropped, up to this much.
constexpr std::size_t kMaxIgnoredBytes = 64 * 1024;
}

HttpStreamSession::HttpStreamSession(Transport transport, ConnectionLimits::Slot slot, Hub& hub, std::string peer,
                                     StreamFormat format)
    : transport_(std::move(transport)),
      slot_(std::move(slot)),
      hub_(hub),
      peer_(std::move(peer)),
      format_(format),
      last_progress_at_(std::chrono::steady_clock::now()),
      stall_timer_(transport_.get_executor()) {
  boost::system::error_code ec;
  transport_.socket().set_option(tcp::no_delay(true), ec);
}

HttpStreamSession::~HttpStreamSession() { finish(); }

void HttpStreamSession::start(const std::string& device_id) {
  spdlog::info("stream listener {} connected to {}.{}", peer_, device_id, format_info(format_).extension);
  std::string error;
  if (!hub_.add_http_stream(*this, device_id, error)) end(error);
  spawn(transport_.get_executor(), [self = shared_from_this()] { return self->read_loop(); }, "reading stream listener " + peer_);
  spawn(transport_.get_executor(), [self = shared_from_this()] { return self->watch_stall(); }, "watching stream listener " + peer_);
}

void HttpStreamSession::deliver(const std::shared_ptr<const std::string>& chunk, std::uint32_t audio_us,
                                std::chrono::steady_clock::time_point arrived) {
  if (ending_ || closed_) return;
  if (audio_us > 0) ++hub_.metrics().frames_out;
  outbox_.push({chunk, audio_us, arrived});
  if (outbox_.audio_us() > std::uint64_t{hub_.options().stream_queue_ms} * 1000) {
    const std::size_t dropped = outbox_.skip_to_live();
    skipped_total_ += dropped;
    hub_.metrics().dropped_listener_skip += dropped;
    spdlog::debug("stream listener {} fell behind: skipped {} chunks to live ({} in all)", peer_, dropped, skipped_total_);
  }
  write_next();
}

void HttpStreamSession::end(std::string_view reason) {
  if (ending_ || closed_) return;
  spdlog::info("stream listener {}: the stream ends: {}", peer_, reason);
  ending_ = true;
  outbox_.drop_audio();
  outbox_.push({std::make_shared<const std::string>(kLastHttpChunk)});
  write_next();
}

void HttpStreamSession::write_next() {
  if (writing_ || closed_ || outbox_.empty()) return;
  writing_ = true;
  const auto& buffers = outbox_.start_write(kMaxChunksPerWrite);
  asio::async_write(transport_, buffers, [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
    const auto now = std::chrono::steady_clock::now();
    self->writing_ = false;
    self->outbox_.write_done(!ec, n, now, self->hub_.metrics());
    self->last_progress_at_ = now;
    if (ec) {
      if (ec != asio::error::operation_aborted) spdlog::info("stream listener {} write failed: {}", self->peer_, ec.message());
      self->close_now();
      return;
    }
    if (self->ending_ && self->outbox_.empty()) {
      self->transport_.finish_sending();  // the read loop sees the client's end of stream and ends the session
      return;
    }
    self->write_next();
  });
}

// Once a second: a client whose socket has taken nothing for the stall limit
// is cut, and one that keeps the connection open after the body ended is closed.
asio::awaitable<void> HttpStreamSession::watch_stall() {
  auto self = shared_from_this();
  const auto stall_limit = std::chrono::milliseconds(hub_.options().listener_stall_ms);
  while (!closed_) {
    stall_timer_.expires_after(kStallCheckTick);
    co_await stall_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (closed_) break;
    const auto now = std::chrono::steady_clock::now();
    if (writing_ && now - last_progress_at_ > stall_limit) {
      ++hub_.metrics().listener_disconnects_slow;
      spdlog::info("stream listener {} too slow: behind for longer than the stall limit, cut", peer_);
      close_now();
    } else if (ending_ && !writing_ && outbox_.empty() && now - last_progress_at_ > kEndGrace) {
      close_now();
    }
  }
}

asio::awaitable<void> HttpStreamSession::read_loop() {
  auto self = shared_from_this();
  std::array<char, 2048> buffer{};
  std::size_t ignored = 0;
  for (;;) {
    auto [ec, n] = co_await transport_.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::eof && !writing_) co_await transport_.answer_end_of_stream();
    if (ec) break;
    ignored += n;
    if (ignored > kMaxIgnoredBytes) {
      ++hub_.metrics().peers_cut;
      spdlog::info("stream listener {} sent {} bytes after its request, cut", peer_, ignored);
      break;
    }
  }
  close_now();
  spdlog::info("stream listener {} disconnected after skipping {} chunks", peer_, skipped_total_);
  finish();
}

void HttpStreamSession::close_now() {
  if (closed_) return;
  closed_ = true;
  transport_.close();  // cancels the read loop and any write in flight
  stall_timer_.cancel();
}

void HttpStreamSession::finish() {
  if (finished_) return;
  finished_ = true;
  closed_ = true;
  hub_.remove_http_stream(*this);
}

}  // namespace micstream::server
