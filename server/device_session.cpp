#include "device_session.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "clock.h"
#include "device_stream.h"
#include "device_tls.h"
#include "hub.h"
#include "micstream/auth.h"
#include "secrets.h"
#include "spawn.h"

namespace micstream::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr auto kErrorFlushGrace = std::chrono::seconds(2);  // a peer that will not read its ERROR is cut after this
// PONGs, CONFIG and ERROR a device has not read yet; one that sends PINGs
// and never reads is cut here rather than growing the server.
constexpr std::size_t kMaxOutboxBytes = 64 * 1024;

template <class Message>
std::string encode_frame(const Message& m) {
  std::array<std::uint8_t, proto::kMaxFrameSize> buffer{};
  const auto r = proto::encode(m, buffer);
  return r ? std::string(reinterpret_cast<const char*>(buffer.data()), r.value) : std::string();
}

// Reasons travel in ERROR frames: printable ASCII, at most the field's size.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, proto::kMaxErrorReasonLength)) out.push_back(c >= 0x20 && c <= 0x7E ? c : '?');
  return out;
}
}  // namespace

DeviceSession::DeviceSession(tcp::socket socket, ConnectionLimits::Slot slot, Hub& hub, const Secrets& secrets,
                             HelloThrottle& throttle, asio::ssl::context* tls)
    : transport_(std::move(socket)),
      tls_(tls),
      slot_(std::move(slot)),
      hub_(hub),
      secrets_(secrets),
      throttle_(throttle),
      deadline_(transport_.get_executor()) {
  boost::system::error_code ec;
  const auto endpoint = transport_.socket().remote_endpoint(ec);
  address_ = ec ? std::string("unknown") : address_key(endpoint.address());
  peer_ = ec ? std::string("unknown peer") : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  transport_.socket().set_option(tcp::no_delay(true), ec);
}

DeviceSession::~DeviceSession() {
  if (registered_) hub_.remove_device_session(*this);
}

std::string DeviceSession::who() const {
  return stream_ ? "device " + stream_->id() + " (" + peer_ + ")" : "device link " + peer_;
}

void DeviceSession::start() {
  hub_.add_device_session(*this);
  registered_ = true;
  ++hub_.metrics().device_connections;
  spdlog::info("device link {} opened", peer_);
  extend_deadline(hub_.options().hello_timeout_ms);  // the TLS handshake counts against it too
  spawn(transport_.get_executor(), [self = shared_from_this()] { return self->watchdog(); }, "watching " + who());
  spawn(transport_.get_executor(), [self = shared_from_this()] { return self->open_link(); }, "opening " + who());
}

// Every link starts with a plain WELCOME: a plain v1 device answers it with
// HELLO; a TLS device reads past it and starts a TLS-PSK handshake, inside
// which the session starts afresh (docs/protocol.md, "TLS"). No guessing by
// timing, and plain devices see exactly what they always did.
asio::awaitable<void> DeviceSession::open_link() {
  auto self = shared_from_this();
  const Options& options = hub_.options();
  link_ready_ = true;
  send_welcome_now();
  if (closed_ || tls_ == nullptr) co_return co_await read_loop();
  const FirstByte first = co_await first_byte();
  if (closed_) co_return;
  if (first == FirstByte::tls) {
    link_ready_ = false;
    transport_.start_tls(*tls_);
    auto [ec] = co_await transport_.tls()->async_handshake(asio::ssl::stream_base::server,
                                                            asio::as_tuple(asio::use_awaitable));
    if (closed_) co_return;
    if (ec) {
      // A wrong or unknown key is what a guesser (or a rogue client) makes: counted and budgeted.
      ++hub_.metrics().auth_failures;
      throttle_.by_address.record_failure(address_, std::chrono::steady_clock::now());
      if (throttle_.log.allow(std::chrono::steady_clock::now())) {
        const std::size_t held_back = throttle_.log.take_suppressed();
        spdlog::warn("{} refused: TLS handshake failed ({}): a wrong secret, an unknown id, or not a device{}", who(),
                     ec.message(), held_back ? fmt::format(" ({} similar lines not logged)", held_back) : "");
      }
      close_now();
      co_return;
    }
    tls_identity_ = psk_identity(*transport_.tls());
    spdlog::info("{}: TLS link for device {}", who(), tls_identity_);
    link_ready_ = true;
    send_welcome();  // a fresh nonce, inside TLS
  } else if (first == FirstByte::plain && !(options.allow_plain_devices || options.allow_unknown_devices)) {
    fail(Errc::tls_required, "this server takes TLS links only (docs/protocol.md, \"TLS\")");
  }
  co_await read_loop();
}

