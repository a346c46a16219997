#include "virtual_device.h"

#include <fmt/format.h>

#include <cmath>
#include <system_error>
#include <utility>

#include "micstream/auth.h"
#include "micstream/codec.h"
#include "micstream/error.h"
#include "source_factory.h"

namespace micstream::device {

namespace {

std::string offset_text(std::int64_t us) {
  const std::uint64_t magnitude = us < 0 ? 0 - static_cast<std::uint64_t>(us) : static_cast<std::uint64_t>(us);
  return fmt::format("{}{}.{:06} s", us < 0 ? '-' : '+', magnitude / kUsPerSecond, magnitude % kUsPerSecond);
}

std::uint64_t seconds_to_us(double seconds) { return static_cast<std::uint64_t>(std::llround(seconds * 1e6)); }

// The TLS key of the link; empty (every handshake then fails, and says so)
// only if the crypto library failed: check_config() checked the secret.
std::vector<std::uint8_t> link_psk(std::span<const std::uint8_t> secret) {
  std::vector<std::uint8_t> psk(kLinkPskSize);
  if (derive_link_psk(secret, std::span<std::uint8_t, kLinkPskSize>(psk.data(), kLinkPskSize)) != Errc::ok) psk.clear();
  return psk;
}

}  // namespace

VirtualDevice::VirtualDevice(DeviceConfig config, const StopFlag& stop, std::shared_ptr<spdlog::logger> log)
    : config_(std::move(config)),
      stop_(stop),
      log_(std::move(log)),
      clock_(config_.clock_ppm),
      tcp_(config_.host, config_.port, config_.socket_send_buffer, TlsPsk{config_.id, link_psk(config_.secret)}, stop_,
           log_),
      transport_(tcp_, config_.link, clock_, random_, stop_),
      observer_(tcp_.server(), stop_, log_) {
  Sources sources = make_source(config_, source_error_);
  synthetic_ = std::move(sources.synthetic);
  live_ = std::move(sources.live);

  // The frame pool: the queue's depth, one frame being filled, one being sent.
  const std::uint16_t spf = config_.samples_per_frame();
  const std::size_t frame_samples = std::size_t{spf} * config_.channels;
  const std::size_t slots = std::size_t{config_.queue_frames()} + 2;
  pool_storage_.resize(slots * frame_samples);
  slots_.reserve(slots);
  for (std::size_t i = 0; i < slots; ++i) {
    slots_.push_back({0, 0, std::span<std::int16_t>(pool_storage_).subspan(i * frame_samples, frame_samples)});
  }
  tx_buffer_.resize(pipeline::sender_buffer_size(static_cast<std::uint8_t>(config_.channels), spf));
  queue_ = std::make_unique<pipeline::FrameQueue>(slots_, mutex_, signal_);

  pipeline::CaptureConfig capture;
  capture.sample_rate = config_.sample_rate;
  capture.channels = static_cast<std::uint8_t>(config_.channels);
  capture.samples_per_frame = spf;
  capture.adc_zero_code = synthetic_ != nullptr ? synthetic_->adc_zero_code() : 2048;
  capture.dc_cutoff_hz = static_cast<float>(config_.dc_cutoff_hz);
  capture.gain_cdb = static_cast<std::int32_t>(std::lround(config_.gain_db * 100.0));
  capture_ = std::make_unique<pipeline::Capture>(capture, *queue_);

  CaptureTiming timing;
  timing.sample_rate = config_.sample_rate;
  timing.channels = config_.channels;
  timing.samples_per_frame = spf;
  timing.block_frames = config_.block_frames;
  timing.drop_every = config_.drop_every;
  capture_loop_ = std::make_unique<CaptureLoop>(timing, *capture_, clock_, stop_, log_);

  pipeline::SenderConfig sender;
  (void)sender.device_id.assign(config_.id);  // check_config() checked it; Sender::check() does again
  sender.secret = config_.secret;
  sender.tls = config_.tls;
  (void)sender.firmware_version.assign(config_.firmware_version);
  sender.codec = config_.codec;
  sender.sample_rate = config_.sample_rate;
  sender.channels = static_cast<std::uint8_t>(config_.channels);
  sender.samples_per_frame = spf;
  sender_ = std::make_unique<pipeline::Sender>(
      sender, *queue_, *capture_, pipeline::Sender::Ports{transport_, clock_, random_, observer_}, tx_buffer_);

  observer_.set_stream_text(fmt::format("{}, {} Hz, {} channel(s), {} samples a frame", codec_name(config_.codec),
                                        config_.sample_rate, config_.channels, spf));
  observer_.set_first_link_hook([this] {
    dropped_before_link_.store(queue_->dropped());
    linked_.store(true);
  });
}

VirtualDevice::~VirtualDevice() {
  // Threads still running here would outlive what they use; main always
  // stops and joins first, this is the last resort.
  if (capture_thread_.joinable() || sender_thread_.joinable()) join();
}

bool VirtualDevice::start(std::string& error) {
  if (!source_error_.empty()) {
    error = source_error_;
    return false;
  }
  if (const Errc check = sender_->check(); check != Errc::ok) {
    error = fmt::format("the pipeline cannot run this configuration: {}", error_message(check));
    return false;
  }
  // A sound card that cannot be opened is an error now, before any thread runs.
  if (live_ != nullptr && !live_->start(error)) return false;
  log_->info("{}; {}, {} Hz, {} channel(s), {} ms frames ({} samples), queue {} frames ({} ms), to {} ({} link)",
             synthetic_ != nullptr ? synthetic_->describe() : live_->describe(), codec_name(config_.codec),
             config_.sample_rate, config_.channels, config_.frame_ms, config_.samples_per_frame(),
             queue_->depth(), queue_->depth() * config_.frame_ms, tcp_.server(), config_.tls ? "TLS" : "plain");
  std::string faults;
  auto add = [&faults](const std::string& text) { faults += (faults.empty() ? "" : ", ") + text; };
  if (config_.clock_ppm != 0.0) add(fmt::format("clock {:+} ppm", config_.clock_ppm));
  if (config_.drop_every > 0) add(fmt::format("capture loses one frame in {}", config_.drop_every));
  if (config_.stall_ms > 0) add(fmt::format("sender stalls {} ms every {} s", config_.stall_ms, config_.stall_every_s));
  if (config_.link.cut_every_s > 0) add(fmt::format("link cut mid-frame {} s after each connect", config_.link.cut_every_s));
  if (config_.link.send_jitter_ms > 0) add(fmt::format("each frame delayed 0..{} ms", config_.link.send_jitter_ms));
  if (!faults.empty()) log_->info("simulating: {}", faults);

  started_us_ = clock_.now_us();
  started_ = true;
  try {
    capture_thread_ = std::thread([this] { capture_main(); });
    sender_thread_ = std::thread([this] { sender_main(); });
  } catch (const std::system_error& e) {
    error = fmt::format("cannot start a thread: {}", e.what());
    if (capture_thread_.joinable()) {
      // The capture thread only ends on a stop: mark this device failed so main stops all.
      failed_.store(true, std::memory_order_relaxed);
    }
    return false;
  }
  return true;
}

void VirtualDevice::capture_main() {
  if (synthetic_ != nullptr) {
    capture_loop_->run(*synthetic_);
  } else if (!capture_loop_->run(*live_)) {
    failed_.store(true, std::memory_order_relaxed);
  }
}

void VirtualDevice::sender_main() {
  const std::uint64_t status_every = seconds_to_us(config_.status_interval_s);
  const std::uint64_t stall_every = seconds_to_us(config_.stall_every_s);
  const std::uint64_t start = clock_.now_us();
  std::uint64_t next_status = start + status_every;
  std::uint64_t next_stall = config_.stall_ms > 0 ? start + stall_every : UINT64_MAX;
  while (!stop_.requested()) {
    sender_->run_once();
    const std::uint64_t now = clock_.now_us();
    if (now >= next_stall) {
      // The task is held up (a long flash write, a busy core): capture goes
      // on, and the queue drops its oldest frames once it is full.
      ++stalls_;
      log_->info("fault injection: the sender stalls for {} ms (queue: {} of {} frames)", config_.stall_ms,
                 queue_->queued(), queue_->depth());
      (void)stop_.sleep_ms(config_.stall_ms);
      next_stall += stall_every;
      if (next_stall <= clock_.now_us()) next_stall = clock_.now_us() + stall_every;
    }
    if (status_every > 0 && now >= next_status) {
      log_status();
      next_status += status_every;
      if (next_status <= now) next_status = now + status_every;
    }
  }
  sender_->stop();
}

void VirtualDevice::log_status() {
  const std::uint64_t sent = sender_->frames_sent();
  const std::uint64_t dropped = queue_->dropped();
  const std::uint64_t dropped_capture = capture_loop_->frames_dropped();
  const ClockSync& sync = sender_->clock_sync();
  const std::string timing = sync.has_estimate()
                                 ? fmt::format("rtt {:.3f} ms, clock offset {}", sync.rtt_us() / 1000.0,
                                               offset_text(sync.offset_us()))
                                 : std::string("rtt -, clock offset -");
  std::string extra;
  if (dropped_capture > 0) extra += fmt::format(", lost at capture {} (+{})", dropped_capture, dropped_capture - previous_.dropped_capture);
  if (const auto overrun = capture_loop_->samples_overrun(); overrun > 0) extra += fmt::format(", overrun samples {}", overrun);
  if (const auto cuts = transport_.cuts(); cuts > 0) extra += fmt::format(", cuts {}", cuts);
  log_->info("{}: sent {} (+{}), dropped {} (+{}){}, queued {}, reconnects {}, {}",
             sender_->streaming() ? "streaming" : "disconnected", sent, sent - previous_.sent, dropped,
             dropped - previous_.dropped, extra, queue_->queued(), sender_->reconnects(), timing);
  previous_ = {sent, dropped, dropped_capture};
}

void VirtualDevice::join() {
  if (capture_thread_.joinable()) capture_thread_.join();
  if (sender_thread_.joinable()) sender_thread_.join();
  if (!started_ || joined_) return;
  joined_ = true;
  stopped_us_ = clock_.now_us();
  const Summary s = summary();
  log_->info("stopped after {:.1f} s: captured {}, sent {}, dropped {} at the queue, {} at capture, {} samples "
             "overrun, reconnects {}",
             s.seconds, s.frames_captured, s.frames_sent, s.frames_dropped, s.frames_dropped_capture,
             s.samples_overrun, s.reconnects);
}

VirtualDevice::Summary VirtualDevice::summary() const {
  Summary s;
  s.id = config_.id;
  s.seconds = static_cast<double>(stopped_us_ - started_us_) / 1e6;
  s.frames_captured = queue_->committed();
  s.frames_sent = sender_->frames_sent();
  s.frames_dropped = queue_->dropped();
  // Until the first link, every drop is a start-up drop.
  s.frames_dropped_before_link = linked_.load() ? dropped_before_link_.load() : s.frames_dropped;
  s.frames_dropped_capture = capture_loop_->frames_dropped();
  s.samples_overrun = capture_loop_->samples_overrun();
  s.reconnects = sender_->reconnects();
  s.disconnects = observer_.disconnects();
  s.server_errors = observer_.server_errors();
  s.cuts = transport_.cuts();
  s.stalls = stalls_;
  s.failed = failed();
  return s;
}

}  // namespace micstream::device
