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
  if (faults_.send_jitter_ms > 0) {
    const std::uint32_t delay = random_.next() % (faults_.send_jitter_ms + 1);
    if (delay > 0) (void)stop_.sleep_ms(delay);
  }
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

}  // namespace micstream::device
