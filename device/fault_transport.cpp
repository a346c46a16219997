#include "fault_transport.h"

#include <cmath>
#include <cstdio>

#include "micstream/protocol.h"

namespace micstream::device {

FaultTransport::FaultTransport(pipeline::Transport& inner, LinkFaults faults, pipeline::Clock& clock,
                               pipeline::Random& random, const StopFlag& stop)
    : inner_(inner), faults_(faults), clock_(clock), random_(random), stop_(stop) {}

FaultTransport::Status FaultTransport::connect(std::uint32_t timeout_ms) {
  own_error_ = false;
  const Status status = inner_.connect(timeout_ms);
  if (status == Status::ok && faults_.cut_every_s > 0) {
    cut_at_us_ = clock_.now_us() + static_cast<std::uint64_t>(std::llround(faults_.cut_every_s * 1e6));
  }
  return status;
}

FaultTransport::Status FaultTransport::send(std::span<const std::uint8_t> bytes, std::uint32_t timeout_ms) {
  own_error_ = false;
  if (faults_.send_jitter_ms > 0) hold_for_jitter(bytes);
  const bool audio = bytes.size() > proto::kHeaderSize &&
                     bytes[3] == static_cast<std::uint8_t>(proto::FrameType::audio);
  if (faults_.cut_every_s > 0 && audio && clock_.now_us() >= cut_at_us_) {
    const std::size_t half = bytes.size() / 2;
    (void)inner_.send(bytes.first(half), timeout_ms);
    inner_.close();
    cuts_.fetch_add(1, std::memory_order_relaxed);
    std::snprintf(error_, sizeof error_, "fault injection: cut the link after %zu of the %zu bytes of an AUDIO frame",
                  half, bytes.size());
    own_error_ = true;
    return Status::failed;
  }
  return inner_.send(bytes, timeout_ms);
}

void FaultTransport::hold_for_jitter(std::span<const std::uint8_t> bytes) {
  proto::Audio audio;
  if (bytes.size() <= proto::kHeaderSize || bytes[3] != static_cast<std::uint8_t>(proto::FrameType::audio) ||
      proto::decode(bytes.subspan(proto::kHeaderSize), audio) != Errc::ok) {
    return;
  }
  // Complete one frame period after its first sample (the period from the
  // capture times of consecutive frames; a jump, e.g. after a reconnect, is not one).
  const std::uint64_t capture_us = audio.header.capture_time_us;
  if (last_capture_us_ != 0 && capture_us > last_capture_us_ && capture_us - last_capture_us_ < 1'000'000) {
    period_us_ = capture_us - last_capture_us_;
  }
  last_capture_us_ = capture_us;
  const std::uint64_t delay_us = 1000ULL * (random_.next() % (faults_.send_jitter_ms + 1));
  const std::uint64_t leave_us = capture_us + period_us_ + delay_us;
  const std::uint64_t now_us = clock_.now_us();
  // (Late already, behind the frame ahead: it goes at once, in order.)
  if (leave_us > now_us) (void)stop_.sleep_ms(static_cast<std::uint32_t>((leave_us - now_us + 999) / 1000));
}

}  // namespace micstream::device
