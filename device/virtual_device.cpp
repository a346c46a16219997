#include "virtual_device.h"

#include <poll.h>
#include <time.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "micstream/auth.h"

namespace micstream::device {

namespace {

std::string offset_text(std::int64_t us) {
  const std::uint64_t magnitude = us < 0 ? 0 - static_cast<std::uint64_t>(us) : static_cast<std::uint64_t>(us);
  return fmt::format("{}{}.{:06} s", us < 0 ? '-' : '+', magnitude / kUsPerSecond, magnitude % kUsPerSecond);
}

const char* state_name(LinkSession::State state) {
  switch (state) {
    case LinkSession::State::idle: return "idle";
    case LinkSession::State::waiting: return "disconnected";
    case LinkSession::State::connecting: return "connecting";
    case LinkSession::State::awaiting_welcome: return "handshaking";
    case LinkSession::State::streaming: return "streaming";
  }
  return "?";
}

}  // namespace

std::string check_options(const DeviceOptions& o) {
  if (!proto::is_valid_device_id(o.link.device_id)) {
    return "device id \"" + o.link.device_id + "\" must be 1..32 characters of [A-Za-z0-9._-]";
  }
  if (o.link.secret.empty() || o.link.secret.size() > kMaxSecretSize) {
    return "the secret must be 1.." + std::to_string(kMaxSecretSize) + " bytes";
  }
  if (o.channels < 1 || o.channels > kMaxChannels) return "channels must be 1 or 2";
  if (o.sample_rate < proto::kMinSampleRate || o.sample_rate > proto::kMaxSampleRate) {
    return fmt::format("sample rate {} Hz is outside {}..{} Hz", o.sample_rate, proto::kMinSampleRate,
                       proto::kMaxSampleRate);
  }
  if (o.frame_ms == 0) return "frames must be at least 1 ms long";
  // Whole samples a frame keep the schedule exact: frame n starts at sample n * samples_per_frame.
  if (std::uint64_t{o.sample_rate} * o.frame_ms % 1000 != 0) {
    return fmt::format("{} ms at {} Hz is not a whole number of samples", o.frame_ms, o.sample_rate);
  }
  const std::uint64_t samples = std::uint64_t{o.sample_rate} * o.frame_ms / 1000;
  if (samples > 0xFFFF ||
      proto::kAudioHeaderSize + encoded_size(Codec::pcm16, o.channels, samples) > proto::kMaxPayload) {
    return fmt::format("{} ms frames at {} Hz are too long for one frame of the protocol", o.frame_ms,
                       o.sample_rate);
  }
  if (!(o.tone_hz > 0.0) || o.tone_hz >= o.sample_rate / 2.0) {
    return fmt::format("the tone must be above 0 Hz and below half the sample rate ({} Hz)", o.sample_rate / 2);
  }
  if (!(o.level_dbfs <= 0.0)) return "the level must be at most 0 dBFS";
  return {};
}

VirtualDevice::VirtualDevice(DeviceOptions options, std::shared_ptr<spdlog::logger> log)
    : options_(std::move(options)),
      log_(std::move(log)),
      samples_per_frame_(static_cast<std::uint16_t>(std::uint64_t{options_.sample_rate} * options_.frame_ms / 1000)),
      frame_us_(std::uint64_t{options_.frame_ms} * kUsPerMs),
      source_(options_.tone_hz, options_.level_dbfs, options_.sample_rate, options_.channels),
      encoder_(options_.codec, options_.channels),
      samples_(std::size_t{samples_per_frame_} * options_.channels),
      link_(options_.link,
            LinkCallbacks{
                .stream_format = [this] { return stream_format(); },
                .stats = [this] { return stats(); },
                .on_config = [this](const proto::Config& config) { apply_config(config); },
            },
            clock_, log_) {}

void VirtualDevice::start() {
  if (started_) return;
  started_ = true;
  origin_us_ = clock_.now_us();
  next_status_us_ = origin_us_ + options_.status_interval_us;
  log_->info("tone {} Hz at {} dBFS, {} Hz, {} channel(s), {} ms frames ({} samples), {}", options_.tone_hz,
             options_.level_dbfs, options_.sample_rate, options_.channels, options_.frame_ms, samples_per_frame_,
             codec_name(encoder_.codec()));
  link_.start();
}

void VirtualDevice::stop() {
  if (!started_) return;
  started_ = false;
  link_.stop();
  log_->info("stopped after {:.1f} s: captured {}, sent {}, dropped {}, reconnects {}",
             static_cast<double>(clock_.now_us() - origin_us_) / 1e6, counters_.captured, counters_.sent,
             counters_.dropped, link_.reconnects());
}

// Frame n holds the samples captured from origin + n * frame_us on, so, as on
// a real microphone, it is complete (and due) one frame later: frame n is
// sent at origin + (n + 1) * frame_us. Computed from n rather than by adding
// up periods, so timing errors never accumulate.
std::uint64_t VirtualDevice::frame_due_us(std::uint64_t frame) const { return origin_us_ + (frame + 1) * frame_us_; }

std::uint64_t VirtualDevice::next_deadline_us() const {
  if (!started_) return std::numeric_limits<std::uint64_t>::max();
  return std::min({frame_due_us(next_frame_), next_status_us_, link_.next_deadline_us()});
}

void VirtualDevice::on_time() {
  if (!started_) return;
  // Every frame that came due is captured, even after a stall: the ones the
  // link cannot take are counted as dropped, never skipped silently.
  while (frame_due_us(next_frame_) <= clock_.now_us()) capture_frame();
  if (link_.next_deadline_us() <= clock_.now_us()) link_.on_time();
  if (next_status_us_ <= clock_.now_us()) {
    log_status();
    next_status_us_ += options_.status_interval_us;
    if (next_status_us_ <= clock_.now_us()) next_status_us_ = clock_.now_us() + options_.status_interval_us;
  }
}

void VirtualDevice::capture_frame() {
  const std::uint64_t frame = next_frame_++;
  ++counters_.captured;

  proto::AudioHeader header;
  header.sequence = static_cast<std::uint32_t>(frame);  // counts captured frames, so drops show here too; wraps
  header.first_sample = frame * samples_per_frame_;
  header.capture_time_us = origin_us_ + frame * frame_us_;
  header.codec = encoder_.codec();
  header.channels = static_cast<std::uint8_t>(options_.channels);
  header.sample_count = samples_per_frame_;
  const std::size_t payload_size = encoded_size(header.codec, header.channels, header.sample_count);
  const std::size_t frame_size = proto::kHeaderSize + proto::kAudioHeaderSize + payload_size;

  const auto room = link_.reserve_audio(frame_size);
  if (room.empty()) {
    ++counters_.dropped;
    return;
  }
  source_.fill(header.first_sample, samples_);
  gain_.process(samples_);
  // Headers first, then the codec writes its payload right behind them in the
  // link's buffer: the audio is never copied to be framed.
  const auto prefix = proto::encode_audio_prefix(header, payload_size, room);
  const auto encoded = prefix ? encoder_.encode(samples_, room.subspan(prefix.value, payload_size))
                              : Result<std::size_t>(prefix.error);
  if (!encoded || encoded.value != payload_size) {
    log_->error("cannot frame audio frame {}: {}", frame,
                error_message(encoded ? Errc::payload_size_mismatch : encoded.error));
    ++counters_.dropped;
    return;
  }
  link_.commit_audio(frame_size);
  ++counters_.sent;
}

void VirtualDevice::apply_config(const proto::Config& config) {
  std::string applied;
  if (config.has_gain) {
    gain_.set_centi_db(config.gain_cdb);
    applied += fmt::format("gain {:+.2f} dB", config.gain_cdb / 100.0);
  }
  if (config.has_codec) {
    encoder_.set_codec(config.codec);
    applied += fmt::format("{}codec {}", applied.empty() ? "" : ", ", codec_name(config.codec));
  }
  log_->info("CONFIG from {}: {}", link_.server(), applied.empty() ? "nothing to change" : applied);
}

proto::Stats VirtualDevice::stats() const {
  proto::Stats s;
  s.uptime_s = static_cast<std::uint32_t>(clock_.now_us() / kUsPerSecond);
  s.frames_captured = counters_.captured;
  s.frames_dropped = counters_.dropped;
  s.frames_sent = counters_.sent;
  // A process has no heap budget or radio to report; the queue comes with the capture pipeline.
  s.free_heap_bytes = 0;
  s.min_free_heap_bytes = 0;
  s.wifi_rssi_dbm = proto::kRssiUnknown;
  s.queue_depth = 0;
  return s;
}

StreamFormat VirtualDevice::stream_format() const {
  return {encoder_.codec(), static_cast<std::uint8_t>(options_.channels), samples_per_frame_, options_.sample_rate};
}

void VirtualDevice::log_status() {
  const ClockSync& sync = link_.clock_sync();
  const std::string timing = sync.has_estimate() ? fmt::format("rtt {:.3f} ms, clock offset {}", sync.rtt_us() / 1000.0,
                                                               offset_text(sync.offset_us()))
                                                 : std::string("rtt -, clock offset -");
  log_->info("{}: sent {} (+{}), dropped {} (+{}), reconnects {}, {}", state_name(link_.state()), counters_.sent,
             counters_.sent - last_status_.sent, counters_.dropped, counters_.dropped - last_status_.dropped,
             link_.reconnects(), timing);
  last_status_ = counters_;
}

bool VirtualDevice::run(int stop_fd, std::uint64_t duration_us) {
  start();
  const std::uint64_t end_us =
      duration_us == 0 ? std::numeric_limits<std::uint64_t>::max() : clock_.now_us() + duration_us;
  bool ok = true;
  for (;;) {
    on_time();
    const std::uint64_t now = clock_.now_us();
    if (now >= end_us) {
      log_->info("ran for the requested {:.1f} s", static_cast<double>(duration_us) / 1e6);
      break;
    }
    // Sleep exactly until the next thing is due (the next frame, at the
    // latest): ppoll takes nanoseconds, so frames leave on time to the µs.
    const std::uint64_t deadline = std::min(next_deadline_us(), end_us);
    const std::uint64_t wait_us = deadline > now ? deadline - now : 0;
    const timespec timeout{static_cast<time_t>(wait_us / kUsPerSecond),
                           static_cast<long>(wait_us % kUsPerSecond * 1000)};
    pollfd fds[2] = {{stop_fd, POLLIN, 0}, {fd(), poll_events(), 0}};  // poll ignores fd -1
    const int rc = ::ppoll(fds, 2, &timeout, nullptr);
    if (rc < 0) {
      if (errno == EINTR) continue;
      log_->critical("poll failed: {}", std::strerror(errno));
      ok = false;
      break;
    }
    if (fds[0].revents != 0) {
      log_->info("asked to stop");
      break;
    }
    if (fds[1].fd >= 0) on_poll(fds[1].revents);
  }
  stop();
  return ok;
}

}  // namespace micstream::device
