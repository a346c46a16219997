// One device's TCP link: WELCOME with a fresh nonce, HELLO checked against the
// device's secret, then AUDIO, STATS and PING (answered with PONG at once).
// Anything malformed gets an ERROR frame with its reason, a log line, and
// costs this link only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio.hpp>

#include "admission.h"
#include "transport.h"
#include "micstream/frame_parser.h"
#include "micstream/protocol.h"

namespace micstream::server {

class Hub;
class DeviceStream;
class Secrets;

class DeviceSession : public std::enable_shared_from_this<DeviceSession> {
 public:
  /// tls: the device port's TLS-PSK context (device_tls.h), nullptr for plain links only.
  DeviceSession(boost::asio::ip::tcp::socket socket, ConnectionLimits::Slot slot, Hub& hub, const Secrets& secrets,
                HelloThrottle& throttle, boost::asio::ssl::context* tls);
  ~DeviceSession();

  void start();

  /// Sends CONFIG to the device (gain, codec, firmware update).
  void send_config(const proto::Config& config);

  /// Sends ERROR with the code and reason, then closes the link.
  void fail(Errc code, std::string_view reason);

  [[nodiscard]] const std::string& peer() const { return peer_; }

  /// The hub is going away first: do not unregister from it later.
  void detach_from_hub() { registered_ = false; }

 private:
  enum class FirstByte { tls, plain, none };
  boost::asio::awaitable<void> open_link();
  boost::asio::awaitable<FirstByte> first_byte();
  void send_welcome_now();
  void send_welcome();
  [[nodiscard]] std::string make_welcome();
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> watchdog();
  /// arrival_us: the server's clock, for timestamps; arrived: the steady clock, for the delivery delay.
  void handle(const proto::FrameView& frame, std::uint64_t arrival_us, std::chrono::steady_clock::time_point arrived);
  void on_hello(const proto::Hello& hello);
  void on_audio(const proto::Audio& audio, std::size_t frame_bytes, std::uint64_t arrival_us,
                std::chrono::steady_clock::time_point arrived);
  void on_ping(const proto::Ping& ping, std::uint64_t arrival_us);
  void send(std::string bytes);
  void write_next();
  void close_now();
  void extend_deadline(std::uint32_t ms);
  [[nodiscard]] std::string who() const;

  Transport transport_;
  boost::asio::ssl::context* tls_;
  std::string tls_identity_;  // the device id the TLS-PSK handshake proved; empty on a plain link
  bool link_ready_ = false;   // plain, or TLS after its handshake: frames may be written
  ConnectionLimits::Slot slot_;
  Hub& hub_;
  const Secrets& secrets_;
  HelloThrottle& throttle_;
  std::string peer_;
  std::string address_;  // the key the peer is throttled under (address_key)
  std::array<std::uint8_t, proto::kMaxFrameSize> parser_storage_{};
  proto::FrameParser parser_{parser_storage_};
  std::uint8_t nonce_[proto::kNonceSize] = {};

  DeviceStream* stream_ = nullptr;  // set once HELLO is accepted
  std::uint8_t channels_ = 1;
  // Server clock minus device clock: the device's own PING/PONG estimate when
  // it reported one, else the smallest arrival-minus-capture seen (an upper bound).
  std::optional<std::int64_t> reported_offset_us_;
  std::optional<std::int64_t> observed_offset_us_;

  boost::asio::steady_timer deadline_;
  std::chrono::steady_clock::time_point deadline_at_;
  std::deque<std::string> outbox_;
  std::size_t outbox_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false;  // no more reads handled; close once the outbox is flushed
  bool closed_ = false;
  bool registered_ = false;
};

}  // namespace micstream::server
