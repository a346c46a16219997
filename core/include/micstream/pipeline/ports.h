// What a platform provides to the pipeline: FreeRTOS, esp_timer and lwIP
// sockets on the ESP32 (firmware/main), POSIX threads, clocks and sockets on
// Linux (device/). Small interfaces so the logic above them is written once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace micstream::pipeline {

/// The device's monotonic clock.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Microseconds since boot (esp_timer_get_time(), CLOCK_MONOTONIC).
  virtual std::uint64_t now_us() = 0;
  /// Blocks the calling task for about ms milliseconds.
  virtual void sleep_ms(std::uint32_t ms) = 0;
};

/// Mutual exclusion between the capture and the sender task. Held only for a
/// few index updates, never across I/O.
class Mutex {
 public:
  virtual ~Mutex() = default;
  virtual void lock() = 0;
  virtual void unlock() = 0;
};

/// Wakes the sender when capture queued a frame.
class Signal {
 public:
  virtual ~Signal() = default;
  /// Never blocks (called by the capture task).
  virtual void notify() = 0;
  /// Returns after a notify() or after about ms milliseconds. A notify() that
  /// came before the wait is not lost: the wait returns at once (a binary
  /// semaphore, a FreeRTOS task notification, a flag under a condition variable).
  virtual void wait_ms(std::uint32_t ms) = 0;
};

/// One TCP connection to the server, opened again after every failure.
class Transport {
 public:
  enum class Status : std::uint8_t {
    ok,
    timeout,  ///< nothing happened within the time given
    closed,   ///< the peer closed the connection
    failed,   ///< an error; last_error() says which
  };
  virtual ~Transport() = default;
  /// Connects to the configured server (resolving or discovering it as the platform does).
  virtual Status connect(std::uint32_t timeout_ms) = 0;
  /// Sends all bytes, or fails: a partial send leaves the stream unusable.
  virtual Status send(std::span<const std::uint8_t> bytes, std::uint32_t timeout_ms) = 0;
  /// Receives what is there, waiting up to timeout_ms (0: do not wait). received is set on ok.
  virtual Status receive(std::span<std::uint8_t> out, std::uint32_t timeout_ms, std::size_t& received) = 0;
  /// After the plain WELCOME: the TLS-PSK handshake (identity the device id,
  /// key its secret; docs/protocol.md "TLS"), then send and receive go
  /// through TLS until close(). Failed where the platform has no TLS.
  virtual Status start_tls(std::uint32_t /*timeout_ms*/) { return Status::failed; }
  virtual void close() = 0;
  /// A short description of the last failure, for logs; never null.
  virtual const char* last_error() = 0;
};

/// Uniform 32-bit random numbers (esp_random(), std::random_device).
class Random {
 public:
  virtual ~Random() = default;
  virtual std::uint32_t next() = 0;
};

}  // namespace micstream::pipeline
