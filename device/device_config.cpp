#include "device_config.h"

#include <fmt/format.h>

#include <cmath>

#include "micstream/auth.h"
#include "micstream/pipeline/frame_queue.h"
#include "micstream/protocol.h"

namespace micstream::device {

const char* source_kind_name(SourceKind kind) {
  switch (kind) {
    case SourceKind::tone: return "tone";
    case SourceKind::sweep: return "sweep";
    case SourceKind::noise: return "noise";
    case SourceKind::wav: return "wav";
    case SourceKind::adc: return "adc";
    case SourceKind::alsa: return "alsa";
  }
  return "?";
}

std::string check_config(const DeviceConfig& c) {
  if (!proto::is_valid_device_id(c.id)) return fmt::format("device id \"{}\" must be 1..32 characters of [A-Za-z0-9._-]", c.id);
  if (c.secret.empty() || c.secret.size() > kMaxSecretSize) {
    return fmt::format("the secret of {} must be 1..{} bytes", c.id, kMaxSecretSize);
  }
  if (c.channels < 1 || c.channels > kMaxChannels) return "channels must be 1 or 2";
  if (c.sample_rate < proto::kMinSampleRate || c.sample_rate > proto::kMaxSampleRate) {
    return fmt::format("sample rate {} Hz is outside {}..{} Hz", c.sample_rate, proto::kMinSampleRate,
                       proto::kMaxSampleRate);
  }
  if (c.frame_ms == 0) return "frames must be at least 1 ms long";
  // Whole samples a frame keep the schedule exact: frame n starts at sample n * samples_per_frame.
  if (std::uint64_t{c.sample_rate} * c.frame_ms % 1000 != 0) {
    return fmt::format("{} ms at {} Hz is not a whole number of samples", c.frame_ms, c.sample_rate);
  }
  const std::uint64_t samples = std::uint64_t{c.sample_rate} * c.frame_ms / 1000;
  if (samples > 0xFFFF ||
      proto::kAudioHeaderSize + encoded_size(Codec::pcm16, c.channels, samples) > proto::kMaxPayload) {
    return fmt::format("{} ms frames at {} Hz, {} channel(s) do not fit one frame of the protocol (PCM16, which "
                       "CONFIG may switch to, must fit {} bytes)",
                       c.frame_ms, c.sample_rate, c.channels, proto::kMaxPayload);
  }
  if (c.queue_ms == 0) return "--queue-ms must be at least 1";
  if (c.queue_frames() + 2 > pipeline::FrameQueue::kMaxSlots) {
    return fmt::format("a {} ms queue of {} ms frames is {} frames; at most {} fit", c.queue_ms, c.frame_ms,
                       c.queue_frames(), pipeline::FrameQueue::kMaxSlots - 2);
  }
  if (c.block_frames == 0 || c.block_frames > 65536) return "--block-samples must be 1..65536";
  if (!(std::abs(c.gain_db) <= proto::kMaxGainCentiDb / 100.0)) return "--gain-db must be within +-40 dB";
  if (!(c.dc_cutoff_hz >= 0.0) || c.dc_cutoff_hz >= c.sample_rate / 2.0) {
    return "--dc-cutoff-hz must be 0 (off) or below half the sample rate";
  }
  if (!(std::abs(c.clock_ppm) <= 100000.0)) return "--clock-ppm must be within +-100000";

  const SourceOptions& s = c.source;
  const double nyquist = c.sample_rate / 2.0;
  if (!(s.level_dbfs <= 0.0)) return "--level-dbfs must be at most 0";
  if ((s.kind == SourceKind::tone || s.kind == SourceKind::adc) && (!(s.tone_hz > 0.0) || s.tone_hz >= nyquist)) {
    return fmt::format("the tone must be above 0 Hz and below half the sample rate ({} Hz)", nyquist);
  }
  if (s.kind == SourceKind::sweep) {
    if (!(s.sweep_from_hz > 0.0) || s.sweep_from_hz >= nyquist || !(s.sweep_to_hz > 0.0) || s.sweep_to_hz >= nyquist) {
      return fmt::format("the sweep's frequencies must be above 0 Hz and below half the sample rate ({} Hz)", nyquist);
    }
    if (!(s.sweep_seconds >= 0.01) || s.sweep_seconds > 3600) return "--sweep-seconds must be 0.01..3600";
  }
  if (s.kind == SourceKind::wav && s.wav == nullptr) return "--source wav needs --wav FILE";
  if (s.kind == SourceKind::wav && s.wav->sample_rate != c.sample_rate) {
    return fmt::format("{} is {} Hz but the stream is {} Hz; leave --rate out (it follows the file) or convert the "
                       "file, e.g. sox in.wav -r {} out.wav",
                       s.wav->path, s.wav->sample_rate, c.sample_rate, c.sample_rate);
  }
  if (s.kind == SourceKind::adc) {
    if (!(s.adc.bias_code > s.adc.dead_zone_code) || !(s.adc.bias_code < s.adc.knee_code)) {
      return fmt::format("--adc-bias must be between codes {} and {}", s.adc.dead_zone_code, s.adc.knee_code);
    }
    if (!(s.adc.noise_lsb >= 0.0) || s.adc.noise_lsb > 500) return "--adc-noise must be 0..500 LSB";
  }

  if (c.stall_ms > 0 && !(c.stall_every_s > 0.0)) return "--stall needs MS@EVERY_S with EVERY_S above 0";
  if (c.link.cut_every_s < 0.0) return "--cut-every must be positive";
  if (c.socket_send_buffer < 0) return "--socket-buffer must be 0 (the kernel's) or positive";
  if (c.status_interval_s < 0.0) return "--status-interval must be 0 (off) or positive";
  return {};
}

}  // namespace micstream::device
