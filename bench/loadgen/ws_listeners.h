// The WebSocket listeners. Listener i opens ws://host:http/ws?device=<device
// i % D> with a minimal hand-written client (fixed Sec-WebSocket-Key), and for
// every audio message reads the 32-byte header: sequence and capture time
// (already on the server's clock, which is ours). Latency = arrival - capture
// time, where arrival is the kernel's receive timestamp of the segment
// (SO_TIMESTAMP, system clock), so the loadgen's own scheduling delays do not
// count; the time the loadgen read the message is recorded as well. With
// --tls the listeners open wss:// instead (see TlsClient): the same messages
// and figures, the server encrypting each listener's copy of every frame.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "latency_histogram.h"
#include "net.h"
#include "options.h"
#include "phase.h"

namespace micstream::loadgen {

class DeviceSimulator;
class TlsClient;

/// What the listeners counted, for the report. Only frames the devices sent
/// in the measured window count as deliveries and latency samples.
struct ListenerStats {
  // Arrival at the listener's socket (the kernel's receive timestamp of the
  // segment, SO_TIMESTAMP, system clock) - capture time; the read time when a
  // read carried no timestamp.
  LatencyHistogram arrival;
  LatencyHistogram read;  // system clock when the loadgen read the message - capture time
  std::uint64_t no_rx_timestamp = 0;
  std::uint64_t out_of_order = 0;
  std::uint64_t other_binary = 0;
  std::uint64_t invalid_audio = 0;  // audio messages that break docs/protocol.md's rules
  std::uint64_t skipped_msgs = 0, skipped_frames = 0;
  std::uint64_t skipped_msgs_window = 0;
  std::uint64_t text_msgs = 0, error_msgs = 0;
  std::string first_error_msg;
  std::uint64_t failures = 0;  // failed to connect (before the upgrade)
  std::string first_failure;
  std::uint64_t disconnects = 0, disconnects_window = 0;  // after the upgrade
  std::map<std::string, std::uint64_t> disconnect_reasons;
};

/// The window's frames over all listeners: each listener must receive every
/// frame its device sent in the window.
struct Delivery {
  std::uint64_t expected = 0;
  std::uint64_t delivered = 0;
  std::uint64_t lossy = 0;  // listeners that missed some
  std::uint64_t gap_runs = 0;
};

class WsListeners {
 public:
  /// opt.listeners listeners, none connected yet; tls is null for plain ws.
  /// All references must outlive it.
  WsListeners(const Options& opt, const Endpoint& http, const TlsClient* tls, const Poller& poller,
              const Timeline& timeline, const DeviceSimulator& devices);
  ~WsListeners();
  WsListeners(const WsListeners&) = delete;
  WsListeners& operator=(const WsListeners&) = delete;

  /// Starts connections up to --connect-concurrency in flight, and fails the
  /// ones that did not finish their handshake within --connect-timeout.
  void connect_more(std::int64_t now);
  /// connect_more() would start another connection now.
  [[nodiscard]] bool can_connect_more() const;
  /// Every listener has connected or failed.
  [[nodiscard]] bool connecting_done() const;
  /// An epoll event for listener index (tag Poller::kListener | index).
  void on_event(std::uint32_t index, std::uint32_t events);

  /// Every open listener has received its device's last window frame.
  [[nodiscard]] bool caught_up() const;
  [[nodiscard]] Delivery delivery() const;

  [[nodiscard]] std::uint32_t open() const { return open_; }
  [[nodiscard]] unsigned in_flight() const { return inflight_; }
  [[nodiscard]] const char* scheme() const { return scheme_; }
  /// Protocol and cipher of the first TLS session; empty before one (or without --tls).
  [[nodiscard]] const std::string& tls_session() const { return tls_session_; }
  [[nodiscard]] const ListenerStats& stats() const { return stats_; }

 private:
  struct Listener;

  void start_listener(std::uint32_t i);
  void listener_fail(Listener& l, const std::string& why);
  void listener_closed(Listener& l, const std::string& why);
  void listener_lost(Listener& l, const std::string& why);
  bool send_upgrade(Listener& l);
  bool listener_write(Listener& l, const void* p, std::size_t n);
  bool tls_input(Listener& l, const std::uint8_t* p, std::size_t n, std::int64_t now_us);
  bool tls_flush(Listener& l);
  bool listener_input(Listener& l, const std::uint8_t* p, std::size_t n, std::int64_t now_us);
  bool listener_bytes(Listener& l, const std::uint8_t* p, std::size_t n, std::int64_t now_us);
  bool begin_frame(Listener& l);
  bool end_frame(Listener& l, std::int64_t now_us);
  void on_audio(Listener& l, std::int64_t now_us);
  void on_text(Listener& l);
  bool listener_send_control(Listener& l, std::uint8_t op, std::string_view payload);

  const Options& opt_;
  const Endpoint& http_;
  const TlsClient* tls_;
  const Poller& poller_;
  const Timeline& timeline_;
  const DeviceSimulator& devices_;
  const char* scheme_;
  std::string upgrade_prefix_ = "GET /ws?device=";
  std::string tls_session_;

  std::vector<Listener> listeners_;
  std::uint32_t next_listener_ = 0;
  unsigned inflight_ = 0;
  std::deque<std::uint32_t> inflight_order_;  // in start order, for the timeouts
  std::uint32_t open_ = 0;
  std::int64_t rx_kernel_us_ = 0;  // the kernel's receive time of the last read, 0 for none
  ListenerStats stats_;
};

}  // namespace micstream::loadgen
