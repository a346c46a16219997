// The process-wide "stop now" (SIGINT, SIGTERM, --duration over): a flag the
// threads check between steps, and an eventfd that turns readable with it so
// that a thread blocked in poll() (a connect, a send, a receive, a fault's
// sleep) wakes at once instead of running out its timeout.
#pragma once

#include <atomic>
#include <cstdint>

namespace micstream::device {

class StopFlag {
 public:
  StopFlag();
  ~StopFlag();
  StopFlag(const StopFlag&) = delete;
  StopFlag& operator=(const StopFlag&) = delete;

  /// From any thread (not from a signal handler: main waits for signals with sigtimedwait).
  void request();
  [[nodiscard]] bool requested() const { return requested_.load(std::memory_order_acquire); }
  /// Readable once stop was requested; -1 if no eventfd could be made (then waits only time out).
  [[nodiscard]] int fd() const { return fd_; }
  /// Sleeps up to ms milliseconds of real time; true when woken by a stop.
  bool sleep_ms(std::uint32_t ms) const;

 private:
  std::atomic<bool> requested_{false};
  int fd_ = -1;
};

}  // namespace micstream::device