// The device's first byte, peeked (left for whoever reads next); none when
// the link closes or the HELLO deadline ends it first.
asio::awaitable<DeviceSession::FirstByte> DeviceSession::first_byte() {
  auto& socket = transport_.socket();
  auto [ec] = co_await socket.async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return FirstByte::none;
  unsigned char first = 0;
  const std::size_t n = socket.receive(asio::buffer(&first, 1), tcp::socket::message_peek, ec);
  if (ec || n != 1) co_return FirstByte::none;
  co_return first == kTlsHandshakeRecord ? FirstByte::tls : FirstByte::plain;
}

// The plain WELCOME, written at once: a fresh socket's buffer always takes
// it, and nothing may be in flight when the link turns to TLS.
void DeviceSession::send_welcome_now() {
  const std::string welcome = make_welcome();
  if (welcome.empty()) return;
  boost::system::error_code ec;
  auto& socket = transport_.socket();
  socket.non_blocking(true, ec);
  const std::size_t n = ec ? 0 : socket.write_some(asio::buffer(welcome), ec);
  if (ec || n != welcome.size()) {
    spdlog::info("{}: WELCOME not sent: {}", who(), ec ? ec.message() : "short write");
    close_now();
  }
}

std::string DeviceSession::make_welcome() {
  if (RAND_bytes(nonce_, sizeof nonce_) != 1) {
    fail(Errc::crypto_failure, "could not draw a nonce");
    return {};
  }
  proto::Welcome welcome;
  std::copy(std::begin(nonce_), std::end(nonce_), welcome.nonce);
  welcome.server_time_us = now_unix_us();
  return encode_frame(welcome);
}

void DeviceSession::send_welcome() { send(make_welcome()); }

void DeviceSession::extend_deadline(std::uint32_t ms) {
  deadline_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  // The watchdog re-arms itself for a later deadline when it wakes; an earlier
  // one (HELLO accepted: the idle limit replaces a longer HELLO limit) wakes it now.
  if (deadline_at_ < deadline_.expiry()) deadline_.cancel();
}

asio::awaitable<void> DeviceSession::watchdog() {
  auto self = shared_from_this();
  while (!closed_) {
    deadline_.expires_at(deadline_at_);
    co_await deadline_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (closed_) break;
    if (std::chrono::steady_clock::now() < deadline_at_) continue;  // extended meanwhile
    if (closing_) {
      close_now();
    } else if (stream_) {
      fail(Errc::timeout, "no frame for " + std::to_string(hub_.options().device_idle_timeout_ms) + " ms");
    } else {
      fail(Errc::timeout, "no HELLO within " + std::to_string(hub_.options().hello_timeout_ms) + " ms");
    }
  }
}

asio::awaitable<void> DeviceSession::read_loop() {
  auto self = shared_from_this();
  std::array<std::uint8_t, 16384> buffer{};
  while (!closing_) {
    auto [ec, n] = co_await transport_.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (!closing_) {
        const bool mid_frame = !parser_.idle();
        spdlog::info("{} closed by the peer: {}{}", who(), ec == asio::error::eof ? "end of stream" : ec.message(),
                     mid_frame ? " (in the middle of a frame)" : "");
      }
      break;
    }
    const std::uint64_t arrival_us = now_unix_us();
    const auto arrived = std::chrono::steady_clock::now();
    hub_.metrics().bytes_in += n;
    std::span<const std::uint8_t> data(buffer.data(), n);
    while (!data.empty() && !closing_) {
      const auto step = parser_.feed(data);
      data = data.subspan(step.consumed);
      if (step.status == proto::FrameParser::Status::error) {
        ++hub_.metrics().parse_errors;
        fail(parser_.error(), error_message(parser_.error()));
      } else if (step.status == proto::FrameParser::Status::frame) {
        handle(parser_.frame(), arrival_us, arrived);
      }
    }
  }
  if (stream_) hub_.device_disconnected(*this, *stream_);
  stream_ = nullptr;
  if (!closing_) close_now();
}

