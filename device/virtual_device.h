// One virtual ESP32: the portable pipeline of core/ (Capture -> FrameQueue ->
// Sender) on the POSIX ports, with a capture thread and a sender thread, as
// the firmware runs it on two FreeRTOS tasks. The frame pool, the transmit
// buffer and the capture blocks are allocated once, in the constructor;
// nothing is allocated on the audio path after start().
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "capture_loop.h"
#include "device_config.h"
#include "fault_transport.h"
#include "log_observer.h"
#include "micstream/pipeline/capture.h"
#include "micstream/pipeline/frame_queue.h"
#include "micstream/pipeline/sender.h"
#include "posix_clock.h"
#include "posix_mutex.h"
#include "posix_random.h"
#include "posix_signal.h"
#include "source.h"
#include "stop_flag.h"
#include "tcp_transport.h"

namespace micstream::device {

class VirtualDevice {
 public:
  /// What the device did, for the last log line and --summary-json.
  struct Summary {
    std::string id;
    double seconds = 0;
    std::uint64_t frames_captured = 0;        ///< committed to the queue
    std::uint64_t frames_sent = 0;
    std::uint64_t frames_dropped = 0;         ///< the queue dropped them (the sender was behind, or no link)
    std::uint64_t frames_dropped_before_link = 0;  ///< of those, before the first link was accepted (nothing to send to yet)
    std::uint64_t frames_dropped_capture = 0; ///< --drop-every lost them before the queue
    std::uint64_t samples_overrun = 0;        ///< lost because capture was late
    std::uint32_t reconnects = 0;
    std::uint64_t disconnects = 0;
    std::uint64_t server_errors = 0;
    std::uint64_t cuts = 0;
    std::uint64_t stalls = 0;
    bool failed = false;
  };

  /// config must pass check_config(). The source is built here.
  VirtualDevice(DeviceConfig config, const StopFlag& stop, std::shared_ptr<spdlog::logger> log);
  ~VirtualDevice();
  VirtualDevice(const VirtualDevice&) = delete;
  VirtualDevice& operator=(const VirtualDevice&) = delete;

  /// Starts both threads; false (error set) when the pipeline cannot run this configuration.
  bool start(std::string& error);
  /// After the stop flag was set: waits for both threads and logs the summary.
  void join();

  /// The capture source failed (a sound card went away): the process should end with an error.
  [[nodiscard]] bool failed() const { return failed_.load(std::memory_order_relaxed); }
  /// Valid after join().
  [[nodiscard]] Summary summary() const;
  [[nodiscard]] const std::string& id() const { return config_.id; }

 private:
  void capture_main();
  void sender_main();
  void log_status();

  DeviceConfig config_;
  const StopFlag& stop_;
  std::shared_ptr<spdlog::logger> log_;

  PosixClock clock_;
  PosixMutex mutex_;
  PosixSignal signal_;
  PosixRandom random_;

  std::unique_ptr<SyntheticSource> synthetic_;
  std::unique_ptr<LiveSource> live_;
  std::string source_error_;

  std::vector<std::int16_t> pool_storage_;
  std::vector<pipeline::AudioFrame> slots_;
  std::vector<std::uint8_t> tx_buffer_;
  std::unique_ptr<pipeline::FrameQueue> queue_;
  std::unique_ptr<pipeline::Capture> capture_;
  std::unique_ptr<CaptureLoop> capture_loop_;
  TcpTransport tcp_;
  FaultTransport transport_;
  LogObserver observer_;
  std::unique_ptr<pipeline::Sender> sender_;

  std::thread capture_thread_;
  std::thread sender_thread_;
  std::atomic<bool> failed_{false};
  bool started_ = false;
  bool joined_ = false;
  std::uint64_t started_us_ = 0;
  std::uint64_t stopped_us_ = 0;
  std::uint64_t stalls_ = 0;
  std::atomic<std::uint64_t> dropped_before_link_{0};  // the queue's drops when the first link was accepted
  std::atomic<bool> linked_{false};

  struct Previous {
    std::uint64_t sent = 0;
    std::uint64_t dropped = 0;
    std::uint64_t dropped_capture = 0;
  } previous_;
};

}  // namespace micstream::device
