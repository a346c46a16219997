#include "audio_outbox.h"

#include "metrics.h"

namespace micstream::server {

void AudioOutbox::push(Item item) {
  audio_us_ += item.audio_us;
  bytes_ += item.bytes->size();
  items_.push_back(std::move(item));
}

std::size_t AudioOutbox::skip_to_live() {
  if (items_.empty()) return 0;
  std::size_t dropped = 0;
  std::size_t index = 0;
  const std::size_t newest = items_.size() - 1;
  std::erase_if(items_, [&](const Item& item) {
    const bool drop = index++ != newest && item.audio_us > 0;
    if (drop) {
      audio_us_ -= item.audio_us;
      bytes_ -= item.bytes->size();
      ++dropped;
    }
    return drop;
  });
  return dropped;
}

void AudioOutbox::drop_audio() {
  std::erase_if(items_, [this](const Item& item) {
    if (item.audio_us > 0) bytes_ -= item.bytes->size();
    return item.audio_us > 0;
  });
  audio_us_ = 0;
}

const std::vector<boost::asio::const_buffer>& AudioOutbox::start_write(std::size_t max) {
  in_flight_.clear();
  gather_.clear();
  while (!items_.empty() && in_flight_.size() < max) {
    Item& item = items_.front();
    audio_us_ -= item.audio_us;
    bytes_ -= item.bytes->size();
    gather_.emplace_back(item.bytes->data(), item.bytes->size());
    in_flight_.push_back(std::move(item));
    items_.pop_front();
  }
  return gather_;
}

void AudioOutbox::write_done(bool ok, std::size_t bytes, std::chrono::steady_clock::time_point now, Metrics& metrics) {
  if (ok) {
    // Every audio item of the write was delivered now, each after its own wait.
    for (const Item& item : in_flight_) {
      if (item.audio_us > 0) metrics.listener_delivery.record(now - item.arrived);
    }
  }
  in_flight_.clear();
  metrics.bytes_out += bytes;
}

}  // namespace micstream::server
