#include "ws_listeners.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "device_sim.h"
#include "micstream/listener_audio.h"
#include "tls_client.h"
#include "util.h"

namespace micstream::loadgen {

struct WsListeners::Listener {
  // tls: the TLS handshake (--tls); handshake: the WebSocket upgrade.
  enum class State : std::uint8_t { idle, connecting, tls, handshake, open, closed, failed };
  [[nodiscard]] bool pending() const {
    return state == State::connecting || state == State::tls || state == State::handshake;
  }
  int fd = -1;
  SslPtr ssl;  // --tls: the session, on memory BIOs (see TlsClient)
  std::uint32_t device = 0;
  State state = State::idle;
  bool in_payload = false;
  std::uint8_t hdr_len = 0;
  std::uint8_t frame_op = 0;
  bool frame_fin = false;
  std::uint8_t msg_op = 0;  // 1 text, 2 binary while a data message is in progress
  std::uint8_t hdr[14] = {};
  std::uint8_t head[micstream::listener::kAudioHeaderSize] = {};
  std::uint32_t msg_len = 0;
  std::uint64_t frame_left = 0;
  std::string text;  // the HTTP response during the handshake; then a text message in progress
  std::string ctl;   // a control frame's payload in progress
  std::int64_t last_seq = -1;
  std::uint64_t delivered = 0;  // window frames received
  std::uint64_t gap_runs = 0;
  std::int64_t started_ns = 0;
};

WsListeners::WsListeners(const Options& opt, const Endpoint& http, const TlsClient* tls, const Poller& poller,
                         const Timeline& timeline, const DeviceSimulator& devices)
    : opt_(opt),
      http_(http),
      tls_(tls),
      poller_(poller),
      timeline_(timeline),
      devices_(devices),
      scheme_(tls != nullptr ? "wss" : "ws") {
  listeners_.resize(opt_.listeners);
  for (std::uint32_t i = 0; i < opt_.listeners; ++i) listeners_[i].device = i % opt_.devices;
}

WsListeners::~WsListeners() = default;

void WsListeners::connect_more(std::int64_t now) {
  while (next_listener_ < listeners_.size() && inflight_ < opt_.connect_concurrency) {
    start_listener(next_listener_++);
  }
  const auto timeout = static_cast<std::int64_t>(opt_.connect_timeout * 1e9);
  while (!inflight_order_.empty()) {
    Listener& l = listeners_[inflight_order_.front()];
    const bool pending = l.pending();
    if (pending && now - l.started_ns < timeout) break;
    if (pending) listener_fail(l, "no WebSocket handshake within the connect timeout");
    inflight_order_.pop_front();
  }
}

bool WsListeners::can_connect_more() const {
  return inflight_ < opt_.connect_concurrency && next_listener_ < listeners_.size();
}

bool WsListeners::connecting_done() const { return next_listener_ == listeners_.size() && inflight_ == 0; }

bool WsListeners::caught_up() const {
  for (const Listener& l : listeners_) {
    if (l.state != Listener::State::open) continue;
    const SeqWindow w = devices_.window(l.device);
    if (w.end > w.first && l.last_seq < static_cast<std::int64_t>(w.end) - 1) return false;
  }
  return true;
}

Delivery WsListeners::delivery() const {
  Delivery out;
  for (const Listener& l : listeners_) {
    out.delivered += l.delivered;
    out.gap_runs += l.gap_runs;
    const SeqWindow w = devices_.window(l.device);
    const std::uint64_t want = w.end > w.first && w.end != kNoSeq ? w.end - w.first : 0;
    out.expected += want;
    if (l.delivered < want) ++out.lossy;
  }
  return out;
}

void WsListeners::start_listener(std::uint32_t i) {
  Listener& l = listeners_[i];
  l.started_ns = mono_ns();
  l.fd = socket(http_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l.fd < 0) {
    listener_fail(l, std::string("socket: ") + std::strerror(errno));
    return;
  }
  const int on = 1;
  setsockopt(l.fd, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof on);
  if (connect(l.fd, http_.sockaddr_ptr(), http_.len) != 0 && errno != EINPROGRESS) {
    const int err = errno;
    if (err == ECONNREFUSED) {
      die("cannot connect to the HTTP/WebSocket port %s: %s; micstream-server must be running and listening there",
          http_.text.c_str(), std::strerror(err));
    }
    listener_fail(l, std::string("connect to ") + http_.text + ": " + std::strerror(err));
    return;
  }
  l.state = Listener::State::connecting;
  ++inflight_;
  inflight_order_.push_back(i);
  poller_.add(l.fd, EPOLLOUT, Poller::kListener | i);
}

void WsListeners::listener_fail(Listener& l, const std::string& why) {
  if (l.pending()) --inflight_;
  if (l.fd >= 0) close(l.fd);
  l.fd = -1;
  l.ssl.reset();
  l.state = Listener::State::failed;
  l.text.clear();
  l.text.shrink_to_fit();
  if (stats_.failures++ == 0) {
    stats_.first_failure = why;
    note("listener %zu (device %s) failed: %s", static_cast<std::size_t>(&l - listeners_.data()),
         devices_.id(l.device).c_str(), why.c_str());
  }
}

void WsListeners::listener_closed(Listener& l, const std::string& why) {
  if (l.state != Listener::State::open) return;
  close(l.fd);
  l.fd = -1;
  l.ssl.reset();
  l.state = Listener::State::closed;
  --open_;
  ++stats_.disconnects;
  if (timeline_.phase == Phase::measure) ++stats_.disconnects_window;
  if (stats_.disconnect_reasons[why]++ == 0) {
    note("listener %zu (device %s) disconnected: %s", static_cast<std::size_t>(&l - listeners_.data()),
         devices_.id(l.device).c_str(), why.c_str());
  }
}

// A failure to connect before the upgrade, a disconnect after it.
void WsListeners::listener_lost(Listener& l, const std::string& why) {
  if (l.state == Listener::State::open) {
    listener_closed(l, why);
  } else {
    listener_fail(l, why);
  }
}

bool WsListeners::send_upgrade(Listener& l) {
  const std::string& dev = devices_.id(l.device);
  const std::string req = upgrade_prefix_ + dev + " HTTP/1.1\r\nHost: " + http_.text +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (!listener_write(l, req.data(), req.size())) {
    listener_fail(l, std::string("sending the upgrade request: ") + (errno != 0 ? std::strerror(errno) : "short write"));
    return false;
  }
  l.state = Listener::State::handshake;
  return true;
}

// Bytes to the server: all of them, or false (errno says why; 0 for a short
// write). The loadgen sends only the upgrade request and small control
// frames, which its sockets, otherwise idle that way, always take.
bool WsListeners::listener_write(Listener& l, const void* p, std::size_t n) {
  errno = 0;
  if (!l.ssl) return send(l.fd, p, n, MSG_NOSIGNAL) == static_cast<ssize_t>(n);
  if (SSL_write(l.ssl.get(), p, static_cast<int>(n)) <= 0) return false;  // a memory BIO takes it all
  return tls_flush(l);
}

// Sends what the SSL wrote into its output BIO (handshake, records, alerts).
bool WsListeners::tls_flush(Listener& l) {
  BIO* out = SSL_get_wbio(l.ssl.get());
  char* data = nullptr;
  const long pending = BIO_get_mem_data(out, &data);
  if (pending <= 0) return true;
  errno = 0;
  const ssize_t w = send(l.fd, data, static_cast<std::size_t>(pending), MSG_NOSIGNAL);
  (void)BIO_reset(out);
  return w == pending;  // a part of a record would break the stream: the caller gives up on the listener
}

// Ciphertext read from a --tls listener's socket: advances the handshake,
// then hands what it decrypts to listener_input(). False when the listener
// was closed.
bool WsListeners::tls_input(Listener& l, const std::uint8_t* p, std::size_t n, std::int64_t now_us) {
  SSL* ssl = l.ssl.get();
  if (BIO_write(SSL_get_rbio(ssl), p, static_cast<int>(n)) != static_cast<int>(n)) {
    listener_lost(l, "TLS: " + openssl_errors());
    return false;
  }
  if (l.state == Listener::State::tls) {
    const int rc = SSL_do_handshake(ssl);
    if (!tls_flush(l)) {
      listener_fail(l, "TLS handshake: the socket did not take the client's flight");
      return false;
    }
    if (rc != 1) {
      if (SSL_get_error(ssl, rc) == SSL_ERROR_WANT_READ) return true;
      const long verify = SSL_get_verify_result(ssl);
      listener_fail(l, "TLS handshake with " + http_.text + " failed: " +
                           (verify != X509_V_OK ? std::string("certificate: ") + X509_verify_cert_error_string(verify)
                                                : openssl_errors()));
      return false;
    }
    if (tls_session_.empty()) tls_session_ = std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
    if (!send_upgrade(l)) return false;
  }
  static std::uint8_t plain[16384];  // one TLS record's data at most
  for (;;) {
    const int got = SSL_read(ssl, plain, sizeof plain);
    if (got > 0) {
      if (!listener_input(l, plain, static_cast<std::size_t>(got), now_us)) return false;
      continue;
    }
    const int err = SSL_get_error(ssl, got);
    if (err == SSL_ERROR_WANT_READ) break;
    listener_lost(l, err == SSL_ERROR_ZERO_RETURN ? std::string("the server ended the TLS session (close_notify)")
                                                  : "TLS: " + openssl_errors());
    return false;
  }
  // Reading can make output too (an alert; a TLS 1.3 KeyUpdate's answer).
  if (!tls_flush(l)) {
    listener_lost(l, "TLS: the socket did not take the client's output");
    return false;
  }
  return true;
}

// What the server sent, in the clear: the HTTP response, then the WebSocket
// stream. False when the listener was closed.
bool WsListeners::listener_input(Listener& l, const std::uint8_t* p, std::size_t n, std::int64_t now_us) {
  if (l.state == Listener::State::handshake) {
    const std::size_t had = l.text.size();
    l.text.append(reinterpret_cast<const char*>(p), n);
    auto end = l.text.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (l.text.size() > 16384) {
        listener_fail(l, "HTTP response headers too long");
        return false;
      }
      return true;
    }
    const std::string status = l.text.substr(0, l.text.find("\r\n"));
    if (status.rfind("HTTP/1.1 101", 0) != 0) {
      listener_fail(l, std::string("the upgrade to ") + scheme_ + "://" + http_.text + upgrade_prefix_.substr(4) +
                           devices_.id(l.device) + " was refused: " + status);
      return false;
    }
    const std::size_t body = end + 4 - had;  // bytes of this read that were headers
    p += body;
    n -= body;
    l.text.clear();
    l.text.shrink_to_fit();
    l.state = Listener::State::open;
    --inflight_;
    ++open_;
  }
  return n == 0 || listener_bytes(l, p, n, now_us);
}

