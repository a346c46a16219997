// One browser listening over the WebSocket. Audio frames arrive as shared,
// read-only buffers and wait in a queue bounded in audio time: when it would
// overflow, the oldest waiting frames are dropped (the one being written is
// never touched), counted, and the listener is told it skipped to live. A
// listener whose socket takes nothing for the stall limit is disconnected.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "accounts.h"
#include "admission.h"
#include "audio_outbox.h"
#include "listener_protocol.h"
#include "transport.h"
#include "websocket_frame.h"

namespace micstream::server {

class Hub;
class DeviceStream;

class ListenerSession : public std::enable_shared_from_this<ListenerSession> {
 public:
  /// transport: upgraded already; user: who opened it (what they may hear);
  /// leftover: bytes read past the HTTP request.
  ListenerSession(Transport transport, ConnectionLimits::Slot slot, Hub& hub, User user, std::string leftover);
  ~ListenerSession();

  /// Registers with the hub, subscribes (empty id: the first device) for
  /// audio in codec, starts reading and writing.
  void start(const std::string& device_id, WantedCodec codec);

  /// Queues one audio frame shared with the device's other listeners;
  /// arrived: when the server read it off the device's socket.
  void deliver_audio(const std::shared_ptr<const std::string>& frame, std::uint32_t duration_us,
                     std::chrono::steady_clock::time_point arrived);
  /// Queues a text message; never dropped.
  void send(const std::shared_ptr<const std::string>& frame);
  void send_json(const nlohmann::json& json);

  /// Sends a close frame (when the socket can take it) and ends the session.
  void close(WsCloseCode code, std::string_view reason);

  /// The hub is going away first: do not unregister from it later.
  void detach_from_hub() { finished_ = true; }

  [[nodiscard]] DeviceStream* stream() const { return stream_; }
  void set_stream(DeviceStream* stream) { stream_ = stream; }
  [[nodiscard]] const std::string& peer() const { return peer_; }
  [[nodiscard]] const User& user() const { return user_; }
  [[nodiscard]] WantedCodec wanted_codec() const { return wanted_codec_; }

 private:
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> keepalive();
  void enqueue(AudioOutbox::Item item);
  void cut(std::string_view reason);
  void write_next();
  void skip_to_live();
  void handle_text(std::string_view text);
  void finish();

  Transport transport_;
  ConnectionLimits::Slot slot_;
  Hub& hub_;
  User user_;
  std::string peer_;
  std::string leftover_;
  WsClientFrameReader reader_;
  DeviceStream* stream_ = nullptr;
  WantedCodec wanted_codec_ = WantedCodec::device;

  AudioOutbox outbox_;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point last_progress_at_;  // when a write last completed
  std::chrono::steady_clock::time_point last_heard_at_;     // when the listener last sent anything
  boost::asio::steady_timer keepalive_timer_;
  std::uint64_t skipped_total_ = 0;
};

}  // namespace micstream::server
