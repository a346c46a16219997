#include "alsa_source.h"

#include <alsa/asoundlib.h>
#include <fmt/format.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <utility>

namespace micstream::device {

namespace {

// alsa-lib prints its own diagnostics to stderr; they go to the log (debug)
// instead, and the error that matters is logged by whoever called.
void alsa_error_handler(const char* file, int line, const char* function, int error, const char* format, ...) {
  char message[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(message, sizeof message, format, args);
  va_end(args);
  spdlog::debug("alsa-lib {}:{} ({}): {}{}{}", file, line, function, message, error != 0 ? ": " : "",
                error != 0 ? snd_strerror(error) : "");
}

}  // namespace

AlsaSource::AlsaSource(std::string device, std::uint32_t sample_rate, unsigned channels,
                       std::uint32_t period_frames)
    : device_(std::move(device)), rate_(sample_rate), channels_(channels), period_frames_(period_frames) {}

AlsaSource::~AlsaSource() { stop(); }

bool AlsaSource::start(std::string& error) {
  auto fail = [&](const char* what, int rc) {
    error = fmt::format("ALSA device \"{}\": {}: {}", device_, what, snd_strerror(rc));
    stop();
    return false;
  };
  snd_lib_error_set_handler(alsa_error_handler);
  int rc = snd_pcm_open(&pcm_, device_.c_str(), SND_PCM_STREAM_CAPTURE, 0);
  if (rc < 0) {
    pcm_ = nullptr;
    return fail("cannot open it for capture", rc);
  }
  snd_pcm_hw_params_t* hw = nullptr;
  snd_pcm_hw_params_alloca(&hw);
  if ((rc = snd_pcm_hw_params_any(pcm_, hw)) < 0) return fail("no configuration", rc);
  if ((rc = snd_pcm_hw_params_set_access(pcm_, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0) {
    return fail("interleaved access", rc);
  }
  if ((rc = snd_pcm_hw_params_set_format(pcm_, hw, SND_PCM_FORMAT_S16_LE)) < 0) {
    return fail("16-bit samples", rc);
  }
  if ((rc = snd_pcm_hw_params_set_channels(pcm_, hw, channels_)) < 0) {
    return fail(fmt::format("{} channel(s)", channels_).c_str(), rc);
  }
  // Exactly the stream's rate (the "default" and "plughw:" devices resample
  // when the card cannot); a card that cannot is refused, not resampled here.
  if ((rc = snd_pcm_hw_params_set_rate(pcm_, hw, rate_, 0)) < 0) {
    return fail(fmt::format("{} Hz (try --alsa-device plughw:...)", rate_).c_str(), rc);
  }
  snd_pcm_uframes_t period = period_frames_;
  int dir = 0;
  if ((rc = snd_pcm_hw_params_set_period_size_near(pcm_, hw, &period, &dir)) < 0) return fail("period size", rc);
  snd_pcm_uframes_t buffer = period * 8;
  if ((rc = snd_pcm_hw_params_set_buffer_size_near(pcm_, hw, &buffer)) < 0) return fail("buffer size", rc);
  if ((rc = snd_pcm_hw_params(pcm_, hw)) < 0) return fail("cannot apply the configuration", rc);
  if ((rc = snd_pcm_prepare(pcm_)) < 0) return fail("prepare", rc);
  if ((rc = snd_pcm_start(pcm_)) < 0) return fail("start", rc);
  period_frames_ = static_cast<std::uint32_t>(period);
  return true;
}

AlsaSource::Read AlsaSource::read(std::span<std::int16_t> out) {
  Read result;
  if (pcm_ == nullptr) {
    error_ = "not started";
    result.failed = true;
    return result;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    const snd_pcm_sframes_t n = snd_pcm_readi(pcm_, out.data(), out.size() / channels_);
    if (n > 0) {
      result.frames = static_cast<std::size_t>(n);
      return result;
    }
    if (n == 0 || n == -EAGAIN || n == -EINTR) continue;
    if (n == -EPIPE || n == -ESTRPIPE) {
      // Overrun (we were too slow) or suspend: samples were lost; start again.
      result.overrun = true;
      int rc = n == -ESTRPIPE ? snd_pcm_resume(pcm_) : 0;
      if (rc < 0 || n == -EPIPE) rc = snd_pcm_prepare(pcm_);
      if (rc >= 0) rc = snd_pcm_start(pcm_);
      if (rc < 0 && rc != -EBADFD) {
        error_ = fmt::format("ALSA device \"{}\": cannot recover from an overrun: {}", device_, snd_strerror(rc));
        result.failed = true;
        return result;
      }
      continue;
    }
    error_ = fmt::format("ALSA device \"{}\": read: {}", device_, snd_strerror(static_cast<int>(n)));
    result.failed = true;
    return result;
  }
  return result;
}

void AlsaSource::stop() {
  if (pcm_ != nullptr) {
    snd_pcm_drop(pcm_);
    snd_pcm_close(pcm_);
    pcm_ = nullptr;
  }
}

std::string AlsaSource::describe() const {
  return fmt::format("ALSA capture from \"{}\", {} Hz, {} channel(s), periods of {} frames", device_, rate_,
                     channels_, period_frames_);
}

}  // namespace micstream::device