void WsListeners::on_event(std::uint32_t i, std::uint32_t events) {
  Listener& l = listeners_[i];
  switch (l.state) {
    case Listener::State::connecting: {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(l.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        if (err == ECONNREFUSED && open_ == 0) {
          die("cannot connect to the HTTP/WebSocket port %s: %s; micstream-server must be running and listening "
              "there",
              http_.text.c_str(), std::strerror(err));
        }
        listener_fail(l, std::string("connect to ") + http_.text + ": " + std::strerror(err));
        return;
      }
      poller_.mod(l.fd, EPOLLIN, Poller::kListener | i);
      if (tls_) {
        // The ClientHello now; the upgrade request once the handshake is done (tls_input).
        l.ssl = tls_->new_session();
        l.state = Listener::State::tls;
        const int rc = SSL_do_handshake(l.ssl.get());
        if (rc != 1 && SSL_get_error(l.ssl.get(), rc) != SSL_ERROR_WANT_READ) {
          listener_fail(l, "TLS: " + openssl_errors());
        } else if (!tls_flush(l)) {
          listener_fail(l, "TLS: the socket did not take the ClientHello");
        }
        return;
      }
      send_upgrade(l);
      return;
    }
    case Listener::State::tls:
    case Listener::State::handshake:
    case Listener::State::open: {
      static std::uint8_t buf[65536];
      alignas(cmsghdr) static char control[CMSG_SPACE(sizeof(timeval))];
      for (;;) {
        iovec iov{buf, sizeof buf};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t r = recvmsg(l.fd, &msg, 0);
        if (r > 0) {
          const std::int64_t now_us = unix_us();
          // The kernel's receive time of the last segment read (SO_TIMESTAMP).
          rx_kernel_us_ = 0;
          for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP) {
              timeval tv{};
              std::memcpy(&tv, CMSG_DATA(c), sizeof tv);
              rx_kernel_us_ = static_cast<std::int64_t>(tv.tv_sec) * 1'000'000 + tv.tv_usec;
            }
          }
          const auto n = static_cast<std::size_t>(r);
          if (!(l.ssl ? tls_input(l, buf, n, now_us) : listener_input(l, buf, n, now_us))) return;
          if (n < sizeof buf) return;
          continue;
        }
        if (r == 0) {
          if (l.state != Listener::State::open) {
            listener_fail(l, "the server closed the connection during the WebSocket handshake");
          } else {
            listener_closed(l, "the server closed the TCP connection (no close frame)");
          }
          return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (l.state != Listener::State::open) {
          listener_fail(l, std::string("recv during the handshake: ") + std::strerror(errno));
        } else {
          listener_closed(l, std::string("recv: ") + std::strerror(errno));
        }
        return;
      }
    }
    default:
      (void)events;
      return;
  }
}

