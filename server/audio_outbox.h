// What waits for one listener's socket, a WebSocket or an HTTP stream: shared,
// read-only buffers, each either audio (bounded in audio time by its session:
// when too much waits, the oldest audio is dropped and the listener skips to
// live) or something that is never dropped (text, control, a stream's header).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>

namespace micstream::server {

struct Metrics;

class AudioOutbox {
 public:
  struct Item {
    std::shared_ptr<const std::string> bytes;
    std::uint32_t audio_us = 0;  ///< 0: not audio, never dropped
    std::chrono::steady_clock::time_point arrived{};  ///< audio: read off the device's socket
  };

  void push(Item item);
  /// Drops every waiting audio item but the newest (what is in flight is not
  /// waiting); returns how many were dropped.
  std::size_t skip_to_live();
  /// Drops every waiting audio item (a session that is closing).
  void drop_audio();
  /// Puts up to max items, oldest first, in flight: their bytes, for one gather write.
  const std::vector<boost::asio::const_buffer>& start_write(std::size_t max);
  /// The write of what was in flight ended (ok: all of it was written now):
  /// counts the bytes, and each audio item's delay since it arrived (Metrics::listener_delivery).
  void write_done(bool ok, std::size_t bytes, std::chrono::steady_clock::time_point now, Metrics& metrics);

  [[nodiscard]] bool empty() const { return items_.empty(); }
  [[nodiscard]] std::uint64_t audio_us() const { return audio_us_; }
  [[nodiscard]] std::size_t bytes() const { return bytes_; }

 private:
  std::deque<Item> items_;
  std::vector<Item> in_flight_;
  std::vector<boost::asio::const_buffer> gather_;
  std::uint64_t audio_us_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace micstream::server
