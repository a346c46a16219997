#include "link_session.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "micstream/auth.h"

namespace micstream::device {

namespace {

std::string errno_text(int error) { return std::strerror(error); }

std::string seconds_text(std::uint64_t us) { return fmt::format("{:.1f} s", static_cast<double>(us) / 1e6); }

// The server's frames, like ours, are a few hundred bytes: one read usually
// holds several, and a bound on reads per wakeup keeps a flood from starving
// the capture schedule.
constexpr std::size_t kReadChunk = 4096;
constexpr int kMaxReadsPerWakeup = 16;

}  // namespace

LinkSession::LinkSession(LinkOptions options, LinkCallbacks callbacks, const DeviceClock& clock,
                         std::shared_ptr<spdlog::logger> log)
    : options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      clock_(clock),
      log_(std::move(log)),
      backoff_(options_.backoff),
      send_buffer_(options_.send_buffer_bytes) {
  // A bracketed IPv6 literal reads unambiguously next to its port.
  const bool ipv6 = options_.host.find(':') != std::string::npos;
  server_ = ipv6 ? "[" + options_.host + "]:" + options_.port : options_.host + ":" + options_.port;
}

LinkSession::~LinkSession() { close_socket(); }

void LinkSession::start() {
  if (state_ != State::idle) return;
  attempt_connect();
}

void LinkSession::stop() {
  close_socket();
  state_ = State::idle;
}

short LinkSession::poll_events() const {
  switch (state_) {
    case State::connecting: return POLLOUT;
    case State::awaiting_welcome:
    case State::streaming: return static_cast<short>(POLLIN | (send_buffer_.pending() > 0 ? POLLOUT : 0));
    case State::idle:
    case State::waiting: return 0;
  }
  return 0;
}

std::uint64_t LinkSession::next_deadline_us() const {
  switch (state_) {
    case State::idle: return std::numeric_limits<std::uint64_t>::max();
    case State::waiting:
    case State::connecting:
    case State::awaiting_welcome: return deadline_us_;
    case State::streaming:
      return std::min({next_ping_us_, next_stats_us_, last_receive_us_ + options_.silence_timeout_us});
  }
  return std::numeric_limits<std::uint64_t>::max();
}

void LinkSession::on_time() {
  const std::uint64_t now = clock_.now_us();
  switch (state_) {
    case State::idle: return;
    case State::waiting:
      if (now >= deadline_us_) attempt_connect();
      return;
    case State::connecting:
      if (now >= deadline_us_) {
        close_socket();
        last_connect_error_ = "timed out after " + seconds_text(options_.connect_timeout_us);
        std::string error;
        if (!connect_next_address(error)) fail("cannot connect to " + server_ + ": " + error);
      }
      return;
    case State::awaiting_welcome:
      if (now >= deadline_us_) {
        protocol_violation(Errc::timeout, "no WELCOME within " + seconds_text(options_.welcome_timeout_us));
      }
      return;
    case State::streaming:
      if (now >= last_receive_us_ + options_.silence_timeout_us) {
        protocol_violation(Errc::timeout, "server silent for " + seconds_text(options_.silence_timeout_us));
        return;
      }
      if (now >= next_ping_us_) send_ping();
      if (now >= next_stats_us_) send_stats();
      flush();
      return;
  }
}

void LinkSession::on_poll(short revents) {
  if (revents == 0) return;
  if (state_ == State::connecting) {
    if ((revents & (POLLOUT | POLLERR | POLLHUP)) != 0) finish_connect();
    return;
  }
  if (state_ != State::awaiting_welcome && state_ != State::streaming) return;
  // POLLHUP/POLLERR: the read that follows reports why (EOF or the socket error).
  if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0) on_readable();
  flush();
}

std::span<std::uint8_t> LinkSession::reserve_audio(std::size_t frame_size) {
  if (state_ != State::streaming) return {};
  if (send_buffer_.free_space() < frame_size + options_.control_reserve_bytes) {
    if (!audio_overflow_logged_) {
      log_->warn("the link to {} is not keeping up ({} bytes unsent): dropping audio until it drains", server_,
                 send_buffer_.pending());
      audio_overflow_logged_ = true;
    }
    return {};
  }
  return send_buffer_.reserve(frame_size);
}

