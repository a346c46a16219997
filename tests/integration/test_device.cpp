#include "test_device.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "micstream/auth.h"
#include "micstream/frame_parser.h"

namespace micstream::itest {

namespace {

std::string errc_text(Errc e) { return std::to_string(static_cast<int>(e)) + " (" + error_message(e) + ")"; }

template <class M>
std::vector<std::uint8_t> encode_frame(const M& m) {
  std::vector<std::uint8_t> out(proto::kMaxFrameSize);
  auto r = proto::encode(m, out);
  if (!r) throw std::runtime_error("proto::encode failed: " + errc_text(r.error));
  out.resize(r.value);
  return out;
}

}  // namespace

TestDevice::TestDevice(std::uint16_t port) : storage_(proto::kMaxFrameSize), parser_(storage_) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("connect to ingest port " + std::to_string(port) + ": " + std::strerror(err));
  }
  sockaddr_in local{};
  socklen_t len = sizeof local;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len);
  local_port_ = ntohs(local.sin_port);
}

// A TLS 1.2 PSK session on the connected socket, as a device opens one.
struct TestDevice::Tls {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  TlsPsk psk;
  ~Tls() {
    if (ssl != nullptr) SSL_free(ssl);
    if (ctx != nullptr) SSL_CTX_free(ctx);
  }
  static unsigned int client_psk(SSL* ssl, const char* /*hint*/, char* identity, unsigned int max_identity,
                                 unsigned char* key, unsigned int max_key) {
    const auto* self = static_cast<const Tls*>(SSL_get_app_data(ssl));
    std::array<std::uint8_t, kLinkPskSize> derived{};
    const std::string& secret = self->psk.secret;
    if (derive_link_psk({reinterpret_cast<const std::uint8_t*>(secret.data()), secret.size()}, derived) != Errc::ok ||
        self->psk.identity.size() + 1 > max_identity || derived.size() > max_key) {
      return 0;
    }
    std::memcpy(identity, self->psk.identity.c_str(), self->psk.identity.size() + 1);
    std::memcpy(key, derived.data(), derived.size());
    return static_cast<unsigned int>(derived.size());
  }
};

