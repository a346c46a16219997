#include "capture_loop.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace micstream::device {

namespace {
constexpr std::uint32_t kOverrunLogLimit = 10;  // then every 100th
}

CaptureLoop::CaptureLoop(const CaptureTiming& timing, pipeline::Capture& capture, PosixClock& clock,
                         const StopFlag& stop, std::shared_ptr<spdlog::logger> log)
    : timing_(timing),
      capture_(capture),
      clock_(clock),
      stop_(stop),
      log_(std::move(log)),
      pcm_(std::size_t{timing.block_frames} * timing.channels),
      codes_(std::size_t{timing.block_frames} * timing.channels) {}

template <class Segment>
void CaptureLoop::split(std::uint64_t first, std::size_t count, Segment segment) {
  const std::uint64_t spf = timing_.samples_per_frame;
  const std::uint64_t every = timing_.drop_every;
  std::size_t offset = 0;
  while (offset < count) {
    const std::uint64_t index = first + offset;
    std::uint64_t end = first + count;
    bool lost = false;
    if (every > 0) {
      const std::uint64_t frame = index / spf;
      lost = (frame + 1) % every == 0;  // frames N-1, 2N-1, ...: every Nth
      if (lost) {
        end = std::min(end, (frame + 1) * spf);
        if (index == frame * spf) frames_dropped_.fetch_add(1, std::memory_order_relaxed);
      } else {
        const std::uint64_t next_lost = (frame / every + 1) * every - 1;
        end = std::min(end, next_lost * spf);
      }
    }
    const auto length = static_cast<std::size_t>(end - index);
    segment(offset, length, lost);
    offset += length;
  }
}

void CaptureLoop::overrun(std::uint64_t samples, const char* why) {
  samples_overrun_.fetch_add(samples, std::memory_order_relaxed);
  ++overruns_logged_;
  if (overruns_logged_ <= kOverrunLogLimit || overruns_logged_ % 100 == 0) {
    log_->warn("capture overrun #{}: {} samples lost ({})", overruns_logged_, samples, why);
  }
}

void CaptureLoop::run(SyntheticSource& source) {
  const std::uint64_t rate = timing_.sample_rate;
  const unsigned channels = timing_.channels;
  const bool adc = source.output() == SyntheticSource::Output::adc12;
  const std::uint64_t ring = std::uint64_t{timing_.block_frames} * timing_.ring_blocks;
  // Sample n is converted at origin + n / rate on the device clock. Times
  // follow from n, never from adding up periods, so no error accumulates.
  const std::uint64_t origin = clock_.now_us();
  auto time_of = [&](std::uint64_t n) { return origin + n * kUsPerSecond / rate; };
  std::uint64_t next = 0;  // index of the next sample to convert

  while (!stop_.requested()) {
    const std::uint64_t block_end = next + timing_.block_frames;
    clock_.sleep_until_us(time_of(block_end - 1));
    // A thread this late has lost what the DMA ring could not hold.
    const std::uint64_t now = clock_.now_us();
    const std::uint64_t converted = (now - origin) * rate / kUsPerSecond;
    if (converted > next + ring + timing_.block_frames) {
      const std::uint64_t lost = converted - ring - next;
      capture_.skip(lost);
      next += lost;
      overrun(lost, "the capture thread was late");
      continue;
    }
    split(next, timing_.block_frames, [&](std::size_t offset, std::size_t length, bool lost) {
      if (lost) {
        capture_.skip(length);
        return;
      }
      const std::uint64_t first = next + offset;
      const std::uint64_t arrival = time_of(first + length - 1);
      const std::size_t samples = length * channels;
      if (adc) {
        const std::span<std::uint16_t> codes(codes_.data(), samples);
        source.fill_adc12(first, codes);
        capture_.push_adc12(codes, arrival);
      } else {
        const std::span<std::int16_t> pcm(pcm_.data(), samples);
        source.fill_pcm16(first, pcm);
        capture_.push_pcm16(pcm, arrival);
      }
    });
    next = block_end;
  }
}

bool CaptureLoop::run(LiveSource& source) {
  const std::uint64_t rate = timing_.sample_rate;
  const unsigned channels = timing_.channels;
  std::uint64_t next = 0;
  std::uint64_t last_arrival = 0;
  std::uint64_t origin = 0;
  bool overran = false;
  bool paced = false;
  bool ok = true;
  while (!stop_.requested()) {
    if (paced) clock_.sleep_until_us(origin + next * kUsPerSecond / rate);
    const LiveSource::Read read = source.read(pcm_);
    if (read.failed) {
      log_->critical("capture failed: {}", source.last_error());
      ok = false;
      break;
    }
    const std::uint64_t now = clock_.now_us();
    overran = overran || read.overrun;
    if (read.frames == 0) continue;
    if (overran && last_arrival != 0) {
      // How many were lost is not reported: what the clock says should have
      // arrived since the last block, less what did.
      const std::uint64_t expected = (now - last_arrival) * rate / kUsPerSecond;
      const std::uint64_t lost = expected > read.frames ? expected - read.frames : 0;
      capture_.skip(lost);
      next += lost;
      overrun(lost, "the sound card overran");
    }
    overran = false;
    if (origin == 0) origin = now;
    // A device that does not pace itself (ALSA's "null", a file) would flood
    // the link: past twice real time, it is paced on the clock instead.
    const std::uint64_t due = (now - origin) * rate / kUsPerSecond;
    if (!paced && next > 2 * due + std::uint64_t{timing_.block_frames} * timing_.ring_blocks) {
      log_->warn("the source delivers faster than real time (it does not pace itself): pacing it on the clock");
      paced = true;
    }
    const std::size_t frames = read.frames;
    split(next, frames, [&](std::size_t offset, std::size_t length, bool lost) {
      if (lost) {
        capture_.skip(length);
        return;
      }
      // The block's last sample arrived now; earlier ones 1/rate apart before it.
      const std::uint64_t later = frames - (offset + length);
      const std::uint64_t back = later * kUsPerSecond / rate;
      capture_.push_pcm16(std::span<const std::int16_t>(pcm_.data() + offset * channels, length * channels),
                          now > back ? now - back : 0);
    });
    next += frames;
    last_arrival = now;
  }
  source.stop();
  return ok;
}

}  // namespace micstream::device
