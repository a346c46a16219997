// One HTTP client of a standard stream (GET /stream/<id>.wav, .opus): after
// the response's header, the format's header chunk, then audio chunks shared
// with the stream's other listeners. The WebSocket listener's rules hold: a
// queue bounded in audio time (--stream-queue-ms) that skips to live, and a
// cut when the socket takes nothing for the stall limit.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio.hpp>

#include "admission.h"
#include "audio_outbox.h"
#include "stream_encoder.h"
#include "transport.h"

namespace micstream::server {

class Hub;
class DeviceStream;

class HttpStreamSession : public std::enable_shared_from_this<HttpStreamSession> {
 public:
  /// transport: the response's header is written already.
  HttpStreamSession(Transport transport, ConnectionLimits::Slot slot, Hub& hub, std::string peer, StreamFormat format);
  ~HttpStreamSession();

  /// Joins the device's stream (the id and the right to hear it were checked); starts writing.
  void start(const std::string& device_id);

  /// Queues one chunk shared with the stream's other listeners.
  void deliver(const std::shared_ptr<const std::string>& chunk, std::uint32_t audio_us,
               std::chrono::steady_clock::time_point arrived);
  /// The stream ends (its format changed, the server stops): the last chunk, then the connection closes.
  void end(std::string_view reason);

  /// The hub is going away first: do not unregister from it later.
  void detach_from_hub() { finished_ = true; }

  [[nodiscard]] StreamFormat format() const { return format_; }
  [[nodiscard]] DeviceStream* stream() const { return stream_; }
  void set_stream(DeviceStream* stream) { stream_ = stream; }
  [[nodiscard]] const std::string& peer() const { return peer_; }

 private:
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> watch_stall();
  void write_next();
  void close_now();
  void finish();

  Transport transport_;
  ConnectionLimits::Slot slot_;
  Hub& hub_;
  std::string peer_;
  StreamFormat format_;
  DeviceStream* stream_ = nullptr;

  AudioOutbox outbox_;
  bool writing_ = false;
  bool ending_ = false;  // the last chunk is queued: close once it is written
  bool closed_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point last_progress_at_;
  boost::asio::steady_timer stall_timer_;
  std::uint64_t skipped_total_ = 0;
};

}  // namespace micstream::server
