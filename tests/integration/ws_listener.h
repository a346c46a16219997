// A WebSocket listener (Beast, its own I/O thread) that records every message
// with its arrival time, and can stop reading to play a stalled browser.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "micstream/error.h"

#include "harness.h"

namespace micstream::itest {

/// One message as it arrived.
struct WsMessage {
  bool binary = false;
  std::vector<std::uint8_t> data;  ///< binary messages
  std::string text;                ///< text messages, as sent
  nlohmann::json json;             ///< text parsed (discarded when it is not JSON)
  std::int64_t steady_us = 0;      ///< arrival, steady clock
  std::int64_t system_us = 0;      ///< arrival, system clock (Unix epoch)
};

/// The listener protocol's binary audio message, decoded by core's
/// listener::decode_audio (the one C++ definition of its bytes).
struct AudioMessage {
  Errc error = Errc::ok;  ///< what decode_audio said; the fields are only meaningful when ok
  std::uint8_t codec = 0;
  std::uint8_t channels = 0;
  std::uint32_t sequence = 0;
  std::uint64_t first_sample = 0;
  std::int64_t capture_time_us = 0;
  std::uint32_t sample_rate = 0;
  std::uint16_t sample_count = 0;
  std::vector<std::uint8_t> payload;  ///< the codec payload; the whole message when it did not decode
  std::int64_t steady_us = 0;
  std::int64_t system_us = 0;
};

/// Decodes a binary message (error set when it is not a valid audio message).
AudioMessage parse_audio_message(std::span<const std::uint8_t> bytes);

struct ListenerOptions {
  std::string target = "/ws";  ///< e.g. "/ws?device=mic-01"
  /// SO_RCVBUF set before connect (0: the system default). Small values make
  /// the server's send buffer fill quickly once the listener stops reading.
  int receive_buffer = 0;
  /// TCP_MAXSEG set before connect (0: default). A small MSS keeps the
  /// server's auto-sized send buffer small on loopback (its MSS is ~64 KiB).
  int max_segment = 0;
  Millis connect_timeout = 3s;
  std::map<std::string, std::string> headers{};  ///< added to the upgrade request (Cookie, Authorization)
};

/// The options a stalled listener uses: measured on Linux 6 loopback, a
/// server can hand the kernel only ~60 KB for such a listener before its
/// writes block (~4 MB with default options). integration_harness_test checks it.
inline constexpr int kStallReceiveBuffer = 1024;
inline constexpr int kStallMaxSegment = 1460;

class WsListener {
 public:
  /// Connects and does the WebSocket handshake (throws on failure), then reads
  /// in its own thread until the connection ends or the object is destroyed.
  WsListener(std::uint16_t http_port, ListenerOptions options);
  ~WsListener();
  WsListener(const WsListener&) = delete;
  WsListener& operator=(const WsListener&) = delete;

  [[nodiscard]] std::uint16_t local_port() const { return local_port_; }

  /// Stops reading after the message being read now (a stalled browser).
  void pause_reading();
  /// Reads again.
  void resume_reading();

  /// Sends a text message; waits until written. False when the write failed.
  bool send_text(const std::string& text, Millis timeout = 3s);
  /// Starts a WebSocket close handshake (code 1000) and returns.
  void close();

  // ---- what arrived (copies, safe from any thread) ----
  [[nodiscard]] std::vector<WsMessage> messages() const;
  [[nodiscard]] std::vector<AudioMessage> audio() const;
  [[nodiscard]] std::size_t audio_count() const;
  /// Text messages parsed as JSON, optionally only those with this "type".
  [[nodiscard]] std::vector<nlohmann::json> texts(const std::string& type = {}) const;

  /// Waits until pred (given the messages so far, under the lock) is true.
  bool wait(const std::function<bool(const std::vector<WsMessage>&)>& pred, Millis timeout) const;
  bool wait_audio_count(std::size_t n, Millis timeout) const;
  /// Waits for a text message of this type for which pred (if any) is true.
  std::optional<nlohmann::json> wait_text(const std::string& type, Millis timeout,
                                          const std::function<bool(const nlohmann::json&)>& pred = {}) const;

  // ---- how it ended ----
  [[nodiscard]] bool ended() const;
  bool wait_ended(Millis timeout) const;
  /// The close frame's code when the server sent one.
  [[nodiscard]] std::optional<int> close_code() const;
  /// What ended the read loop (Beast's error message), empty while open.
  [[nodiscard]] std::string end_reason() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint16_t local_port_ = 0;
};

}  // namespace micstream::itest