void LinkSession::commit_audio(std::size_t frame_size) {
  send_buffer_.commit(frame_size);
  flush();
}

// --- connecting -----------------------------------------------------------

void LinkSession::attempt_connect() {
  std::string error;
  if (!resolve(error)) {
    fail("cannot resolve " + options_.host + ": " + error);
    return;
  }
  if (!connect_next_address(error)) fail("cannot connect to " + server_ + ": " + error);
}

bool LinkSession::resolve(std::string& error) {
  // Resolved again on every attempt so a server that moved is found. This
  // blocks, but only for names that are not literals or in /etc/hosts.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(options_.host.c_str(), options_.port.c_str(), &hints, &list);
  if (rc != 0) {
    error = rc == EAI_SYSTEM ? errno_text(errno) : ::gai_strerror(rc);
    return false;
  }
  addresses_.clear();
  for (const addrinfo* a = list; a != nullptr; a = a->ai_next) {
    Address address{};
    std::memcpy(&address.storage, a->ai_addr, a->ai_addrlen);
    address.size = a->ai_addrlen;
    addresses_.push_back(address);
  }
  ::freeaddrinfo(list);
  next_address_ = 0;
  last_connect_error_ = "no address";
  return true;
}

// Tries the resolved addresses in order ("localhost" may be ::1 first while
// the server listens on 127.0.0.1 only). False when none is left.
bool LinkSession::connect_next_address(std::string& error) {
  while (next_address_ < addresses_.size()) {
    const Address& address = addresses_[next_address_++];
    const int fd = ::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) {
      last_connect_error_ = errno_text(errno);
      continue;
    }
    // Frames are small and due every few ms; Nagle would hold them back.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (options_.socket_send_buffer_bytes > 0) {
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &options_.socket_send_buffer_bytes,
                   sizeof options_.socket_send_buffer_bytes);
    }
    fd_ = fd;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.size) == 0) {
      on_connected();
      return true;
    }
    // EINTR: a signal interrupted the call, but the connection goes on in the background.
    if (errno == EINPROGRESS || errno == EINTR) {
      state_ = State::connecting;
      deadline_us_ = clock_.now_us() + options_.connect_timeout_us;
      return true;
    }
    last_connect_error_ = errno_text(errno);
    close_socket();
  }
  error = last_connect_error_;
  return false;
}

void LinkSession::finish_connect() {
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
  if (error == 0) {
    on_connected();
    return;
  }
  last_connect_error_ = errno_text(error);
  close_socket();
  std::string message;
  if (!connect_next_address(message)) fail("cannot connect to " + server_ + ": " + message);
}

void LinkSession::on_connected() {
  state_ = State::awaiting_welcome;
  deadline_us_ = clock_.now_us() + options_.welcome_timeout_us;
  last_receive_us_ = clock_.now_us();
  accepted_ = false;
  server_error_ = Errc::ok;
  audio_overflow_logged_ = false;
  parser_.reset();
  send_buffer_.clear();
  log_->debug("TCP connection to {} up, waiting for WELCOME", server_);
}

// --- receiving ------------------------------------------------------------

void LinkSession::on_readable() {
  std::array<std::uint8_t, kReadChunk> chunk;
  for (int reads = 0; reads < kMaxReadsPerWakeup; ++reads) {
    const ssize_t n = ::recv(fd_, chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      fail("lost the link to " + server_ + ": " + errno_text(errno));
      return;
    }
    if (n == 0) {
      fail("lost the link to " + server_ + ": the server closed the connection");
      return;
    }
    last_receive_us_ = clock_.now_us();
    std::span<const std::uint8_t> rest(chunk.data(), static_cast<std::size_t>(n));
    while (!rest.empty()) {
      const auto step = parser_.feed(rest);
      rest = rest.subspan(step.consumed);
      if (step.status == proto::FrameParser::Status::error) {
        protocol_violation(parser_.error(), std::string("bad frame: ") + error_message(parser_.error()));
        return;
      }
      if (step.status == proto::FrameParser::Status::frame) {
        handle_frame(parser_.frame());
        // The frame may have ended this link (ERROR, a bad field); its remaining bytes are moot.
        if (fd_ < 0) return;
      }
    }
  }
}

