// One device's link to the server: connect, WELCOME/HELLO, PING/PONG clock
// sync, STATS, CONFIG and ERROR, and reconnecting with the shared backoff when
// the link fails. It never blocks: the owner polls fd() for poll_events(),
// calls on_poll() with what happened and on_time() once next_deadline_us()
// has passed, so one thread can drive one device or many.
//
// Audio is the owner's business (what to capture, how to encode): it frames
// each AUDIO in place in the link's send buffer with reserve_audio() and
// commit_audio(), and the link only says whether there is room.
#pragma once

#include <sys/socket.h>

#include <spdlog/common.h>
#include <spdlog/logger.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "device_clock.h"
#include "micstream/backoff.h"
#include "micstream/clock_sync.h"
#include "micstream/codec.h"
#include "micstream/frame_parser.h"
#include "micstream/protocol.h"
#include "send_buffer.h"

namespace micstream::device {

/// What HELLO announces; asked for at every handshake since CONFIG may have changed the codec.
struct StreamFormat {
  Codec codec = Codec::ima_adpcm;
  std::uint8_t channels = 1;
  std::uint16_t samples_per_frame = 320;
  std::uint32_t sample_rate = 16000;
};

struct LinkOptions {
  std::string host = "127.0.0.1";
  std::string port = "2001";
  std::string device_id = "virtual-01";
  std::vector<std::uint8_t> secret;
  std::string firmware_version;

  /// Frames waiting for the kernel; AUDIO that does not fit is dropped.
  std::size_t send_buffer_bytes = 2 * proto::kMaxFrameSize;
  /// Kept free of AUDIO so that PING and STATS still fit when audio backs up.
  std::size_t control_reserve_bytes = 256;
  /// SO_SNDBUF for the socket; 0 leaves the kernel's (self-tuning) default.
  /// A small one makes a slow link show up as drops within seconds.
  int socket_send_buffer_bytes = 0;

  std::uint64_t connect_timeout_us = 5 * kUsPerSecond;
  std::uint64_t welcome_timeout_us = 5 * kUsPerSecond;
  /// The server answers every PING at once, so this long without a byte means the link is dead.
  std::uint64_t silence_timeout_us = 10 * kUsPerSecond;
  unsigned initial_pings = 3;  ///< right after HELLO, to get an offset quickly
  std::uint64_t initial_ping_interval_us = 100 * kUsPerMs;
  std::uint64_t ping_interval_us = 2 * kUsPerSecond;
  std::uint64_t stats_interval_us = 5 * kUsPerSecond;
  BackoffPolicy backoff;
};

struct LinkCallbacks {
  std::function<StreamFormat()> stream_format;  ///< for HELLO
  std::function<proto::Stats()> stats;          ///< for STATS; reconnects is filled in by the link
  std::function<void(const proto::Config&)> on_config;
};

class LinkSession {
 public:
  enum class State : std::uint8_t {
    idle,              ///< not started, or stopped
    waiting,           ///< backing off before the next attempt
    connecting,        ///< TCP connect in progress
    awaiting_welcome,  ///< connected, the server's WELCOME has not arrived
    streaming,         ///< HELLO sent: AUDIO, PING and STATS flow
  };

  LinkSession(LinkOptions options, LinkCallbacks callbacks, const DeviceClock& clock,
              std::shared_ptr<spdlog::logger> log);
  ~LinkSession();
  LinkSession(const LinkSession&) = delete;
  LinkSession& operator=(const LinkSession&) = delete;

  /// Makes the first connection attempt now.
  void start();
  /// Closes the socket and stays idle (no reconnect).
  void stop();

  /// The socket to poll, or -1 when there is none (waiting, idle).
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] short poll_events() const;
  void on_poll(short revents);
  /// Device time at which on_time() has something to do (UINT64_MAX: nothing).
  [[nodiscard]] std::uint64_t next_deadline_us() const;
  void on_time();

  [[nodiscard]] State state() const { return state_; }
  [[nodiscard]] bool streaming() const { return state_ == State::streaming; }

  /// Room for one AUDIO frame of frame_size bytes in the send buffer, or an
  /// empty span when not streaming or when the frame does not fit (drop it).
  [[nodiscard]] std::span<std::uint8_t> reserve_audio(std::size_t frame_size);
  /// Queues the frame written into reserve_audio()'s span and starts sending it.
  void commit_audio(std::size_t frame_size);

  [[nodiscard]] const ClockSync& clock_sync() const { return clock_sync_; }
  /// Links the server accepted, after the first one.
  [[nodiscard]] std::uint32_t reconnects() const { return connections_ > 0 ? connections_ - 1 : 0; }
  [[nodiscard]] const std::string& server() const { return server_; }

 private:
  void attempt_connect();
  bool resolve(std::string& error);
  bool connect_next_address(std::string& error);
  void on_connected();
  void on_readable();
  void finish_connect();
  void handle_frame(const proto::FrameView& frame);
  void handle_welcome(const proto::FrameView& frame);
  void handle_pong(const proto::FrameView& frame);
  void handle_config(const proto::FrameView& frame);
  void handle_error(const proto::FrameView& frame);
  void send_ping();
  void send_stats();
  template <class Message>
  bool send_control(const Message& message);
  void flush();
  /// Sends ERROR (best effort) and drops the link: the server broke the protocol.
  void protocol_violation(Errc code, const std::string& detail);
  /// Closes the socket, schedules the next attempt and logs what went wrong with when it retries.
  void fail(const std::string& what, spdlog::level::level_enum level = spdlog::level::warn);
  void close_socket();

  LinkOptions options_;
  LinkCallbacks callbacks_;
  const DeviceClock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  std::string server_;  // "host:port" for messages

  State state_ = State::idle;
  int fd_ = -1;
  struct Address {
    sockaddr_storage storage;
    socklen_t size;
  };
  std::vector<Address> addresses_;
  std::size_t next_address_ = 0;
  std::string last_connect_error_;
  std::uint64_t deadline_us_ = 0;  // connect / welcome timeout, or the end of the backoff wait

  Backoff backoff_;
  std::random_device random_;
  std::uint32_t connections_ = 0;
  bool accepted_ = false;    // this link got a PONG: the server took our HELLO
  StreamFormat hello_format_;  // what this link's HELLO announced
  Errc server_error_ = Errc::ok;  // what the server said before it closed this link

  std::array<std::uint8_t, 512> parser_storage_{};  // the server's frames are all small
  proto::FrameParser parser_{parser_storage_};
  SendBuffer send_buffer_;
  bool audio_overflow_logged_ = false;

  ClockSync clock_sync_;
  std::uint32_t next_ping_id_ = 0;
  unsigned pings_this_link_ = 0;
  std::uint64_t next_ping_us_ = 0;
  std::uint64_t next_stats_us_ = 0;
  std::uint64_t last_receive_us_ = 0;
};

}  // namespace micstream::device