// Feeds bytes of the WebSocket stream (server -> client frames: unmasked).
// False when the listener was closed.
bool WsListeners::listener_bytes(Listener& l, const std::uint8_t* p, std::size_t n, std::int64_t now_us) {
  while (n > 0) {
    if (!l.in_payload) {
      auto header_size = [&l]() -> std::size_t {
        if (l.hdr_len < 2) return 2;
        const std::uint8_t len7 = l.hdr[1] & 0x7f;
        return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((l.hdr[1] & 0x80) ? 4 : 0);
      };
      const std::size_t need = header_size();
      const std::size_t take = std::min(need - l.hdr_len, n);
      std::memcpy(l.hdr + l.hdr_len, p, take);
      l.hdr_len = static_cast<std::uint8_t>(l.hdr_len + take);
      p += take;
      n -= take;
      if (l.hdr_len < header_size()) continue;
      if (!begin_frame(l)) return false;
      l.hdr_len = 0;
      if (l.frame_left == 0) {
        if (!end_frame(l, now_us)) return false;
      } else {
        l.in_payload = true;
      }
      continue;
    }
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(l.frame_left, n));
    if (l.frame_op >= 8) {
      l.ctl.append(reinterpret_cast<const char*>(p), take);
    } else if (l.msg_op == 2) {
      if (l.msg_len < sizeof l.head) {
        const std::size_t c = std::min<std::size_t>(sizeof l.head - l.msg_len, take);
        std::memcpy(l.head + l.msg_len, p, c);
      }
      l.msg_len += static_cast<std::uint32_t>(take);
    } else {
      if (l.text.size() < 65536) l.text.append(reinterpret_cast<const char*>(p), take);
      l.msg_len += static_cast<std::uint32_t>(take);
    }
    p += take;
    n -= take;
    l.frame_left -= take;
    if (l.frame_left == 0) {
      l.in_payload = false;
      if (!end_frame(l, now_us)) return false;
    }
  }
  return true;
}