void DeviceSession::handle(const proto::FrameView& frame, std::uint64_t arrival_us,
                           std::chrono::steady_clock::time_point arrived) {
  // A frame that is whole but whose fields are wrong costs the link, like a framing error.
  const auto decode_or_fail = [&](auto& message) {
    const Errc e = proto::decode(frame.payload, message);
    if (e == Errc::ok) return true;
    ++hub_.metrics().parse_errors;
    fail(e, std::string(proto::frame_type_name(frame.type)) + ": " + error_message(e));
    return false;
  };
  if (frame.type != proto::FrameType::hello && frame.type != proto::FrameType::error && stream_ == nullptr) {
    fail(Errc::unexpected_frame, std::string(proto::frame_type_name(frame.type)) + " before HELLO");
    return;
  }
  switch (frame.type) {
    case proto::FrameType::hello: {
      proto::Hello hello;
      if (stream_) {
        fail(Errc::unexpected_frame, "a second HELLO");
      } else if (decode_or_fail(hello)) {
        on_hello(hello);
      }
      return;
    }
    case proto::FrameType::audio: {
      proto::Audio audio;
      if (decode_or_fail(audio)) on_audio(audio, proto::kHeaderSize + frame.payload.size(), arrival_us, arrived);
      break;
    }
    case proto::FrameType::stats: {
      proto::Stats stats;
      if (decode_or_fail(stats)) stream_->on_stats(stats, hub_.metrics());
      break;
    }
    case proto::FrameType::ping: {
      proto::Ping ping;
      if (decode_or_fail(ping)) on_ping(ping, arrival_us);
      break;
    }
    case proto::FrameType::error: {
      proto::ErrorMessage error;
      if (decode_or_fail(error)) {
        spdlog::warn("{} reports error {} ({}): {}", who(), static_cast<int>(error.code), error_name(error.code),
                     error.reason.view());
        closing_ = true;
        close_now();
      }
      return;
    }
    case proto::FrameType::welcome:
    case proto::FrameType::pong:
    case proto::FrameType::config:
      fail(Errc::unexpected_frame, std::string(proto::frame_type_name(frame.type)) + " is a server-to-device frame");
      return;
  }
  if (!closing_) extend_deadline(hub_.options().device_idle_timeout_ms);
}

void DeviceSession::on_hello(const proto::Hello& hello) {
  const std::string id(hello.device_id.view());
  if (transport_.encrypted() && id != tls_identity_) {
    ++hub_.metrics().auth_failures;
    fail(Errc::auth_failed, "HELLO names device " + id + " but the TLS link was made with " + tls_identity_ + "'s key");
    return;
  }
  const std::string* secret = secrets_.find(id);
  const auto now = std::chrono::steady_clock::now();
  bool proven = false;
  if (secret != nullptr && throttle_.by_id.blocked(id, now) && throttle_.proven_address[id] != address_) {
    ++hub_.metrics().auth_failures;
    fail(Errc::auth_failed, "too many failed HELLOs for device " + id + " in the last minute; try again later");
    return;
  }
  if (secret != nullptr) {
    std::uint8_t expected[proto::kProofSize];
    const auto key = std::span(reinterpret_cast<const std::uint8_t*>(secret->data()), secret->size());
    if (compute_proof(key, nonce_, id, expected) != Errc::ok) {
      fail(Errc::crypto_failure, "could not compute the proof");
      return;
    }
    if (!proofs_equal(expected, hello.proof)) {
      ++hub_.metrics().auth_failures;
      throttle_.by_id.record_failure(id, now);
      throttle_.by_address.record_failure(address_, now);
      fail(Errc::auth_failed, "wrong proof for device " + id + ": its secret differs from the server's");
      return;
    }
    proven = true;
    throttle_.proven_address[id] = address_;
  } else if (!hub_.options().allow_unknown_devices) {
    ++hub_.metrics().auth_failures;
    throttle_.by_address.record_failure(address_, now);
    fail(Errc::unknown_device, "no secret is configured for device " + id);
    return;
  } else if (hub_.has_live_link(id)) {
    // Without a secret nothing tells the real device from another: the link
    // that has the id keeps it (a device that lost its link gets it back
    // once the old one times out).
    fail(Errc::unknown_device, "device " + id + " is online on another link; an id without a secret cannot be taken over");
    return;
  } else if (!hub_.make_room_for_unregistered(id)) {
    fail(Errc::unknown_device, "too many devices without a secret are online (--max-unregistered-devices)");
    return;
  }
  DeviceStream& stream = hub_.stream(id);
  stream.connected(hello, peer_, transport_.encrypted(), now_unix_us());
  stream_ = &stream;
  channels_ = hello.channels;
  hub_.device_connected(*this, stream);
  spdlog::info("{} {}: {} {} Hz, {} ch, {} samples a frame, firmware '{}'", who(),
               proven ? "authenticated" : "accepted without a secret (--allow-unknown-devices)", codec_name(hello.codec),
               hello.sample_rate, hello.channels, hello.samples_per_frame, hello.firmware_version.view());
  extend_deadline(hub_.options().device_idle_timeout_ms);
}

