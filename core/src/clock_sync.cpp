#include "micstream/clock_sync.h"

namespace micstream {

bool ClockSync::add(std::uint64_t t0, std::uint64_t t1, std::uint64_t t2, std::uint64_t t3) {
  if (t3 < t0 || t2 < t1) return false;
  const std::uint64_t remote_hold = t2 - t1;
  const std::uint64_t total = t3 - t0;
  const std::uint64_t rtt = total > remote_hold ? total - remote_hold : 0;
  // ((t1 - t0) + (t2 - t3)) / 2, in signed arithmetic on differences so that
  // clocks decades apart (Unix epoch against uptime) do not overflow.
  const auto offset = (static_cast<std::int64_t>(t1 - t0) + static_cast<std::int64_t>(t2 - t3)) / 2;
  samples_[next_] = {offset, rtt > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(rtt)};
  next_ = (next_ + 1) % kWindow;
  if (count_ < kWindow) ++count_;
  return true;
}

const ClockSync::Sample* ClockSync::best() const {
  const Sample* best = nullptr;
  for (std::size_t i = 0; i < count_; ++i) {
    if (best == nullptr || samples_[i].rtt_us < best->rtt_us) best = &samples_[i];
  }
  return best;
}

std::int64_t ClockSync::offset_us() const {
  const Sample* b = best();
  return b ? b->offset_us : 0;
}

std::uint32_t ClockSync::rtt_us() const {
  const Sample* b = best();
  return b ? b->rtt_us : 0;
}

}  // namespace micstream