bool WsListeners::begin_frame(Listener& l) {
  const std::uint8_t b0 = l.hdr[0], b1 = l.hdr[1];
  if (b1 & 0x80) {
    listener_closed(l, "protocol error: a masked frame from the server");
    return false;
  }
  if (b0 & 0x70) {
    listener_closed(l, "protocol error: RSV bits set (no extension was negotiated)");
    return false;
  }
  l.frame_fin = (b0 & 0x80) != 0;
  l.frame_op = b0 & 0x0f;
  const std::uint8_t len7 = b1 & 0x7f;
  if (len7 == 126) {
    l.frame_left = static_cast<std::uint64_t>(l.hdr[2]) << 8 | l.hdr[3];
  } else if (len7 == 127) {
    l.frame_left = 0;
    for (int i = 0; i < 8; ++i) l.frame_left = l.frame_left << 8 | l.hdr[2 + i];
  } else {
    l.frame_left = len7;
  }
  switch (l.frame_op) {
    case 1:
    case 2:
      if (l.msg_op != 0) {
        listener_closed(l, "protocol error: a new data frame inside a fragmented message");
        return false;
      }
      l.msg_op = l.frame_op;
      l.msg_len = 0;
      l.text.clear();
      return true;
    case 0:
      if (l.msg_op == 0) {
        listener_closed(l, "protocol error: a continuation frame outside a message");
        return false;
      }
      return true;
    case 8:
    case 9:
    case 10:
      if (!l.frame_fin || l.frame_left > 125) {
        listener_closed(l, "protocol error: a fragmented or long control frame");
        return false;
      }
      l.ctl.clear();
      return true;
    default:
      listener_closed(l, "protocol error: unknown opcode " + std::to_string(l.frame_op));
      return false;
  }
}