void DeviceSession::on_audio(const proto::Audio& audio, std::size_t frame_bytes, std::uint64_t arrival_us,
                             std::chrono::steady_clock::time_point arrived) {
  if (audio.header.channels != channels_) {
    fail(Errc::invalid_value, "AUDIO has " + std::to_string(audio.header.channels) + " channels, HELLO said " +
                                  std::to_string(channels_));
    return;
  }
  const auto capture = static_cast<std::int64_t>(audio.header.capture_time_us);
  const std::int64_t observed = static_cast<std::int64_t>(arrival_us) - capture;
  if (!observed_offset_us_ || observed < *observed_offset_us_) observed_offset_us_ = observed;
  const std::int64_t offset = reported_offset_us_.value_or(*observed_offset_us_);
  const Codec before = stream_->params().codec;
  stream_->on_audio(audio, frame_bytes, capture + offset, arrival_us, arrived, hub_.options().opus_bitrate,
                    hub_.metrics());
  if (stream_->params().codec != before) hub_.stream_changed(*stream_);
}

void DeviceSession::on_ping(const proto::Ping& ping, std::uint64_t arrival_us) {
  if (ping.rtt_us != proto::kRttUnknown) reported_offset_us_ = ping.clock_offset_us;
  const std::int64_t observed = static_cast<std::int64_t>(arrival_us) - static_cast<std::int64_t>(ping.device_time_us);
  if (!observed_offset_us_ || observed < *observed_offset_us_) observed_offset_us_ = observed;
  proto::Pong pong{ping.id, ping.device_time_us, arrival_us, now_unix_us()};
  send(encode_frame(pong));
}

void DeviceSession::send_config(const proto::Config& config) {
  spdlog::info("{}: sending CONFIG{}{}{}", who(),
               config.has_gain ? fmt::format(" gain {:+.2f} dB", config.gain_cdb / 100.0) : std::string(),
               config.has_codec ? std::string(" codec ") + codec_name(config.codec) : std::string(),
               config.check_update ? " check-update" : "");
  send(encode_frame(config));
}

void DeviceSession::fail(Errc code, std::string_view reason) {
  if (closing_ || closed_) return;
  if (!link_ready_) {  // mid-handshake: no frame can be written, the link just ends
    spdlog::warn("{} closed: {}", who(), reason);
    close_now();
    return;
  }
  closing_ = true;
  // Refused HELLOs are what a flood or a guesser makes: their lines are budgeted.
  const bool refused_hello = code == Errc::auth_failed || code == Errc::unknown_device;
  if (!refused_hello || throttle_.log.allow(std::chrono::steady_clock::now())) {
    const std::size_t held_back = refused_hello ? throttle_.log.take_suppressed() : 0;
    spdlog::warn("{} refused: {} ({}): {}{}", who(), error_name(code), static_cast<int>(code), reason,
                 held_back ? fmt::format(" ({} similar lines not logged)", held_back) : std::string());
  }
  proto::ErrorMessage error;
  error.code = code;
  (void)error.reason.assign(printable(reason));
  send(encode_frame(error));
  deadline_at_ = std::chrono::steady_clock::now() + kErrorFlushGrace;
  deadline_.cancel();  // re-arm the watchdog at the grace deadline
}

void DeviceSession::send(std::string bytes) {
  if (closed_ || bytes.empty()) return;
  if (outbox_bytes_ + bytes.size() > kMaxOutboxBytes) {
    ++hub_.metrics().peers_cut;
    spdlog::warn("{} cut: it does not read what the server sends ({} bytes waiting)", who(), outbox_bytes_);
    close_now();
    return;
  }
  outbox_bytes_ += bytes.size();
  outbox_.push_back(std::move(bytes));
  write_next();
}

void DeviceSession::write_next() {
  if (writing_ || closed_ || !link_ready_) return;
  if (outbox_.empty()) {
    if (closing_) close_now();
    return;
  }
  writing_ = true;
  asio::async_write(transport_, asio::buffer(outbox_.front()),
                    [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                      self->writing_ = false;
                      self->outbox_bytes_ -= self->outbox_.front().size();
                      self->outbox_.pop_front();
                      if (ec) {
                        self->closing_ = true;
                        self->close_now();
                        return;
                      }
                      self->write_next();
                    });
}

void DeviceSession::close_now() {
  if (closed_) return;
  closed_ = true;
  closing_ = true;
  boost::system::error_code ignored;
  transport_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  transport_.close();
  deadline_.cancel();
}

}  // namespace micstream::server