TestDevice::TestDevice(std::uint16_t port, const TlsPsk& psk) : TestDevice(port) {
  (void)read_welcome();  // every link opens with a plain WELCOME; a TLS device reads past it
  tls_ = std::make_unique<Tls>();
  tls_->psk = psk;
  tls_->ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(tls_->ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(tls_->ctx, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(tls_->ctx, "PSK-AES128-GCM-SHA256");
  SSL_CTX_set_psk_client_callback(tls_->ctx, Tls::client_psk);
  tls_->ssl = SSL_new(tls_->ctx);
  SSL_set_app_data(tls_->ssl, tls_.get());
  SSL_set_fd(tls_->ssl, fd_);
  timeval tv{5, 0};  // a server that never answers the handshake fails it
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (SSL_connect(tls_->ssl) != 1) {
    char reason[256];
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    close();
    throw std::runtime_error(std::string("TLS handshake failed: ") + reason);
  }
  timeval none{0, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
}

ssize_t TestDevice::receive_some(std::uint8_t* buffer, std::size_t size) {
  if (!tls_) return ::recv(fd_, buffer, size, 0);
  const int n = SSL_read(tls_->ssl, buffer, static_cast<int>(size));
  if (n > 0) return n;
  const int error = SSL_get_error(tls_->ssl, n);
  if (error == SSL_ERROR_WANT_READ) {
    errno = EAGAIN;
    return -1;
  }
  return error == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

ssize_t TestDevice::send_some(const std::uint8_t* data, std::size_t size) {
  if (!tls_) return ::send(fd_, data, size, MSG_NOSIGNAL);
  const int n = SSL_write(tls_->ssl, data, static_cast<int>(size));
  return n > 0 ? n : -1;
}

TestDevice::~TestDevice() { close(); }

std::string TestDevice::local_address() const { return "127.0.0.1:" + std::to_string(local_port_); }

void TestDevice::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void TestDevice::shutdown_send() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

TestDevice::ReadStatus TestDevice::read_frame(ReceivedFrame& out, Millis timeout) {
  if (parse_error_ != Errc::ok) return ReadStatus::parse_error;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    // Bytes already read go to the parser first.
    while (pending_pos_ < pending_.size()) {
      auto step = parser_.feed(std::span<const std::uint8_t>(pending_).subspan(pending_pos_));
      pending_pos_ += step.consumed;
      if (step.status == proto::FrameParser::Status::frame) {
        out.type = parser_.frame().type;
        out.payload.assign(parser_.frame().payload.begin(), parser_.frame().payload.end());
        return ReadStatus::frame;
      }
      if (step.status == proto::FrameParser::Status::error) {
        parse_error_ = parser_.error();
        return ReadStatus::parse_error;
      }
    }
    pending_.clear();
    pending_pos_ = 0;
    if (fd_ < 0) return ReadStatus::closed;

    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return ReadStatus::timeout;
    const auto left = std::chrono::duration_cast<Millis>(deadline - now).count() + 1;
    pollfd p{fd_, POLLIN, 0};
    // Bytes TLS has decrypted already would never wake poll.
    const int r = tls_ && SSL_pending(tls_->ssl) > 0 ? 1 : ::poll(&p, 1, static_cast<int>(left));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    }
    if (r == 0) continue;  // the deadline check above ends the loop
    std::uint8_t buf[65536];
    const ssize_t n = receive_some(buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return ReadStatus::closed;  // ECONNRESET and friends
    }
    if (n == 0) return ReadStatus::closed;
    pending_.assign(buf, buf + n);
  }
}

proto::Welcome TestDevice::read_welcome(Millis timeout) {
  ReceivedFrame f;
  const auto status = read_frame(f, timeout);
  if (status != ReadStatus::frame) {
    throw std::runtime_error("no WELCOME from the server (status " + std::to_string(static_cast<int>(status)) + ")");
  }
  if (f.type != proto::FrameType::welcome) {
    std::string detail;
    if (f.type == proto::FrameType::error) {
      proto::ErrorMessage e;
      if (proto::decode(f.payload, e) == Errc::ok) {
        detail = ": ERROR " + errc_text(e.code) + " '" + std::string(e.reason.view()) + "'";
      }
    }
    throw std::runtime_error(std::string("first frame is ") + proto::frame_type_name(f.type) + ", not WELCOME" +
                             detail);
  }
  proto::Welcome w;
  if (Errc e = proto::decode(f.payload, w); e != Errc::ok) throw std::runtime_error("bad WELCOME: " + errc_text(e));
  return w;
}

std::optional<proto::ErrorMessage> TestDevice::read_error(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    ReceivedFrame f;
    const auto status = read_frame(f, std::chrono::duration_cast<Millis>(deadline - now));
    if (status != ReadStatus::frame) return std::nullopt;
    if (f.type != proto::FrameType::error) continue;
    proto::ErrorMessage e;
    if (Errc d = proto::decode(f.payload, e); d != Errc::ok) {
      throw std::runtime_error("undecodable ERROR frame from the server: " + errc_text(d));
    }
    return e;
  }
}

bool TestDevice::wait_closed(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    ReceivedFrame f;
    const auto status = read_frame(f, std::chrono::duration_cast<Millis>(deadline - now));
    if (status == ReadStatus::closed) return true;
    if (status == ReadStatus::parse_error) {
      // Garbage from the server; drain raw until EOF.
      pending_.clear();
      pending_pos_ = 0;
      parser_.reset();
      parse_error_ = Errc::ok;
    }
    if (status == ReadStatus::timeout) return false;
  }
}

bool TestDevice::send_raw(std::span<const std::uint8_t> bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    if (fd_ < 0) return false;
    const ssize_t n = send_some(bytes.data() + sent, bytes.size() - sent);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    sent += static_cast<std::size_t>(n);
    bytes_sent_ += static_cast<std::uint64_t>(n);
  }
  return true;
}

bool TestDevice::send_frame(std::span<const std::uint8_t> frame) { return send_raw(frame); }