void LinkSession::handle_frame(const proto::FrameView& frame) {
  using proto::FrameType;
  if (frame.type == FrameType::error) {
    handle_error(frame);
    return;
  }
  if (state_ == State::awaiting_welcome) {
    if (frame.type == FrameType::welcome) {
      handle_welcome(frame);
    } else {
      protocol_violation(Errc::unexpected_frame,
                         std::string("expected WELCOME, got ") + proto::frame_type_name(frame.type));
    }
    return;
  }
  switch (frame.type) {
    case FrameType::pong: handle_pong(frame); return;
    case FrameType::config: handle_config(frame); return;
    default:
      protocol_violation(Errc::unexpected_frame,
                         std::string(proto::frame_type_name(frame.type)) + " is not allowed from the server here");
      return;
  }
}

void LinkSession::handle_welcome(const proto::FrameView& frame) {
  proto::Welcome welcome;
  if (const Errc e = proto::decode(frame.payload, welcome); e != Errc::ok) {
    protocol_violation(e, std::string("bad WELCOME: ") + error_message(e));
    return;
  }
  const StreamFormat format = callbacks_.stream_format();
  proto::Hello hello;
  hello.codec = format.codec;
  hello.channels = format.channels;
  hello.samples_per_frame = format.samples_per_frame;
  hello.sample_rate = format.sample_rate;
  (void)hello.device_id.assign(options_.device_id);
  (void)hello.firmware_version.assign(options_.firmware_version);
  if (const Errc e = compute_proof(options_.secret, welcome.nonce, options_.device_id, hello.proof); e != Errc::ok) {
    // Only crypto_failure is the server's business; a bad id or secret is
    // ours and check_options() keeps it from getting this far.
    if (e == Errc::crypto_failure) {
      protocol_violation(e, "cannot compute the HELLO proof");
    } else {
      fail(std::string("cannot compute the HELLO proof: ") + error_message(e), spdlog::level::err);
    }
    return;
  }
  if (!send_control(hello)) {  // cannot happen: the buffer is empty after connecting
    fail("cannot queue HELLO", spdlog::level::err);
    return;
  }
  state_ = State::streaming;
  hello_format_ = format;
  const std::uint64_t now = clock_.now_us();
  pings_this_link_ = 0;
  next_stats_us_ = now + options_.stats_interval_us;
  log_->debug("sent HELLO to {}", server_);
  send_ping();  // the first PING goes out right behind HELLO
}

void LinkSession::handle_pong(const proto::FrameView& frame) {
  proto::Pong pong;
  if (const Errc e = proto::decode(frame.payload, pong); e != Errc::ok) {
    protocol_violation(e, std::string("bad PONG: ") + error_message(e));
    return;
  }
  const std::uint64_t t3 = clock_.now_us();
  if (!clock_sync_.add(pong.device_time_us, pong.server_receive_us, pong.server_send_us, t3)) {
    log_->debug("PONG {} has inconsistent times; ignored", pong.id);
  }
  if (!accepted_) {
    // The server answers PING only once it accepted HELLO, so only now is
    // the device connected: a link the server refuses is no reconnect.
    accepted_ = true;
    ++connections_;
    const StreamFormat& f = hello_format_;
    log_->info("connected to {} as {}: {} Hz, {} channel(s), {} samples a frame, {}{}", server_, options_.device_id,
               f.sample_rate, f.channels, f.samples_per_frame, codec_name(f.codec),
               connections_ > 1 ? fmt::format(" (reconnect {})", connections_ - 1) : std::string());
  }
}

void LinkSession::handle_config(const proto::FrameView& frame) {
  proto::Config config;
  if (const Errc e = proto::decode(frame.payload, config); e != Errc::ok) {
    protocol_violation(e, std::string("bad CONFIG: ") + error_message(e));
    return;
  }
  if (callbacks_.on_config) callbacks_.on_config(config);
}

