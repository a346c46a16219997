// Test doubles for the pipeline's ports: a clock that only moves when told
// (or when a task "sleeps"), and an in-memory server that speaks the link
// protocol through the project's own parser and can refuse, cut and stall.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "micstream/auth.h"
#include "micstream/codec.h"
#include "micstream/frame_parser.h"
#include "micstream/pipeline/ports.h"
#include "micstream/protocol.h"

namespace micstream::test {

class FakeClock : public pipeline::Clock {
 public:
  std::uint64_t now = 1000000;
  std::uint64_t now_us() override { return now; }
  void sleep_ms(std::uint32_t ms) override { now += std::uint64_t{ms} * 1000; }
};

class NoMutex : public pipeline::Mutex {
 public:
  void lock() override {}
  void unlock() override {}
};

class FakeSignal : public pipeline::Signal {
 public:
  explicit FakeSignal(FakeClock& clock) : clock_(clock) {}
  void notify() override { notified_ = true; }
  void wait_ms(std::uint32_t ms) override {
    if (!notified_) clock_.sleep_ms(ms);
    notified_ = false;
  }

 private:
  FakeClock& clock_;
  bool notified_ = false;
};

class FixedRandom : public pipeline::Random {
 public:
  std::uint32_t next() override { return 0; }  // no jitter: delays are exactly the policy's
};

struct ReceivedAudio {
  proto::AudioHeader header;
  std::vector<std::uint8_t> payload;
};

/// The server end of the link, in memory.
class FakeServer : public pipeline::Transport {
 public:
  // What the test can make the link do.
  bool refuse_connections = false;
  bool cut_on_next_send = false;  // the connection dies mid-stream
  bool refuse_hello = false;      // answer HELLO with ERROR auth_failed, and PINGs not at all
  bool tls = false;               // a TLS link: a plain WELCOME, start_tls(), a fresh WELCOME
  bool fail_tls = false;          // the handshake fails (a server without the device's key)
  bool bytes_after_plain_welcome = false;
  std::deque<std::vector<std::uint8_t>> to_device;  // frames queued for the device

  // What the server saw.
  std::vector<proto::Hello> hellos;
  std::vector<bool> hello_proved;  // each HELLO's proof is over the link's last WELCOME nonce
  std::vector<std::uint8_t> secret;  // to check proofs with (empty: unchecked)
  int tls_handshakes = 0;
  int tls_refused = 0;
  std::vector<ReceivedAudio> audio;
  std::vector<proto::Stats> stats;
  std::vector<std::uint64_t> connect_times_us;
  int pings = 0;
  int connections = 0;

  explicit FakeServer(FakeClock& clock) : clock_(clock) {}

  Status connect(std::uint32_t) override {
    connect_times_us.push_back(clock_.now);
    if (refuse_connections) {
      error_ = "connection refused";
      return Status::failed;
    }
    ++connections;
    open_ = true;
    parser_.reset();
    in_tls_ = false;
    queue_welcome(0);
    if (tls && bytes_after_plain_welcome) to_device.back().push_back(0x16);
    return Status::ok;
  }

  Status start_tls(std::uint32_t) override {
    if (!open_ || in_tls_ || !tls) {
      error_ = "start_tls out of turn";
      return Status::failed;
    }
    if (!to_device.empty()) {  // the device must have read the plain WELCOME, and nothing more was there
      error_ = "start_tls with unread bytes";
      return Status::failed;
    }
    if (fail_tls) {
      ++tls_refused;
      open_ = false;
      error_ = "TLS handshake failed: unknown PSK identity";
      return Status::failed;
    }
    ++tls_handshakes;
    in_tls_ = true;
    queue_welcome(100);
    return Status::ok;
  }

  Status send(std::span<const std::uint8_t> bytes, std::uint32_t) override {
    if (!open_) return Status::failed;
    if (cut_on_next_send) {
      cut_on_next_send = false;
      open_ = false;
      error_ = "connection reset by peer";
      return Status::failed;
    }
    std::span<const std::uint8_t> rest = bytes;
    while (!rest.empty()) {
      const auto step = parser_.feed(rest);
      rest = rest.subspan(step.consumed);
      if (step.status == proto::FrameParser::Status::error) {
        parse_errors.push_back(parser_.error());
        return Status::failed;
      }
      if (step.status == proto::FrameParser::Status::frame) handle(parser_.frame());
    }
    return Status::ok;
  }

  Status receive(std::span<std::uint8_t> out, std::uint32_t, std::size_t& received) override {
    if (!open_) return Status::closed;
    if (to_device.empty()) return Status::timeout;
    std::vector<std::uint8_t>& next = to_device.front();
    received = std::min(out.size(), next.size());
    std::copy_n(next.begin(), received, out.begin());
    next.erase(next.begin(), next.begin() + static_cast<std::ptrdiff_t>(received));
    if (next.empty()) to_device.pop_front();
    return Status::ok;
  }

  void close() override { open_ = false; }
  const char* last_error() override { return error_.c_str(); }

  template <class Message>
  void queue_frame(const Message& m) {
    std::array<std::uint8_t, proto::kMaxFrameSize> buffer{};
    const auto r = proto::encode(m, buffer);
    to_device.emplace_back(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(r.value));
  }

  std::vector<Errc> parse_errors;

 private:
  void queue_welcome(int salt) {
    proto::Welcome welcome;
    for (std::size_t i = 0; i < proto::kNonceSize; ++i) {
      welcome.nonce[i] = static_cast<std::uint8_t>(connections + salt + i);
    }
    std::copy(std::begin(welcome.nonce), std::end(welcome.nonce), nonce_.begin());
    queue_frame(welcome);
  }

  void handle(const proto::FrameView& frame) {
    switch (frame.type) {
      case proto::FrameType::hello: {
        proto::Hello h;
        if (proto::decode(frame.payload, h) == Errc::ok) {
          hellos.push_back(h);
          std::array<std::uint8_t, proto::kProofSize> expected{};
          hello_proved.push_back(compute_proof(secret, nonce_, h.device_id.view(), expected) == Errc::ok &&
                                 std::equal(expected.begin(), expected.end(), std::begin(h.proof)) &&
                                 (in_tls_ || !tls));
        }
        if (refuse_hello) {
          proto::ErrorMessage e;
          e.code = Errc::auth_failed;
          queue_frame(e);
        }
        break;
      }
      case proto::FrameType::audio: {
        proto::Audio a;
        if (proto::decode(frame.payload, a) == Errc::ok) audio.push_back({a.header, {a.payload.begin(), a.payload.end()}});
        break;
      }
      case proto::FrameType::ping: {
        proto::Ping p;
        if (proto::decode(frame.payload, p) != Errc::ok || refuse_hello) break;
        ++pings;
        queue_frame(proto::Pong{p.id, p.device_time_us, clock_.now + 5000000, clock_.now + 5000010});
        break;
      }
      case proto::FrameType::stats: {
        proto::Stats s;
        if (proto::decode(frame.payload, s) == Errc::ok) stats.push_back(s);
        break;
      }
      default: break;
    }
  }

  FakeClock& clock_;
  bool open_ = false;
  bool in_tls_ = false;
  std::array<std::uint8_t, proto::kNonceSize> nonce_{};  // of the last WELCOME
  std::string error_ = "no error";
  std::array<std::uint8_t, proto::kMaxFrameSize> storage_{};
  proto::FrameParser parser_{storage_};
};

}  // namespace micstream::test