bool WsListeners::end_frame(Listener& l, std::int64_t now_us) {
  if (l.frame_op >= 8) {
    if (l.frame_op == 8) {
      std::string why = "close frame";
      if (l.ctl.size() >= 2) {
        const unsigned code = static_cast<unsigned>(static_cast<std::uint8_t>(l.ctl[0])) << 8 |
                              static_cast<std::uint8_t>(l.ctl[1]);
        why += " code " + std::to_string(code);
        if (l.ctl.size() > 2) why += " (" + l.ctl.substr(2) + ")";
      }
      listener_send_control(l, 8, std::string_view(l.ctl).substr(0, std::min<std::size_t>(2, l.ctl.size())));
      listener_closed(l, why);
      return false;
    }
    if (l.frame_op == 9) return listener_send_control(l, 10, l.ctl);
    return true;
  }
  if (!l.frame_fin) return true;
  if (l.msg_op == 2) {
    on_audio(l, now_us);
  } else {
    on_text(l);
  }
  l.msg_op = 0;
  return true;
}

void WsListeners::on_audio(Listener& l, std::int64_t now_us) {
  micstream::listener::Audio a;
  if (l.msg_len < micstream::listener::kAudioHeaderSize || l.head[0] != micstream::listener::kAudioKind) {
    ++stats_.other_binary;
    return;
  }
  if (micstream::listener::decode_audio_header(l.head, l.msg_len - sizeof l.head, a) != micstream::Errc::ok) {
    ++stats_.invalid_audio;
    return;
  }
  const std::uint32_t seq = a.sequence;
  const std::int64_t capture = a.capture_server_us;
  const SeqWindow w = devices_.window(l.device);
  const auto s = static_cast<std::int64_t>(seq);
  if (s <= l.last_seq) {
    ++stats_.out_of_order;
    return;
  }
  if (w.first != kNoSeq && seq >= w.first && seq < w.end) {
    const std::int64_t prev = std::max<std::int64_t>(l.last_seq, static_cast<std::int64_t>(w.first) - 1);
    if (s != prev + 1) ++l.gap_runs;
    ++l.delivered;
    if (rx_kernel_us_ > 0) {
      stats_.arrival.add(rx_kernel_us_ - capture);
    } else {
      stats_.arrival.add(now_us - capture);
      ++stats_.no_rx_timestamp;
    }
    stats_.read.add(now_us - capture);
  }
  l.last_seq = s;
}

void WsListeners::on_text(Listener& l) {
  ++stats_.text_msgs;
  if (l.text.find("skipped") == std::string::npos && l.text.find("\"error\"") == std::string::npos) return;
  auto j = nlohmann::json::parse(l.text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return;
  const auto type = j.value("type", std::string());
  if (type == "skipped") {
    ++stats_.skipped_msgs;
    if (timeline_.phase == Phase::measure || timeline_.phase == Phase::drain) ++stats_.skipped_msgs_window;
    stats_.skipped_frames += j.value("frames", std::uint64_t{0});
  } else if (type == "error") {
    if (stats_.error_msgs++ == 0) {
      stats_.first_error_msg = j.value("message", std::string());
      note("listener %zu got an error message: %s", static_cast<std::size_t>(&l - listeners_.data()),
           stats_.first_error_msg.c_str());
    }
  }
}

// Client -> server frames must be masked (RFC 6455 5.3). False when the
// listener was closed.
bool WsListeners::listener_send_control(Listener& l, std::uint8_t op, std::string_view payload) {
  std::uint8_t out[2 + 4 + 125];
  const std::uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  const std::size_t n = std::min<std::size_t>(payload.size(), 125);
  out[0] = static_cast<std::uint8_t>(0x80 | op);
  out[1] = static_cast<std::uint8_t>(0x80 | n);
  std::memcpy(out + 2, mask, 4);
  for (std::size_t i = 0; i < n; ++i) out[6 + i] = static_cast<std::uint8_t>(payload[i]) ^ mask[i % 4];
  // Best effort in the clear (a control frame is tiny); over TLS a lost part
  // of a record would garble all that follows.
  if (listener_write(l, out, 6 + n) || !l.ssl) return true;
  listener_closed(l, "TLS: the socket did not take a control frame");
  return false;
}

}  // namespace micstream::loadgen
