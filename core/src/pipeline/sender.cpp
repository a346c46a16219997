#include "micstream/pipeline/sender.h"

#include "micstream/auth.h"

namespace micstream::pipeline {

namespace {
constexpr std::uint32_t kMaxWaitMs = 20;  // the longest the task blocks on the queue between checks
constexpr std::uint64_t kUsPerMs = 1000;

std::uint32_t ms_until(std::uint64_t now_us, std::uint64_t at_us) {
  if (at_us <= now_us) return 0;
  const std::uint64_t ms = (at_us - now_us + kUsPerMs - 1) / kUsPerMs;
  return ms > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(ms);
}
}  // namespace

Sender::Sender(const SenderConfig& config, FrameQueue& queue, Capture& capture, Ports ports,
               std::span<std::uint8_t> tx_buffer)
    : config_(config),
      queue_(queue),
      capture_(capture),
      ports_(ports),
      tx_(tx_buffer),
      encoder_(config.codec, config.channels),
      backoff_(config.backoff) {}

Errc Sender::check() const {
  if (!proto::is_valid_device_id(config_.device_id.view())) return Errc::invalid_string;
  if (config_.secret.empty() || config_.secret.size() > kMaxSecretSize) return Errc::invalid_string;
  if (config_.channels == 0 || config_.channels > kMaxChannels || config_.samples_per_frame == 0) {
    return Errc::invalid_value;
  }
  if (config_.sample_rate < proto::kMinSampleRate || config_.sample_rate > proto::kMaxSampleRate) {
    return Errc::invalid_value;
  }
  const std::size_t needed = sender_buffer_size(config_.channels, config_.samples_per_frame);
  if (needed > proto::kMaxFrameSize) return Errc::frame_too_large;
  if (tx_.size() < needed) return Errc::buffer_too_small;
  return Errc::ok;
}

void Sender::run_once() {
  std::uint64_t now = ports_.clock.now_us();
  if (state_ == State::disconnected) {
    if (now < retry_at_us_) {
      // Capture goes on; the queue keeps the newest audio for when the link returns.
      const std::uint32_t wait = ms_until(now, retry_at_us_);
      ports_.clock.sleep_ms(wait < kMaxWaitMs ? wait : kMaxWaitMs);
      return;
    }
    handshake(now);
    return;
  }

  const std::uint64_t next_control = next_ping_us_ < next_stats_us_ ? next_ping_us_ : next_stats_us_;
  const std::uint32_t until_control = ms_until(now, next_control);
  const std::uint32_t wait = until_control < kMaxWaitMs ? until_control : kMaxWaitMs;
  if (pong_pending_ || !link_accepted_) {
    // Wait on the socket rather than the queue: a PONG read at once keeps the
    // round trip (and so the clock offset) honest, and until the server has
    // answered the first PING (it accepted HELLO) no audio goes out to be lost.
    if (!receive(wait)) return;
    if (!link_accepted_) {
      if (now - link_started_us_ > std::uint64_t{config_.welcome_timeout_ms} * kUsPerMs) {
        disconnect("the server did not answer HELLO", true, Errc::timeout);
      }
      return;
    }
  } else if (!receive(0)) {
    return;
  }
  if (const AudioFrame* frame = queue_.take(pong_pending_ ? 0 : wait)) {
    const bool sent = send_frame(*frame);
    queue_.release();
    if (!sent) return;
  }

  now = ports_.clock.now_us();
  if (now >= next_ping_us_ && !send_ping(now)) return;
  if (now >= next_stats_us_ && !send_stats(now)) return;
  if (now - last_receive_us_ > std::uint64_t{config_.silence_timeout_ms} * kUsPerMs) {
    disconnect("the server has been silent too long", true, Errc::timeout);
  }
}

bool Sender::handshake(std::uint64_t now_us) {
  parser_.reset();
  link_accepted_ = false;
  replaced_ = false;
  if (ports_.transport.connect(config_.connect_timeout_ms) != Transport::Status::ok) {
    disconnect(ports_.transport.last_error());
    return false;
  }

  // The server speaks first: WELCOME with the nonce to prove the secret over.
  // A TLS link opens with a plain one, then the TLS handshake, then a fresh
  // WELCOME inside (docs/protocol.md, "TLS"): only that one counts.
  proto::Welcome welcome;
  if (config_.tls) {
    if (!read_welcome(now_us + std::uint64_t{config_.welcome_timeout_ms} * kUsPerMs, welcome, true)) return false;
    if (ports_.transport.start_tls(config_.connect_timeout_ms) != Transport::Status::ok) {
      disconnect(ports_.transport.last_error());
      return false;
    }
    now_us = ports_.clock.now_us();
  }
  if (!read_welcome(now_us + std::uint64_t{config_.welcome_timeout_ms} * kUsPerMs, welcome, false)) return false;

  proto::Hello hello;
  hello.codec = encoder_.codec();
  hello.channels = config_.channels;
  hello.samples_per_frame = config_.samples_per_frame;
  hello.sample_rate = config_.sample_rate;
  hello.device_id = config_.device_id;
  hello.firmware_version = config_.firmware_version;
  if (compute_proof(config_.secret, welcome.nonce, config_.device_id.view(), hello.proof) != Errc::ok) {
    disconnect("could not compute the proof (crypto library)");
    return false;
  }
  const auto encoded = proto::encode(hello, tx_);
  if (!encoded) {
    disconnect(error_message(encoded.error));
    return false;
  }
  state_ = State::streaming;
  if (!send_bytes(encoded.value)) return false;

  const std::uint64_t now = ports_.clock.now_us();
  pings_this_link_ = 0;
  pong_pending_ = false;
  link_started_us_ = now;
  next_stats_us_ = now + std::uint64_t{config_.stats_interval_ms} * kUsPerMs;
  last_receive_us_ = now;
  // Its PONG tells that the server accepted HELLO (and starts the clock sync).
  return send_ping(now);
}

bool Sender::read_welcome(std::uint64_t give_up, proto::Welcome& welcome, bool before_tls) {
  for (;;) {
    const std::uint64_t now = ports_.clock.now_us();
    if (now >= give_up) {
      disconnect("no WELCOME from the server");
      return false;
    }
    std::size_t received = 0;
    const auto status = ports_.transport.receive(rx_chunk_, ms_until(now, give_up), received);
    if (status == Transport::Status::timeout) continue;
    if (status != Transport::Status::ok) {
      disconnect(status == Transport::Status::closed ? "the server closed the link before WELCOME"
                                                     : ports_.transport.last_error());
      return false;
    }
    const auto step = parser_.feed({rx_chunk_, received});
    if (step.status == proto::FrameParser::Status::error) {
      disconnect(error_message(parser_.error()), true, parser_.error());
      return false;
    }
    if (step.status != proto::FrameParser::Status::frame) continue;
    if (parser_.frame().type == proto::FrameType::error) {
      handle(parser_.frame());
      return false;
    }
    if (parser_.frame().type != proto::FrameType::welcome) {
      disconnect("the server's first frame is not WELCOME", true, Errc::unexpected_frame);
      return false;
    }
    if (Errc e = proto::decode(parser_.frame().payload, welcome); e != Errc::ok) {
      disconnect(error_message(e), true, e);
      return false;
    }
    // Bytes after WELCOME would be the server's answers to frames not yet
    // sent; before TLS they would be read as the handshake's: there can be none.
    if (before_tls && step.consumed != received) {
      disconnect("bytes after the plain WELCOME", false, Errc::unexpected_frame);
      return false;
    }
    return true;
  }
}

void Sender::disconnect(const char* reason, bool send_error, Errc code) {
  if (send_error && state_ == State::streaming) {
    proto::ErrorMessage error;
    error.code = code;
    (void)error.reason.assign(reason);
    const auto encoded = proto::encode(error, tx_);
    if (encoded) (void)ports_.transport.send(tx_.first(encoded.value), config_.send_timeout_ms);
  }
  ports_.transport.close();
  state_ = State::disconnected;
  // A link the server accepted starts the backoff over; a refused one, or
  // one another connection of this id replaced, keeps growing it.
  if (link_accepted_ && !replaced_) backoff_.reset();
  link_accepted_ = false;
  const std::uint32_t delay = backoff_.next_delay_ms(ports_.random.next());
  retry_at_us_ = ports_.clock.now_us() + std::uint64_t{delay} * kUsPerMs;
  ports_.observer.on_disconnected(reason, delay);
}

void Sender::stop() {
  if (state_ == State::streaming) ports_.transport.close();
  state_ = State::disconnected;
}

bool Sender::send_bytes(std::size_t size) {
  const auto status = ports_.transport.send(tx_.first(size), config_.send_timeout_ms);
  if (status == Transport::Status::ok) return true;
  disconnect(status == Transport::Status::timeout ? "sending timed out" : ports_.transport.last_error());
  return false;
}

bool Sender::send_frame(const AudioFrame& frame) {
  const std::size_t payload_size = encoded_size(encoder_.codec(), config_.channels, config_.samples_per_frame);
  proto::AudioHeader header;
  // Frames are of fixed size, so the frame number follows from the sample
  // index; a dropped frame leaves the same gap in both.
  header.sequence = static_cast<std::uint32_t>(frame.first_sample / config_.samples_per_frame);
  header.first_sample = frame.first_sample;
  header.capture_time_us = frame.capture_time_us;
  header.codec = encoder_.codec();
  header.channels = config_.channels;
  header.sample_count = config_.samples_per_frame;
  const auto prefix = proto::encode_audio_prefix(header, payload_size, tx_);
  if (!prefix) {
    disconnect(error_message(prefix.error));
    return false;
  }
  const auto encoded = encoder_.encode(frame.pcm, tx_.subspan(prefix.value));
  if (!encoded) {
    disconnect(error_message(encoded.error));
    return false;
  }
  if (!send_bytes(prefix.value + encoded.value)) return false;
  ++frames_sent_;
  return true;
}

bool Sender::receive(std::uint32_t wait_ms) {
  std::size_t received = 0;
  const auto status = ports_.transport.receive(rx_chunk_, wait_ms, received);
  if (status == Transport::Status::timeout) return true;
  if (status != Transport::Status::ok) {
    disconnect(status == Transport::Status::closed ? "the server closed the link" : ports_.transport.last_error());
    return false;
  }
  last_receive_us_ = ports_.clock.now_us();
  std::span<const std::uint8_t> rest(rx_chunk_, received);
  while (!rest.empty()) {
    const auto step = parser_.feed(rest);
    rest = rest.subspan(step.consumed);
    if (step.status == proto::FrameParser::Status::error) {
      disconnect(error_message(parser_.error()), true, parser_.error());
      return false;
    }
    if (step.status == proto::FrameParser::Status::frame && !handle(parser_.frame())) return false;
  }
  return true;
}

bool Sender::handle(const proto::FrameView& frame) {
  switch (frame.type) {
    case proto::FrameType::pong: {
      proto::Pong pong;
      if (Errc e = proto::decode(frame.payload, pong); e != Errc::ok) {
        disconnect(error_message(e), true, e);
        return false;
      }
      clock_sync_.add(pong.device_time_us, pong.server_receive_us, pong.server_send_us, ports_.clock.now_us());
      pong_pending_ = false;
      if (!link_accepted_) {
        // The server answers PING only after it accepted HELLO.
        link_accepted_ = true;
        ++accepted_links_;
        ports_.observer.on_connected(reconnects());
      }
      return true;
    }
    case proto::FrameType::config: {
      proto::Config config;
      if (Errc e = proto::decode(frame.payload, config); e != Errc::ok) {
        disconnect(error_message(e), true, e);
        return false;
      }
      if (config.has_gain) capture_.set_gain_cdb(config.gain_cdb);
      if (config.has_codec) encoder_.set_codec(config.codec);
      ports_.observer.on_config(config);
      return true;
    }
    case proto::FrameType::error: {
      proto::ErrorMessage error;
      if (proto::decode(frame.payload, error) != Errc::ok) {
        disconnect("the server sent a malformed ERROR");
        return false;
      }
      replaced_ = error.code == Errc::replaced;
      ports_.observer.on_server_error(error);
      disconnect(error_message(error.code));
      return false;
    }
    default:
      disconnect("the server sent a frame only devices send", true, Errc::unexpected_frame);
      return false;
  }
}

bool Sender::send_ping(std::uint64_t now_us) {
  proto::Ping ping;
  ping.id = next_ping_id_++;
  ping.device_time_us = now_us;
  if (clock_sync_.has_estimate()) {
    ping.clock_offset_us = clock_sync_.offset_us();
    // 0 on the wire means "no estimate", so a measured 0 goes out as 1.
    ping.rtt_us = clock_sync_.rtt_us() == proto::kRttUnknown ? 1 : clock_sync_.rtt_us();
  }
  const auto encoded = proto::encode(ping, tx_);
  if (!encoded || !send_bytes(encoded.value)) return false;
  ++pings_this_link_;
  pong_pending_ = true;
  const std::uint32_t interval =
      pings_this_link_ < config_.initial_pings ? config_.initial_ping_interval_ms : config_.ping_interval_ms;
  next_ping_us_ = now_us + std::uint64_t{interval} * kUsPerMs;
  return true;
}

bool Sender::send_stats(std::uint64_t now_us) {
  proto::Stats stats;
  ports_.observer.fill_stats(stats);
  stats.uptime_s = static_cast<std::uint32_t>(now_us / 1000000);
  stats.frames_captured = queue_.committed();
  stats.frames_dropped = queue_.dropped();
  stats.frames_sent = frames_sent_;
  stats.reconnects = reconnects();
  const std::size_t queued = queue_.queued();
  stats.queue_depth = static_cast<std::uint16_t>(queued > UINT16_MAX ? UINT16_MAX : queued);
  const auto encoded = proto::encode(stats, tx_);
  if (!encoded || !send_bytes(encoded.value)) return false;
  next_stats_us_ = now_us + std::uint64_t{config_.stats_interval_ms} * kUsPerMs;
  return true;
}

}  // namespace micstream::pipeline