void TestDevice::send_hello(const DeviceParams& params, const proto::Welcome& welcome) {
  proto::Hello h;
  h.codec = params.codec;
  h.channels = params.channels;
  h.samples_per_frame = params.samples_per_frame;
  h.sample_rate = params.sample_rate;
  if (!h.device_id.assign(params.id) || !h.firmware_version.assign(params.firmware)) {
    throw std::runtime_error("device id or firmware too long");
  }
  const auto* secret = reinterpret_cast<const std::uint8_t*>(params.secret.data());
  if (Errc e = compute_proof({secret, params.secret.size()}, std::span<const std::uint8_t, proto::kNonceSize>(welcome.nonce),
                             params.id, std::span<std::uint8_t, proto::kProofSize>(h.proof));
      e != Errc::ok) {
    throw std::runtime_error("compute_proof: " + errc_text(e));
  }
  if (!send_frame(encode_frame(h))) throw std::runtime_error("sending HELLO failed: connection gone");
}

proto::Welcome TestDevice::handshake(const DeviceParams& params) {
  auto w = read_welcome();
  send_hello(params, w);
  return w;
}

void TestDevice::send_audio(const proto::AudioHeader& header, std::span<const std::uint8_t> payload) {
  proto::Audio a;
  a.header = header;
  a.payload = payload;
  if (!send_frame(encode_frame(a))) throw std::runtime_error("sending AUDIO failed: connection gone");
}

void TestDevice::send_stats(const proto::Stats& stats) {
  if (!send_frame(encode_frame(stats))) throw std::runtime_error("sending STATS failed: connection gone");
}

void TestDevice::send_ping(const proto::Ping& ping) {
  if (!send_frame(encode_frame(ping))) throw std::runtime_error("sending PING failed: connection gone");
}

TestDevice::Exchange TestDevice::ping_exchange(std::uint32_t id, Millis timeout) {
  Exchange x;
  x.ping.id = id;
  x.ping.clock_offset_us = clock_.offset_us();
  x.ping.rtt_us = clock_.has_estimate() ? clock_.rtt_us() : proto::kRttUnknown;
  x.system_before_us = system_us();
  x.ping.device_time_us = device_clock_us();
  send_ping(x.ping);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) throw std::runtime_error("no PONG for PING " + std::to_string(id));
    ReceivedFrame f;
    const auto status = read_frame(f, std::chrono::duration_cast<Millis>(deadline - now));
    if (status != ReadStatus::frame) {
      throw std::runtime_error("no PONG for PING " + std::to_string(id) + " (read status " +
                               std::to_string(static_cast<int>(status)) + ")");
    }
    if (f.type == proto::FrameType::error) {
      proto::ErrorMessage e;
      (void)proto::decode(f.payload, e);
      throw std::runtime_error("ERROR instead of PONG: " + errc_text(e.code) + " '" + std::string(e.reason.view()) +
                               "'");
    }
    if (f.type != proto::FrameType::pong) continue;  // CONFIG may come at any time
    x.t3 = device_clock_us();
    x.system_after_us = system_us();
    if (Errc e = proto::decode(f.payload, x.pong); e != Errc::ok) {
      throw std::runtime_error("undecodable PONG: " + errc_text(e));
    }
    if (x.pong.id != id || x.pong.device_time_us != x.ping.device_time_us) {
      throw std::runtime_error("PONG does not echo the PING: id " + std::to_string(x.pong.id) + " t0 " +
                               std::to_string(x.pong.device_time_us) + ", expected id " + std::to_string(id) +
                               " t0 " + std::to_string(x.ping.device_time_us));
    }
    clock_.add(x.ping.device_time_us, x.pong.server_receive_us, x.pong.server_send_us, x.t3);
    return x;
  }
}

std::int64_t TestDevice::sync_clock(int exchanges) {
  for (int i = 0; i < exchanges; ++i) ping_exchange(next_ping_id_++);
  // This PING carries the estimate; its answer is read so nothing is left unread
  // (and refines clock(), but the server knows only what the PING carried).
  return ping_exchange(next_ping_id_++).ping.clock_offset_us;
}

