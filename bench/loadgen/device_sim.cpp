#include "device_sim.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <span>

#include "micstream/auth.h"
#include "micstream/codec.h"
#include "micstream/frame_parser.h"
#include "micstream/protocol.h"
#include "util.h"

namespace micstream::loadgen {

struct DeviceSimulator::Device {
  explicit Device(Codec codec) : parser(storage), encoder(codec, 1) {}
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  enum class State : std::uint8_t { connecting, await_welcome, streaming, closed };
  int fd = -1;
  unsigned index = 0;
  std::string id;
  State state = State::connecting;
  std::array<std::uint8_t, 512> storage{};  // server -> device frames are small (ERROR <= 211 bytes)
  proto::FrameParser parser;
  micstream::FrameEncoder encoder;
  std::vector<std::uint8_t> backlog;  // bytes the socket did not take yet
  std::size_t backlog_off = 0;
  bool want_out = false;
  bool scheduled = false;
  std::int64_t next_due_ns = 0;
  std::int64_t next_ping_ns = 0;
  std::uint32_t seq = 0;
  std::uint32_t ping_id = 0;
  std::uint32_t window_first = kNoSeq;  // first sequence sent (by schedule) in the measured window
  std::uint32_t window_end = kNoSeq;    // first sequence sent after it
};

DeviceSimulator::DeviceSimulator(const Options& opt, const Endpoint& ingest, const Poller& poller,
                                 const Timeline& timeline)
    : opt_(opt), ingest_(ingest), poller_(poller), timeline_(timeline) {
  frame_ns_ = static_cast<std::int64_t>(opt_.samples_per_frame) * 1'000'000'000 / opt_.sample_rate;

  // A 440 Hz tone, not silence, so codecs work as they would.
  tone_.resize(opt_.samples_per_frame);
  for (std::size_t i = 0; i < tone_.size(); ++i) {
    tone_[i] = static_cast<std::int16_t>(
        8000.0 * std::sin(2.0 * M_PI * 440.0 * static_cast<double>(i) / static_cast<double>(opt_.sample_rate)));
  }

  devices_.reserve(opt_.devices);
  for (unsigned i = 0; i < opt_.devices; ++i) {
    auto d = std::make_unique<Device>(opt_.codec);
    d->index = i;
    d->id = opt_.device_prefix + std::to_string(i);
    if (!proto::is_valid_device_id(d->id)) die("invalid device id \"%s\" (see --device-prefix)", d->id.c_str());
    devices_.push_back(std::move(d));
  }
}

DeviceSimulator::~DeviceSimulator() = default;

const std::string& DeviceSimulator::id(std::uint32_t index) const { return devices_[index]->id; }

SeqWindow DeviceSimulator::window(std::uint32_t index) const {
  const Device& d = *devices_[index];
  return {d.window_first, d.window_end};
}

void DeviceSimulator::connect_all() {
  for (unsigned i = 0; i < opt_.devices; ++i) start_device(i);
}

void DeviceSimulator::start_device(unsigned i) {
  Device& d = *devices_[i];
  d.fd = socket(ingest_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (d.fd < 0) die("socket: %s", std::strerror(errno));
  int one = 1;
  setsockopt(d.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(d.fd, ingest_.sockaddr_ptr(), ingest_.len) != 0 && errno != EINPROGRESS) {
    die("cannot connect to the ingest port %s: %s; micstream-server must be running and listening there",
        ingest_.text.c_str(), std::strerror(errno));
  }
  d.state = Device::State::connecting;
  poller_.add(d.fd, EPOLLOUT, Poller::kDevice | i);
}

void DeviceSimulator::on_event(std::uint32_t index, std::uint32_t events) {
  Device& d = *devices_[index];
  if (d.state == Device::State::closed) return;
  if (d.state == Device::State::connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(d.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      die("cannot connect to the ingest port %s: %s; micstream-server must be running and listening there",
          ingest_.text.c_str(), std::strerror(err));
    }
    d.state = Device::State::await_welcome;
    poller_.mod(d.fd, EPOLLIN, Poller::kDevice | d.index);
    return;
  }
  if (events & EPOLLOUT) device_flush(d);
  if (d.state != Device::State::closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) device_read(d);
}

void DeviceSimulator::device_read(Device& d) {
  std::uint8_t buf[4096];
  for (;;) {
    ssize_t r = recv(d.fd, buf, sizeof buf, 0);
    if (r > 0) {
      std::span<const std::uint8_t> in(buf, static_cast<std::size_t>(r));
      while (!in.empty()) {
        auto step = d.parser.feed(in);
        in = in.subspan(step.consumed);
        if (step.status == proto::FrameParser::Status::error) {
          device_closed(d, std::string("bad frame from the server: ") + micstream::error_message(d.parser.error()));
          return;
        }
        if (step.status == proto::FrameParser::Status::frame) {
          device_frame(d, d.parser.frame());
          if (d.state == Device::State::closed) return;
        }
      }
      if (static_cast<std::size_t>(r) < sizeof buf) return;
      continue;
    }
    if (r == 0) {
      device_closed(d, "the server closed the connection");
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    device_closed(d, std::string("recv: ") + std::strerror(errno));
    return;
  }
}

void DeviceSimulator::device_frame(Device& d, const proto::FrameView& f) {
  switch (f.type) {
    case proto::FrameType::welcome: {
      if (d.state != Device::State::await_welcome) {
        device_closed(d, "a second WELCOME");
        return;
      }
      proto::Welcome w;
      if (auto e = proto::decode(f.payload, w); e != Errc::ok) {
        device_closed(d, std::string("bad WELCOME: ") + micstream::error_message(e));
        return;
      }
      proto::Hello h;
      h.codec = opt_.codec;
      h.channels = 1;
      h.samples_per_frame = static_cast<std::uint16_t>(opt_.samples_per_frame);
      h.sample_rate = opt_.sample_rate;
      (void)h.device_id.assign(d.id);
      (void)h.firmware_version.assign("loadgen");
      auto secret = std::span(reinterpret_cast<const std::uint8_t*>(opt_.secret.data()), opt_.secret.size());
      if (auto e = micstream::compute_proof(secret, w.nonce, d.id, h.proof); e != Errc::ok) {
        die("compute_proof for %s: %s", d.id.c_str(), micstream::error_message(e));
      }
      std::uint8_t out[proto::kHeaderSize + 128];
      auto n = proto::encode(h, out);
      if (!n) die("encode HELLO: %s", micstream::error_message(n.error));
      if (!device_send(d, out, n.value)) return;
      d.state = Device::State::streaming;
      ++streaming_;
      send_ping(d);
      return;
    }
    case proto::FrameType::pong: {
      proto::Pong p;
      if (proto::decode(f.payload, p) != Errc::ok) return;
      const std::int64_t t3 = unix_us();
      const auto t0 = static_cast<std::int64_t>(p.device_time_us);
      const auto t1 = static_cast<std::int64_t>(p.server_receive_us);
      const auto t2 = static_cast<std::int64_t>(p.server_send_us);
      const std::int64_t offset = ((t1 - t0) + (t2 - t3)) / 2;
      const std::int64_t rtt = (t3 - t0) - (t2 - t1);
      stats_.max_abs_offset_us = std::max(stats_.max_abs_offset_us, offset < 0 ? -offset : offset);
      stats_.max_rtt_us = std::max(stats_.max_rtt_us, rtt);
      ++stats_.pongs;
      return;
    }
    case proto::FrameType::config: {
      proto::Config c;
      if (proto::decode(f.payload, c) == Errc::ok && c.has_codec) d.encoder.set_codec(c.codec);
      return;
    }
    case proto::FrameType::error: {
      proto::ErrorMessage m;
      std::string why = "the server sent ERROR";
      if (proto::decode(f.payload, m) == Errc::ok) {
        // Appended piece by piece: the same text as one operator+ chain, which
        // trips a false -Wrestrict warning of GCC 12 at -O3 here.
        why += " ";
        why += std::to_string(static_cast<unsigned>(m.code));
        why += " (";
        why += micstream::error_message(m.code);
        why += "): ";
        why += m.reason.view();
      }
      device_closed(d, why);
      return;
    }
    default:
      device_closed(d, std::string("unexpected frame ") + proto::frame_type_name(f.type));
      return;
  }
}

// What the socket does not take now waits in the device's backlog, sent on
// EPOLLOUT: a frame is never dropped or reordered.
bool DeviceSimulator::device_send(Device& d, const std::uint8_t* p, std::size_t n) {
  if (d.backlog.size() == d.backlog_off) {
    d.backlog.clear();
    d.backlog_off = 0;
    for (;;) {
      ssize_t w = send(d.fd, p, n, MSG_NOSIGNAL);
      if (w >= 0) {
        p += w;
        n -= static_cast<std::size_t>(w);
        if (n == 0) return true;
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      device_closed(d, std::string("send: ") + std::strerror(errno));
      return false;
    }
  }
  d.backlog.insert(d.backlog.end(), p, p + n);
  stats_.max_backlog = std::max(stats_.max_backlog, d.backlog.size() - d.backlog_off);
  if (!d.want_out) {
    d.want_out = true;
    poller_.mod(d.fd, EPOLLIN | EPOLLOUT, Poller::kDevice | d.index);
  }
  return true;
}

void DeviceSimulator::device_flush(Device& d) {
  while (d.backlog_off < d.backlog.size()) {
    ssize_t w = send(d.fd, d.backlog.data() + d.backlog_off, d.backlog.size() - d.backlog_off, MSG_NOSIGNAL);
    if (w >= 0) {
      d.backlog_off += static_cast<std::size_t>(w);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    device_closed(d, std::string("send: ") + std::strerror(errno));
    return;
  }
  d.backlog.clear();
  d.backlog_off = 0;
  if (d.want_out) {
    d.want_out = false;
    poller_.mod(d.fd, EPOLLIN, Poller::kDevice | d.index);
  }
}

void DeviceSimulator::device_closed(Device& d, const std::string& why) {
  if (d.state == Device::State::closed) return;
  if (d.state == Device::State::streaming) --streaming_;
  const bool before_streaming = timeline_.phase == Phase::connect_devices;
  d.state = Device::State::closed;
  close(d.fd);
  d.fd = -1;
  ++stats_.disconnects;
  note("device %s disconnected: %s", d.id.c_str(), why.c_str());
  if (before_streaming) die("device %s could not start streaming to %s: %s", d.id.c_str(), ingest_.text.c_str(),
                            why.c_str());
}

void DeviceSimulator::send_ping(Device& d) {
  proto::Ping p;
  p.id = ++d.ping_id;
  p.device_time_us = static_cast<std::uint64_t>(unix_us());
  // The loadgen and the server read the same clock: a known offset of zero,
  // with a non-zero round trip so the server takes it as a real estimate.
  p.clock_offset_us = 0;
  p.rtt_us = 1;
  std::uint8_t out[proto::kHeaderSize + 24];
  auto n = proto::encode(p, out);
  if (!n) die("encode PING: %s", micstream::error_message(n.error));
  device_send(d, out, n.value);
  d.next_ping_ns = mono_ns() + static_cast<std::int64_t>(opt_.ping_interval * 1e9);
}

void DeviceSimulator::send_audio(Device& d, std::int64_t due_ns) {
  // The window is the frames due inside it, whenever they actually leave.
  if (d.window_first == kNoSeq && due_ns >= timeline_.measure_start_ns) d.window_first = d.seq;
  if (d.window_end == kNoSeq && due_ns >= timeline_.measure_end_ns) d.window_end = d.seq;

  std::uint8_t frame[proto::kMaxFrameSize];
  const std::size_t spf = opt_.samples_per_frame;
  const std::size_t prefix = proto::kHeaderSize + proto::kAudioHeaderSize;
  auto enc = d.encoder.encode(tone_, std::span(frame + prefix, sizeof frame - prefix));
  if (!enc) die("encode audio: %s", micstream::error_message(enc.error));
  proto::AudioHeader h;
  h.sequence = d.seq;
  h.first_sample = static_cast<std::uint64_t>(d.seq) * spf;
  h.codec = d.encoder.codec();
  h.channels = 1;
  h.sample_count = static_cast<std::uint16_t>(spf);
  h.capture_time_us = static_cast<std::uint64_t>(unix_us());
  auto n = proto::encode_audio_prefix(h, enc.value, frame);  // the prefix's size; the payload follows it
  if (!n) die("encode audio header: %s", micstream::error_message(n.error));
  ++d.seq;
  device_send(d, frame, n.value + enc.value);
}

void DeviceSimulator::start_streaming(std::int64_t now) {
  for (auto& dp : devices_) {
    dp->scheduled = true;
    dp->next_due_ns = now + static_cast<std::int64_t>(dp->index) * frame_ns_ / static_cast<std::int64_t>(devices_.size());
  }
}

void DeviceSimulator::service(std::int64_t now) {
  for (auto& dp : devices_) {
    Device& d = *dp;
    if (d.state != Device::State::streaming || !d.scheduled) continue;
    while (d.next_due_ns <= now && d.state == Device::State::streaming) {
      if (timeline_.phase == Phase::measure) {
        stats_.max_send_late_ns = std::max(stats_.max_send_late_ns, now - d.next_due_ns);
        if (now - d.next_due_ns > 1'000'000) ++stats_.late_sends;
      }
      send_audio(d, d.next_due_ns);
      d.next_due_ns += frame_ns_;
    }
    if (d.state == Device::State::streaming && d.next_ping_ns <= now) send_ping(d);
  }
}

void DeviceSimulator::close_windows() {
  for (auto& dp : devices_) {
    Device& d = *dp;
    if (d.window_first == kNoSeq) d.window_first = d.seq;
    if (d.state != Device::State::streaming && d.window_end == kNoSeq) d.window_end = d.seq;
  }
}

bool DeviceSimulator::windows_closed() const {
  for (const auto& dp : devices_) {
    if (dp->window_end == kNoSeq) return false;
  }
  return true;
}

std::int64_t DeviceSimulator::next_due(std::int64_t wake) const {
  for (const auto& dp : devices_) {
    if (dp->state == Device::State::streaming && dp->scheduled) wake = std::min(wake, dp->next_due_ns);
  }
  return wake;
}

}  // namespace micstream::loadgen