void LinkSession::handle_error(const proto::FrameView& frame) {
  proto::ErrorMessage message;
  const Errc decoded = proto::decode(frame.payload, message);
  std::string text;
  if (decoded != Errc::ok) {
    text = std::string("a malformed ERROR (") + error_message(decoded) + ")";
  } else {
    const auto code = static_cast<std::uint16_t>(message.code);
    // A code this build does not know is logged by number: a newer server may send it.
    text = is_known_errc(code)
               ? fmt::format("ERROR {} {} ({})", code, error_name(message.code), error_message(message.code))
               : fmt::format("ERROR {} (a code this device does not know)", code);
    if (!message.reason.empty()) text += fmt::format(": \"{}\"", message.reason.view());
    server_error_ = message.code;
  }
  fail(server_ + " sent " + text, spdlog::level::err);
}

// --- sending --------------------------------------------------------------

template <class Message>
bool LinkSession::send_control(const Message& message) {
  // Control frames are tiny: encoding them aside and copying is simpler than
  // reserving their exact size before knowing it.
  std::array<std::uint8_t, 256> frame;
  const auto encoded = proto::encode(message, frame);
  if (!encoded) {
    log_->error("cannot encode a frame: {}", error_message(encoded.error));
    return false;
  }
  auto room = send_buffer_.reserve(encoded.value);
  if (room.empty()) return false;
  std::copy_n(frame.begin(), encoded.value, room.begin());
  send_buffer_.commit(encoded.value);
  return true;
}

void LinkSession::send_ping() {
  const std::uint64_t now = clock_.now_us();
  proto::Ping ping;
  ping.id = next_ping_id_++;
  ping.device_time_us = now;
  ping.clock_offset_us = clock_sync_.offset_us();
  // 0 means "no estimate" on the wire, so a real one measured as 0 µs goes as 1.
  ping.rtt_us = clock_sync_.has_estimate() ? std::max<std::uint32_t>(clock_sync_.rtt_us(), 1) : proto::kRttUnknown;
  if (!send_control(ping)) log_->debug("send buffer full: PING {} skipped", ping.id);
  ++pings_this_link_;
  next_ping_us_ = now + (pings_this_link_ < options_.initial_pings ? options_.initial_ping_interval_us
                                                                   : options_.ping_interval_us);
}

void LinkSession::send_stats() {
  proto::Stats stats = callbacks_.stats ? callbacks_.stats() : proto::Stats{};
  stats.reconnects = reconnects();
  if (!send_control(stats)) log_->debug("send buffer full: STATS skipped");
  next_stats_us_ += options_.stats_interval_us;
  // After a long stall, do not send a burst of STATS to catch up.
  const std::uint64_t now = clock_.now_us();
  if (next_stats_us_ <= now) next_stats_us_ = now + options_.stats_interval_us;
}

void LinkSession::flush() {
  if (fd_ < 0 || (state_ != State::awaiting_welcome && state_ != State::streaming)) return;
  if (const int error = send_buffer_.flush(fd_); error != 0) fail("lost the link to " + server_ + ": " + errno_text(error));
}

// --- failing --------------------------------------------------------------

void LinkSession::protocol_violation(Errc code, const std::string& detail) {
  if (fd_ >= 0) {
    // Best effort: say why before closing, as the protocol asks; a full buffer
    // or a dead socket just means the server learns it from the close.
    proto::ErrorMessage message;
    message.code = code;
    (void)message.reason.assign(std::string_view(detail).substr(0, proto::kMaxErrorReasonLength));
    if (send_control(message)) (void)send_buffer_.flush(fd_);
  }
  fail("dropping the link to " + server_ + ": " + detail, spdlog::level::err);
}

void LinkSession::fail(const std::string& what, spdlog::level::level_enum level) {
  close_socket();
  // A link the server accepted is a success and restarts the delay at its
  // minimum. Except when another connection with our id took over: returning
  // at once would only start a fight, so that keeps growing the delay.
  if (accepted_ && server_error_ != Errc::replaced) backoff_.reset();
  accepted_ = false;
  const std::uint64_t delay_us = std::uint64_t{backoff_.next_delay_ms(random_())} * kUsPerMs;
  state_ = State::waiting;
  deadline_us_ = clock_.now_us() + delay_us;
  log_->log(level, "{}; retrying in {}", what, seconds_text(delay_us));
}

void LinkSession::close_socket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  send_buffer_.clear();
  parser_.reset();
}

}  // namespace micstream::device