// ---- audio ----

std::vector<std::uint8_t> make_payload(Codec codec, unsigned channels, unsigned samples, std::uint32_t seed,
                                       std::uint32_t sequence) {
  // xorshift32 seeded per frame: reproducible, different for every frame and stream.
  std::uint32_t state = seed * 2654435761u ^ (sequence + 1) * 40503u ^ 0x9E3779B9u;
  if (state == 0) state = 1;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  };
  const std::size_t size = encoded_size(codec, channels, samples);
  if (size == 0) throw std::runtime_error("make_payload: invalid codec parameters");
  std::vector<std::uint8_t> out(size);
  if (codec == Codec::ima_adpcm) {
    // A tone plus noise through the real encoder: headers with valid step indexes.
    std::vector<std::int16_t> pcm(static_cast<std::size_t>(samples) * channels);
    const double freq = 200.0 + (seed % 7) * 100.0;
    for (std::size_t i = 0; i < pcm.size(); ++i) {
      const double t = static_cast<double>(sequence) * samples + static_cast<double>(i / channels);
      const double v = 9000.0 * std::sin(t * freq * 2.0 * 3.14159265358979 / 16000.0) +
                       static_cast<double>(static_cast<std::int32_t>(next() % 4001) - 2000);
      pcm[i] = static_cast<std::int16_t>(v);
    }
    FrameEncoder enc(codec, channels);
    auto r = enc.encode(pcm, out);
    if (!r || r.value != size) throw std::runtime_error("make_payload: ADPCM encode failed");
    return out;
  }
  // PCM16 and mu-law: every byte pattern is valid.
  for (auto& b : out) b = static_cast<std::uint8_t>(next() >> 11);
  return out;
}

namespace {
std::vector<std::uint8_t> tone_payload(const DeviceParams& params, double hz, std::uint64_t first_sample) {
  std::vector<std::int16_t> pcm(std::size_t{params.samples_per_frame} * params.channels);
  for (std::size_t i = 0; i < pcm.size(); ++i) {
    const double t = static_cast<double>(first_sample + i / params.channels) / params.sample_rate;
    pcm[i] = static_cast<std::int16_t>(16384.0 * std::sin(2.0 * 3.14159265358979 * hz * t));
  }
  std::vector<std::uint8_t> out(encoded_size(params.codec, params.channels, params.samples_per_frame));
  FrameEncoder enc(params.codec, params.channels);
  const auto r = enc.encode(pcm, out);
  if (!r || r.value != out.size()) throw std::runtime_error("tone_payload: encode failed");
  return out;
}
}  // namespace

std::vector<SentFrame> stream_audio(TestDevice& device, const DeviceParams& params, const StreamSpec& spec) {
  std::vector<SentFrame> sent;
  sent.reserve(static_cast<std::size_t>(spec.frames));
  const std::chrono::microseconds interval =
      spec.interval.count() > 0 ? spec.interval : std::chrono::microseconds(params.frame_duration_us());
  auto next_send = std::chrono::steady_clock::now();
  for (int i = 0; i < spec.frames; ++i) {
    std::this_thread::sleep_until(next_send);
    next_send += interval;
    SentFrame f;
    f.header.sequence = spec.first_sequence + static_cast<std::uint32_t>(i);
    f.header.first_sample = spec.first_sample + static_cast<std::uint64_t>(i) * params.samples_per_frame;
    f.header.codec = params.codec;
    f.header.channels = params.channels;
    f.header.sample_count = params.samples_per_frame;
    f.payload = spec.tone_hz > 0
                    ? tone_payload(params, spec.tone_hz, f.header.first_sample)
                    : make_payload(params.codec, params.channels, params.samples_per_frame, spec.seed, f.header.sequence);
    f.send_steady_us = steady_us();
    f.send_system_us = system_us();
    f.header.capture_time_us = static_cast<std::uint64_t>(f.send_steady_us - params.frame_duration_us());
    device.send_audio(f.header, f.payload);
    sent.push_back(std::move(f));
  }
  return sent;
}

}  // namespace micstream::itest
