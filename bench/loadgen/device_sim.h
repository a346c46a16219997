// The virtual devices that stream into the server. Each speaks link protocol
// v1 (docs/protocol.md) to the ingest port: WELCOME -> HELLO (a real HMAC
// proof over the nonce) -> one PING carrying a "known, zero" clock offset
// (offset 0, round trip 1 us: the loadgen and the server read the same clock)
// -> AUDIO frames at real-time pace from the steady clock, devices staggered
// across one frame period, each frame stamped with the system clock (Unix us)
// when it is sent; a PING again every --ping-interval seconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "net.h"
#include "options.h"
#include "phase.h"

namespace micstream::proto {
struct FrameView;
}

namespace micstream::loadgen {

/// A sequence number not known (yet).
constexpr std::uint32_t kNoSeq = std::numeric_limits<std::uint32_t>::max();

/// The sequence numbers a device sent (by schedule) in the measured window:
/// [first, end), each kNoSeq until known.
struct SeqWindow {
  std::uint32_t first = kNoSeq;
  std::uint32_t end = kNoSeq;
};

/// What the report prints about the devices.
struct DeviceStats {
  unsigned disconnects = 0;
  std::int64_t max_send_late_ns = 0;  // in the window
  std::uint64_t late_sends = 0;       // in the window, more than 1 ms after their time
  std::size_t max_backlog = 0;        // bytes a device's socket had not taken yet
  std::int64_t max_abs_offset_us = 0, max_rtt_us = 0;  // from the PONGs
  std::uint64_t pongs = 0;
};

class DeviceSimulator {
 public:
  /// Makes opt.devices devices with ids <--device-prefix><index> (dies on an
  /// invalid id); connects none yet. All references must outlive it.
  DeviceSimulator(const Options& opt, const Endpoint& ingest, const Poller& poller, const Timeline& timeline);
  ~DeviceSimulator();
  DeviceSimulator(const DeviceSimulator&) = delete;
  DeviceSimulator& operator=(const DeviceSimulator&) = delete;

  /// Connects every device; the handshake follows in on_event(). A device
  /// that fails before the first listener connects ends the run (die).
  void connect_all();
  /// An epoll event for device index (tag Poller::kDevice | index).
  void on_event(std::uint32_t index, std::uint32_t events);
  /// Starts the frame clocks at now, the devices staggered across one frame.
  void start_streaming(std::int64_t now);
  /// Sends every AUDIO frame and PING due by now.
  void service(std::int64_t now);
  /// At the end of the window: devices that sent nothing in it get an empty
  /// window, those that stopped streaming get their end.
  void close_windows();

  /// Every device's window end is known.
  [[nodiscard]] bool windows_closed() const;
  /// The earlier of wake and the next frame due.
  [[nodiscard]] std::int64_t next_due(std::int64_t wake) const;

  [[nodiscard]] std::size_t size() const { return devices_.size(); }
  [[nodiscard]] unsigned streaming() const { return streaming_; }
  [[nodiscard]] const std::string& id(std::uint32_t index) const;
  [[nodiscard]] SeqWindow window(std::uint32_t index) const;
  [[nodiscard]] std::int64_t frame_ns() const { return frame_ns_; }
  [[nodiscard]] const DeviceStats& stats() const { return stats_; }

 private:
  struct Device;

  void start_device(unsigned i);
  void device_read(Device& d);
  void device_frame(Device& d, const proto::FrameView& f);
  bool device_send(Device& d, const std::uint8_t* p, std::size_t n);
  void device_flush(Device& d);
  void device_closed(Device& d, const std::string& why);
  void send_audio(Device& d, std::int64_t due_ns);
  void send_ping(Device& d);

  const Options& opt_;
  const Endpoint& ingest_;
  const Poller& poller_;
  const Timeline& timeline_;
  std::int64_t frame_ns_ = 0;
  std::vector<std::int16_t> tone_;  // one frame of samples
  std::vector<std::unique_ptr<Device>> devices_;
  unsigned streaming_ = 0;
  DeviceStats stats_;
};

}  // namespace micstream::loadgen
