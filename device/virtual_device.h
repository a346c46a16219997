// A virtual device: a tone "captured" frame by frame on an absolute schedule,
// encoded and handed to its LinkSession. Frames due while the link is down or
// backed up are still captured (the sample index advances) and counted as
// dropped, so the server sees the gap exactly as with a real device.
//
// Like LinkSession it never blocks: fd()/poll_events()/on_poll(),
// next_deadline_us()/on_time() let one loop drive it; run() is that loop for
// a single device.
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "device_clock.h"
#include "link_session.h"
#include "micstream/codec.h"
#include "micstream/dsp.h"
#include "micstream/protocol.h"
#include "tone_source.h"

namespace micstream::device {

struct DeviceOptions {
  LinkOptions link;
  Codec codec = Codec::ima_adpcm;
  unsigned channels = 1;
  std::uint32_t sample_rate = 16000;
  std::uint32_t frame_ms = 20;
  double tone_hz = 440.0;
  double level_dbfs = -12.0;  ///< peak
  std::uint64_t status_interval_us = 5 * kUsPerSecond;
};

/// Empty when the options describe a stream the protocol can carry, else why not.
[[nodiscard]] std::string check_options(const DeviceOptions& options);

class VirtualDevice {
 public:
  struct Counters {
    std::uint64_t captured = 0;
    std::uint64_t sent = 0;     ///< handed to the link's send buffer
    std::uint64_t dropped = 0;  ///< captured but never handed to the link
  };

  /// options must pass check_options().
  VirtualDevice(DeviceOptions options, std::shared_ptr<spdlog::logger> log);

  /// Starts the capture schedule and the first connection attempt.
  void start();
  /// Closes the link and logs a summary.
  void stop();

  [[nodiscard]] int fd() const { return link_.fd(); }
  [[nodiscard]] short poll_events() const { return link_.poll_events(); }
  void on_poll(short revents) { link_.on_poll(revents); }
  [[nodiscard]] std::uint64_t next_deadline_us() const;
  void on_time();

  /// Runs until stop_fd turns readable or duration_us (0: no limit) has passed.
  /// False when polling failed.
  bool run(int stop_fd, std::uint64_t duration_us);

  [[nodiscard]] const Counters& counters() const { return counters_; }
  [[nodiscard]] const DeviceClock& clock() const { return clock_; }

 private:
  [[nodiscard]] std::uint64_t frame_due_us(std::uint64_t frame) const;
  void capture_frame();
  void apply_config(const proto::Config& config);
  [[nodiscard]] proto::Stats stats() const;
  [[nodiscard]] StreamFormat stream_format() const;
  void log_status();

  DeviceOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  DeviceClock clock_;  // before link_, which keeps a reference to it
  std::uint16_t samples_per_frame_;
  std::uint64_t frame_us_;
  ToneSource source_;
  dsp::Gain gain_;
  FrameEncoder encoder_;
  std::vector<std::int16_t> samples_;
  LinkSession link_;

  bool started_ = false;
  std::uint64_t origin_us_ = 0;  // device time of sample 0
  std::uint64_t next_frame_ = 0;  // index of the next frame to capture
  Counters counters_;
  Counters last_status_;
  std::uint64_t next_status_us_ = 0;
};

}  // namespace micstream::device
