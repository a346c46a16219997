// micstream-loadgen: load test for a running micstream-server.
//
// One single-threaded epoll process (it shares the machine with the server, so
// it must be cheap) plays D virtual devices and L WebSocket listeners:
//
//  - each device speaks link protocol v1 (docs/protocol.md) to the ingest port:
//    WELCOME -> HELLO (a real HMAC proof over the nonce) -> one PING carrying a
//    "known, zero" clock offset (offset 0, round trip 1 us: the loadgen and the
//    server read the same clock) -> AUDIO frames at real-time pace from the
//    steady clock, devices staggered across one frame period, each frame
//    stamped with the system clock (Unix us) when it is sent; a PING again
//    every --ping-interval seconds;
//  - listener i opens ws://host:http/ws?device=<device i % D> with a minimal
//    hand-written client (fixed Sec-WebSocket-Key), and for every audio
//    message reads the 32-byte header: sequence and capture time (already on
//    the server's clock, which is ours). Latency = arrival - capture time,
//    where arrival is the kernel's receive timestamp of the segment
//    (SO_TIMESTAMP, system clock), so the loadgen's own scheduling delays do
//    not count; the time the loadgen read the message is reported as well.
//    With --tls the listeners open wss:// instead (OpenSSL, see TlsClient):
//    the same messages and figures, the server encrypting each listener's
//    copy of every frame.
//
// With many listeners (--poll-ms, automatic from 2000) the loop sleeps to a
// 1 ms tick and collects everything that arrived, instead of waking for each
// message. Each message still costs a recvmsg() and, on loopback, the ACK it
// triggers, processed for the server's socket in our context: about 5 us of
// CPU a message on a small VM, so 10 devices x 1000 listeners (50,000
// messages a second) cost this process about a quarter of a core.
//
// Phases: connect devices, connect listeners (a bounded number of handshakes
// at a time), warm-up (not counted), the measured window, then a drain that
// waits for the frames sent inside the window to arrive. The window is defined
// by the frames the devices *sent* in it (by schedule); each listener must
// receive every one of its device's window frames, so expected = sum over
// devices of (frames sent in the window x listeners of that device).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "micstream/auth.h"
#include "micstream/codec.h"
#include "micstream/frame_parser.h"
#include "micstream/listener_audio.h"
#include "micstream/protocol.h"

namespace {

using micstream::Codec;
using micstream::Errc;
namespace proto = micstream::proto;

// ---------------------------------------------------------------------------
// Small helpers

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t unix_us() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

[[noreturn]] void die(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void die(const char* fmt, ...) {
  std::fflush(stdout);
  std::fputs("micstream-loadgen: error: ", stderr);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::exit(2);
}

void note(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void note(const char* fmt, ...) {
  std::fputs("loadgen: ", stderr);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

volatile sig_atomic_t g_interrupted = 0;
extern "C" void on_signal(int) { g_interrupted = 1; }

// CPU time of a process in seconds (utime + stime of all its threads), or -1.
double proc_cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  auto close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(line.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  // After "pid (comm) ": field 3 is state; utime and stime are fields 14, 15.
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A "VmXXX:  1234 kB" line of /proc/<pid>/status, in kB, or -1.
long proc_status_kb(int pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::size_t klen = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, klen, key) == 0 && line.size() > klen && line[klen] == ':') {
      return std::strtol(line.c_str() + klen + 1, nullptr, 10);
    }
  }
  return -1;
}

// CPU seconds used by every other live process on the machine (utime +
// stime; a process that starts and ends inside the window is missed, which
// the CPU pressure figure catches). /proc/stat's tick counts are unreliable
// in some VMs; the scheduler's per-process figures are not.
std::map<int, double> other_processes_cpu(int self, int server) {
  std::map<int, double> out;
  const auto tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (const auto& entry : std::filesystem::directory_iterator("/proc", std::filesystem::directory_options::skip_permission_denied)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const int pid = std::stoi(name);
    if (pid == self || pid == server) continue;
    std::ifstream in(entry.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(line.substr(close + 2));
    std::string f;
    double sum = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
      if (i >= 14) sum += std::strtod(f.c_str(), nullptr);
    }
    out[pid] = sum / tck;
  }
  return out;
}

double cpu_used_between(const std::map<int, double>& before, const std::map<int, double>& after) {
  double used = 0;
  for (const auto& [pid, t] : after) {
    auto it = before.find(pid);
    used += it == before.end() ? t : std::max(0.0, t - it->second);
  }
  return used;
}

// Microseconds some task waited for a CPU (pressure stall information), or -1.
double cpu_pressure_us() {
  std::ifstream in("/proc/pressure/cpu");
  std::string line;
  if (!std::getline(in, line)) return -1;
  const auto pos = line.find("total=");
  return pos == std::string::npos ? -1 : std::strtod(line.c_str() + pos + 6, nullptr);
}

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// ---------------------------------------------------------------------------
// Latency histogram: 10 us buckets up to 10 s, exact max.

class LatencyHistogram {
 public:
  static constexpr std::int64_t kBucketUs = 10;
  static constexpr std::size_t kBuckets = 1'000'000;  // 10 s; later ones go to the overflow bucket

  LatencyHistogram() : counts_(kBuckets + 1, 0) {}

  void add(std::int64_t us) {
    ++n_;
    if (us < 0) {
      ++negative_;
      us = 0;
    }
    if (us > max_) max_ = us;
    sum_ += static_cast<double>(us);
    auto idx = static_cast<std::size_t>(us / kBucketUs);
    ++counts_[std::min(idx, kBuckets)];
  }

  [[nodiscard]] std::uint64_t count() const { return n_; }
  [[nodiscard]] std::uint64_t negative() const { return negative_; }
  [[nodiscard]] double max_ms() const { return n_ ? static_cast<double>(max_) / 1000.0 : 0.0; }
  [[nodiscard]] double mean_ms() const { return n_ ? sum_ / static_cast<double>(n_) / 1000.0 : 0.0; }

  // The upper edge of the bucket holding the sample of rank ceil(p * n) (so a
  // conservative value, 10 us resolution), never above the exact max.
  [[nodiscard]] double percentile_ms(double p) const {
    if (n_ == 0) return 0.0;
    auto rank = static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(n_)));
    rank = std::clamp<std::uint64_t>(rank, 1, n_);
    std::uint64_t cum = 0;
    for (std::size_t i = 0; i <= kBuckets; ++i) {
      cum += counts_[i];
      if (cum >= rank) {
        if (i == kBuckets) return max_ms();
        return std::min(static_cast<double>((static_cast<std::int64_t>(i) + 1) * kBucketUs) / 1000.0, max_ms());
      }
    }
    return max_ms();
  }

  [[nodiscard]] std::int64_t max_us() const { return max_; }

  // Coarser buckets of width_us for output: (lower edge us, count), up to
  // upto_us (default: the max).
  [[nodiscard]] std::vector<std::pair<std::int64_t, std::uint64_t>> coarse(std::int64_t width_us,
                                                                          std::int64_t upto_us = -1) const {
    std::vector<std::pair<std::int64_t, std::uint64_t>> out;
    if (n_ == 0) return out;
    if (upto_us < 0) upto_us = max_;
    const std::int64_t per = std::max<std::int64_t>(1, width_us / kBucketUs);
    const auto last_fine = static_cast<std::size_t>(std::min<std::int64_t>(upto_us / kBucketUs, kBuckets));
    for (std::size_t i = 0; i <= last_fine; i += static_cast<std::size_t>(per)) {
      std::uint64_t c = 0;
      for (std::size_t j = i; j < i + static_cast<std::size_t>(per) && j <= kBuckets; ++j) c += counts_[j];
      out.emplace_back(static_cast<std::int64_t>(i) * kBucketUs, c);
    }
    return out;
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t n_ = 0;
  std::uint64_t negative_ = 0;
  std::int64_t max_ = 0;
  double sum_ = 0;
};

// ---------------------------------------------------------------------------
// Options

struct Options {
  std::string host = "127.0.0.1";
  int http_port = 0;
  int ingest_port = 0;
  std::string ports_file;
  unsigned devices = 10;
  unsigned listeners = 1000;
  double seconds = 20;
  double warmup_seconds = 2;
  double drain_seconds = 3;
  int server_pid = 0;
  std::string latency_csv;
  std::string plot;
  double csv_bucket_ms = 0.1;
  std::string device_prefix = "load-";
  std::string secret = "loadgen-secret";
  std::string codec_name = "pcm16";
  Codec codec = Codec::pcm16;
  unsigned sample_rate = 16000;
  unsigned samples_per_frame = 320;
  unsigned connect_concurrency = 256;
  double poll_ms = -1;  // -1: automatic
  double connect_timeout = 10;
  double ping_interval = 5;
  bool tls = false;            // listeners speak wss
  std::string ca_file;         // verify the server's certificate against this CA (PEM)
  bool tls_no_verify = false;  // or, said explicitly, do not verify it
};

// ---------------------------------------------------------------------------
// TLS for the listeners (--tls)
//
// OpenSSL never touches a socket here: each listener's SSL reads from and
// writes to memory BIOs, and the loadgen moves the ciphertext itself. So it
// still reads with recvmsg(), which keeps the kernel's receive timestamp of
// every read (the latency figures), and the epoll loop stays the one plain ws
// uses.

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

// OpenSSL's queued errors as one line; clears the queue.
std::string openssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? "no OpenSSL error queued" : out;
}

class TlsClient {
 public:
  explicit TlsClient(const Options& o) : host_(o.host), verify_(!o.tls_no_verify) {
    in6_addr scratch{};
    host_is_ip_ = inet_pton(AF_INET, host_.c_str(), &scratch) == 1 || inet_pton(AF_INET6, host_.c_str(), &scratch) == 1;
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr) die("SSL_CTX_new: %s", openssl_errors().c_str());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);  // the server's own minimum
    if (verify_) {
      if (SSL_CTX_load_verify_locations(ctx_, o.ca_file.c_str(), nullptr) != 1) {
        die("cannot load the CA certificate %s: %s", o.ca_file.c_str(), openssl_errors().c_str());
      }
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
      description_ = "certificate verified against " + o.ca_file + " for " + host_;
    } else {
      description_ = "certificate not verified (--tls-no-verify)";
    }
    // No client session cache (OpenSSL's default): every listener makes a
    // full handshake, as many different clients would.
  }
  ~TlsClient() { SSL_CTX_free(ctx_); }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // A client session on two memory BIOs, ready for SSL_do_handshake().
  [[nodiscard]] SslPtr new_session() const {
    SslPtr ssl(SSL_new(ctx_));
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    if (!ssl || in == nullptr || out == nullptr) die("SSL_new: %s", openssl_errors().c_str());
    SSL_set_bio(ssl.get(), in, out);  // the SSL owns both now
    SSL_set_connect_state(ssl.get());
    if (verify_) {
      // The certificate must name --host: an IP address SAN for an address.
      const int named = host_is_ip_ ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), host_.c_str())
                                    : SSL_set1_host(ssl.get(), host_.c_str());
      if (named != 1) die("cannot check the certificate for %s: %s", host_.c_str(), openssl_errors().c_str());
    }
    if (!host_is_ip_) SSL_set_tlsext_host_name(ssl.get(), host_.c_str());  // SNI takes names only
    return ssl;
  }

  [[nodiscard]] const std::string& description() const { return description_; }

 private:
  std::string host_;
  bool verify_;
  bool host_is_ip_ = false;
  SSL_CTX* ctx_ = nullptr;
  std::string description_;
};

// ---------------------------------------------------------------------------
// Connections

constexpr std::uint32_t kNoSeq = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kKindDevice = 1ULL << 32;
constexpr std::uint64_t kKindListener = 2ULL << 32;

struct Device {
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
  unsigned listeners = 0;
};

struct Listener {
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

// ---------------------------------------------------------------------------

class Loadgen {
 public:
  explicit Loadgen(const Options& o) : opt_(o) {}

  int run();

 private:
  enum class Phase { connect_devices, connect_listeners, warmup, measure, drain, done };

  // setup
  void resolve();
  int open_socket(bool* connected_now);
  void epoll_add(int fd, std::uint32_t events, std::uint64_t tag) const;
  void epoll_mod(int fd, std::uint32_t events, std::uint64_t tag) const;

  // devices
  void start_device(unsigned i);
  void on_device_event(Device& d, std::uint32_t events);
  void device_read(Device& d);
  void device_frame(Device& d, const proto::FrameView& f);
  bool device_send(Device& d, const std::uint8_t* p, std::size_t n);
  void device_flush(Device& d);
  void device_closed(Device& d, const std::string& why);
  void send_audio(Device& d, std::int64_t due_ns);
  void send_ping(Device& d);
  void service_devices(std::int64_t now);

  // listeners
  void start_listener(std::uint32_t i);
  void on_listener_event(std::uint32_t i, std::uint32_t events, std::int64_t now_ns);
  void listener_fail(Listener& l, const std::string& why);
  void listener_closed(Listener& l, const std::string& why);
  void listener_lost(Listener& l, const std::string& why);
  bool send_upgrade(Listener& l);
  bool listener_write(Listener& l, const void* p, std::size_t n);
  bool tls_input(Listener& l, const std::uint8_t* p, std::size_t n, std::int64_t now_us);
  bool tls_flush(Listener& l);
  bool listener_input(Listener& l, const std::uint8_t* p, std::size_t n, std::int64_t now_us);
  bool listener_bytes(Listener& l, const std::uint8_t* p, std::size_t n, std::int64_t now_us);
  bool begin_frame(Listener& l);
  bool end_frame(Listener& l, std::int64_t now_us);
  void on_audio(Listener& l, std::int64_t now_us);
  void on_text(Listener& l);
  bool listener_send_control(Listener& l, std::uint8_t op, std::string_view payload);

  // phases
  void tick(std::int64_t now);
  void begin_warmup(std::int64_t now);
  void end_measure(std::int64_t now);
  bool drained() const;

  // output
  void report();
  void write_csv(const std::string& path) const;
  void draw_plot(const std::string& path) const;

  const Options& opt_;
  sockaddr_storage ingest_addr_{};
  sockaddr_storage http_addr_{};
  socklen_t addr_len_ = 0;
  std::string ingest_text_, http_text_;
  int ep_ = -1;
  std::int64_t frame_ns_ = 0;
  std::vector<std::int16_t> tone_;  // one frame of samples
  std::string upgrade_prefix_;
  std::unique_ptr<TlsClient> tls_;  // --tls
  const char* scheme_ = "ws";
  std::string tls_session_;  // protocol and cipher of the first TLS session, for the report

  std::vector<std::unique_ptr<Device>> devices_;
  std::vector<Listener> listeners_;
  Phase phase_ = Phase::connect_devices;
  unsigned devices_streaming_ = 0;
  std::uint32_t next_listener_ = 0;
  unsigned inflight_ = 0;
  std::deque<std::uint32_t> inflight_order_;
  std::uint32_t listeners_open_ = 0;
  std::int64_t phase_started_ns_ = 0;
  std::int64_t devices_deadline_ns_ = 0;
  std::int64_t measure_start_ns_ = std::numeric_limits<std::int64_t>::max();
  std::int64_t measure_end_ns_ = std::numeric_limits<std::int64_t>::max();
  std::int64_t drain_deadline_ns_ = 0;
  std::int64_t next_check_ns_ = 0;
  double listeners_connect_s_ = 0;

  // measurement snapshots
  std::int64_t m_start_wall_ns_ = 0, m_end_wall_ns_ = 0;
  double server_cpu_start_ = -1, server_cpu_end_ = -1;
  double self_cpu_start_ = 0, self_cpu_end_ = 0;
  std::map<int, double> others_start_, others_end_;
  double pressure_start_ = -1, pressure_end_ = -1;
  long server_hwm_kb_ = -1, server_rss_kb_ = -1;

  // counters
  // Arrival at the listener's socket (the kernel's receive timestamp of the
  // segment, SO_TIMESTAMP, system clock) - capture time; the read time when a
  // read carried no timestamp.
  LatencyHistogram hist_;
  LatencyHistogram khist_;  // system clock when the loadgen read the message - capture time
  std::uint64_t no_rx_timestamp_ = 0;
  std::int64_t rx_kernel_us_ = 0;
  // event loop: how long one wake-up's work took (a busy loadgen delays its reads)
  std::int64_t max_batch_ns_ = 0;
  std::uint64_t wakeups_ = 0, wake_events_ = 0;
  std::uint64_t out_of_order_ = 0;
  std::uint64_t other_binary_ = 0;
  std::uint64_t invalid_audio_ = 0;  // audio messages that break docs/protocol.md's rules
  std::uint64_t skipped_msgs_ = 0, skipped_frames_ = 0;
  std::uint64_t skipped_msgs_window_ = 0;
  std::uint64_t text_msgs_ = 0, error_msgs_ = 0;
  std::string first_error_msg_;
  std::uint64_t listener_failures_ = 0;
  std::string first_failure_;
  std::uint64_t listener_disconnects_ = 0, listener_disconnects_window_ = 0;
  std::map<std::string, std::uint64_t> disconnect_reasons_;
  unsigned device_disconnects_ = 0;
  std::int64_t max_send_late_ns_ = 0;
  std::uint64_t late_sends_ = 0;  // in the window, more than 1 ms after their time
  std::size_t max_backlog_ = 0;
  std::int64_t max_abs_offset_us_ = 0, max_rtt_us_ = 0;
  std::uint64_t pongs_ = 0;
  bool interrupted_ = false;
};

// ---------------------------------------------------------------------------
// Setup

void Loadgen::resolve() {
  auto one = [&](int port, sockaddr_storage& out, std::string& text) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string service = std::to_string(port);
    int rc = getaddrinfo(opt_.host.c_str(), service.c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) die("cannot resolve %s: %s", opt_.host.c_str(), gai_strerror(rc));
    std::memcpy(&out, res->ai_addr, res->ai_addrlen);
    addr_len_ = res->ai_addrlen;
    char host[NI_MAXHOST] = {};
    getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
    text = (res->ai_family == AF_INET6 ? "[" + std::string(host) + "]" : std::string(host)) + ":" + service;
    freeaddrinfo(res);
  };
  one(opt_.ingest_port, ingest_addr_, ingest_text_);
  one(opt_.http_port, http_addr_, http_text_);
}

void Loadgen::epoll_add(int fd, std::uint32_t events, std::uint64_t tag) const {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl ADD: %s", std::strerror(errno));
}

void Loadgen::epoll_mod(int fd, std::uint32_t events, std::uint64_t tag) const {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  if (epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev) != 0) die("epoll_ctl MOD: %s", std::strerror(errno));
}

// ---------------------------------------------------------------------------
// Devices

void Loadgen::start_device(unsigned i) {
  Device& d = *devices_[i];
  d.fd = socket(ingest_addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (d.fd < 0) die("socket: %s", std::strerror(errno));
  int one = 1;
  setsockopt(d.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(d.fd, reinterpret_cast<const sockaddr*>(&ingest_addr_), addr_len_) != 0 && errno != EINPROGRESS) {
    die("cannot connect to the ingest port %s: %s; micstream-server must be running and listening there",
        ingest_text_.c_str(), std::strerror(errno));
  }
  d.state = Device::State::connecting;
  epoll_add(d.fd, EPOLLOUT, kKindDevice | i);
}

void Loadgen::on_device_event(Device& d, std::uint32_t events) {
  if (d.state == Device::State::closed) return;
  if (d.state == Device::State::connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(d.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      die("cannot connect to the ingest port %s: %s; micstream-server must be running and listening there",
          ingest_text_.c_str(), std::strerror(err));
    }
    d.state = Device::State::await_welcome;
    epoll_mod(d.fd, EPOLLIN, kKindDevice | d.index);
    return;
  }
  if (events & EPOLLOUT) device_flush(d);
  if (d.state != Device::State::closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) device_read(d);
}

void Loadgen::device_read(Device& d) {
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

void Loadgen::device_frame(Device& d, const proto::FrameView& f) {
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
      ++devices_streaming_;
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
      max_abs_offset_us_ = std::max(max_abs_offset_us_, offset < 0 ? -offset : offset);
      max_rtt_us_ = std::max(max_rtt_us_, rtt);
      ++pongs_;
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
        why += " " + std::to_string(static_cast<unsigned>(m.code)) + " (" +
               micstream::error_message(m.code) + "): " + std::string(m.reason.view());
      }
      device_closed(d, why);
      return;
    }
    default:
      device_closed(d, std::string("unexpected frame ") + proto::frame_type_name(f.type));
      return;
  }
}

bool Loadgen::device_send(Device& d, const std::uint8_t* p, std::size_t n) {
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
  max_backlog_ = std::max(max_backlog_, d.backlog.size() - d.backlog_off);
  if (!d.want_out) {
    d.want_out = true;
    epoll_mod(d.fd, EPOLLIN | EPOLLOUT, kKindDevice | d.index);
  }
  return true;
}

void Loadgen::device_flush(Device& d) {
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
    epoll_mod(d.fd, EPOLLIN, kKindDevice | d.index);
  }
}

void Loadgen::device_closed(Device& d, const std::string& why) {
  if (d.state == Device::State::closed) return;
  if (d.state == Device::State::streaming) --devices_streaming_;
  const bool before_streaming = phase_ == Phase::connect_devices;
  d.state = Device::State::closed;
  close(d.fd);
  d.fd = -1;
  ++device_disconnects_;
  note("device %s disconnected: %s", d.id.c_str(), why.c_str());
  if (before_streaming) die("device %s could not start streaming to %s: %s", d.id.c_str(), ingest_text_.c_str(),
                            why.c_str());
}

void Loadgen::send_ping(Device& d) {
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

void Loadgen::send_audio(Device& d, std::int64_t due_ns) {
  if (d.window_first == kNoSeq && due_ns >= measure_start_ns_) d.window_first = d.seq;
  if (d.window_end == kNoSeq && due_ns >= measure_end_ns_) d.window_end = d.seq;

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

void Loadgen::service_devices(std::int64_t now) {
  for (auto& dp : devices_) {
    Device& d = *dp;
    if (d.state != Device::State::streaming || !d.scheduled) continue;
    while (d.next_due_ns <= now && d.state == Device::State::streaming) {
      if (phase_ == Phase::measure) {
        max_send_late_ns_ = std::max(max_send_late_ns_, now - d.next_due_ns);
        if (now - d.next_due_ns > 1'000'000) ++late_sends_;
      }
      send_audio(d, d.next_due_ns);
      d.next_due_ns += frame_ns_;
    }
    if (d.state == Device::State::streaming && d.next_ping_ns <= now) send_ping(d);
  }
}

// ---------------------------------------------------------------------------
// Listeners

void Loadgen::start_listener(std::uint32_t i) {
  Listener& l = listeners_[i];
  l.started_ns = mono_ns();
  l.fd = socket(http_addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l.fd < 0) {
    listener_fail(l, std::string("socket: ") + std::strerror(errno));
    return;
  }
  const int on = 1;
  setsockopt(l.fd, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof on);
  if (connect(l.fd, reinterpret_cast<const sockaddr*>(&http_addr_), addr_len_) != 0 && errno != EINPROGRESS) {
    const int err = errno;
    if (err == ECONNREFUSED) {
      die("cannot connect to the HTTP/WebSocket port %s: %s; micstream-server must be running and listening there",
          http_text_.c_str(), std::strerror(err));
    }
    listener_fail(l, std::string("connect to ") + http_text_ + ": " + std::strerror(err));
    return;
  }
  l.state = Listener::State::connecting;
  ++inflight_;
  inflight_order_.push_back(i);
  epoll_add(l.fd, EPOLLOUT, kKindListener | i);
}

void Loadgen::listener_fail(Listener& l, const std::string& why) {
  if (l.pending()) --inflight_;
  if (l.fd >= 0) close(l.fd);
  l.fd = -1;
  l.ssl.reset();
  l.state = Listener::State::failed;
  l.text.clear();
  l.text.shrink_to_fit();
  if (listener_failures_++ == 0) {
    first_failure_ = why;
    note("listener %zu (device %s) failed: %s", static_cast<std::size_t>(&l - listeners_.data()),
         devices_[l.device]->id.c_str(), why.c_str());
  }
}

void Loadgen::listener_closed(Listener& l, const std::string& why) {
  if (l.state != Listener::State::open) return;
  close(l.fd);
  l.fd = -1;
  l.ssl.reset();
  l.state = Listener::State::closed;
  --listeners_open_;
  ++listener_disconnects_;
  if (phase_ == Phase::measure) ++listener_disconnects_window_;
  if (disconnect_reasons_[why]++ == 0) {
    note("listener %zu (device %s) disconnected: %s", static_cast<std::size_t>(&l - listeners_.data()),
         devices_[l.device]->id.c_str(), why.c_str());
  }
}

// A failure to connect before the upgrade, a disconnect after it.
void Loadgen::listener_lost(Listener& l, const std::string& why) {
  if (l.state == Listener::State::open) {
    listener_closed(l, why);
  } else {
    listener_fail(l, why);
  }
}

bool Loadgen::send_upgrade(Listener& l) {
  const std::string& dev = devices_[l.device]->id;
  const std::string req = upgrade_prefix_ + dev + " HTTP/1.1\r\nHost: " + http_text_ +
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
bool Loadgen::listener_write(Listener& l, const void* p, std::size_t n) {
  errno = 0;
  if (!l.ssl) return send(l.fd, p, n, MSG_NOSIGNAL) == static_cast<ssize_t>(n);
  if (SSL_write(l.ssl.get(), p, static_cast<int>(n)) <= 0) return false;  // a memory BIO takes it all
  return tls_flush(l);
}

// Sends what the SSL wrote into its output BIO (handshake, records, alerts).
bool Loadgen::tls_flush(Listener& l) {
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
bool Loadgen::tls_input(Listener& l, const std::uint8_t* p, std::size_t n, std::int64_t now_us) {
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
      listener_fail(l, "TLS handshake with " + http_text_ + " failed: " +
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
bool Loadgen::listener_input(Listener& l, const std::uint8_t* p, std::size_t n, std::int64_t now_us) {
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
      listener_fail(l, std::string("the upgrade to ") + scheme_ + "://" + http_text_ + upgrade_prefix_.substr(4) +
                           devices_[l.device]->id + " was refused: " + status);
      return false;
    }
    const std::size_t body = end + 4 - had;  // bytes of this read that were headers
    p += body;
    n -= body;
    l.text.clear();
    l.text.shrink_to_fit();
    l.state = Listener::State::open;
    --inflight_;
    ++listeners_open_;
  }
  return n == 0 || listener_bytes(l, p, n, now_us);
}

void Loadgen::on_listener_event(std::uint32_t i, std::uint32_t events, std::int64_t now_ns) {
  Listener& l = listeners_[i];
  (void)now_ns;
  switch (l.state) {
    case Listener::State::connecting: {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(l.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        if (err == ECONNREFUSED && listeners_open_ == 0) {
          die("cannot connect to the HTTP/WebSocket port %s: %s; micstream-server must be running and listening "
              "there",
              http_text_.c_str(), std::strerror(err));
        }
        listener_fail(l, std::string("connect to ") + http_text_ + ": " + std::strerror(err));
        return;
      }
      epoll_mod(l.fd, EPOLLIN, kKindListener | i);
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
bool Loadgen::listener_bytes(Listener& l, const std::uint8_t* p, std::size_t n, std::int64_t now_us) {
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

bool Loadgen::begin_frame(Listener& l) {
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

bool Loadgen::end_frame(Listener& l, std::int64_t now_us) {
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

void Loadgen::on_audio(Listener& l, std::int64_t now_us) {
  micstream::listener::Audio a;
  if (l.msg_len < micstream::listener::kAudioHeaderSize || l.head[0] != micstream::listener::kAudioKind) {
    ++other_binary_;
    return;
  }
  if (micstream::listener::decode_audio_header(l.head, l.msg_len - sizeof l.head, a) != micstream::Errc::ok) {
    ++invalid_audio_;
    return;
  }
  const std::uint32_t seq = a.sequence;
  const std::int64_t capture = a.capture_server_us;
  const Device& d = *devices_[l.device];
  const auto s = static_cast<std::int64_t>(seq);
  if (s <= l.last_seq) {
    ++out_of_order_;
    return;
  }
  if (d.window_first != kNoSeq && seq >= d.window_first && seq < d.window_end) {
    const std::int64_t prev = std::max<std::int64_t>(l.last_seq, static_cast<std::int64_t>(d.window_first) - 1);
    if (s != prev + 1) ++l.gap_runs;
    ++l.delivered;
    if (rx_kernel_us_ > 0) {
      hist_.add(rx_kernel_us_ - capture);
    } else {
      hist_.add(now_us - capture);
      ++no_rx_timestamp_;
    }
    khist_.add(now_us - capture);
  }
  l.last_seq = s;
}

void Loadgen::on_text(Listener& l) {
  ++text_msgs_;
  if (l.text.find("skipped") == std::string::npos && l.text.find("\"error\"") == std::string::npos) return;
  auto j = nlohmann::json::parse(l.text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return;
  const auto type = j.value("type", std::string());
  if (type == "skipped") {
    ++skipped_msgs_;
    if (phase_ == Phase::measure || phase_ == Phase::drain) ++skipped_msgs_window_;
    skipped_frames_ += j.value("frames", std::uint64_t{0});
  } else if (type == "error") {
    if (error_msgs_++ == 0) {
      first_error_msg_ = j.value("message", std::string());
      note("listener %zu got an error message: %s", static_cast<std::size_t>(&l - listeners_.data()),
           first_error_msg_.c_str());
    }
  }
}

// Client -> server frames must be masked (RFC 6455 5.3). False when the
// listener was closed.
bool Loadgen::listener_send_control(Listener& l, std::uint8_t op, std::string_view payload) {
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

// ---------------------------------------------------------------------------
// Phases

void Loadgen::begin_warmup(std::int64_t now) {
  listeners_connect_s_ = static_cast<double>(now - phase_started_ns_) / 1e9;
  note("%u of %u listeners connected in %.2f s (%" PRIu64 " failed); warm-up %.1f s, then %.1f s measured",
       listeners_open_, opt_.listeners, listeners_connect_s_, listener_failures_, opt_.warmup_seconds,
       opt_.seconds);
  phase_ = Phase::warmup;
  measure_start_ns_ = now + static_cast<std::int64_t>(opt_.warmup_seconds * 1e9);
  measure_end_ns_ = measure_start_ns_ + static_cast<std::int64_t>(opt_.seconds * 1e9);
}

void Loadgen::end_measure(std::int64_t now) {
  m_end_wall_ns_ = now;
  self_cpu_end_ = self_cpu_seconds();
  pressure_end_ = cpu_pressure_us();
  others_end_ = other_processes_cpu(getpid(), opt_.server_pid);
  if (opt_.server_pid > 0) {
    server_cpu_end_ = proc_cpu_seconds(opt_.server_pid);
    server_hwm_kb_ = proc_status_kb(opt_.server_pid, "VmHWM");
    server_rss_kb_ = proc_status_kb(opt_.server_pid, "VmRSS");
  }
  measure_end_ns_ = std::min(measure_end_ns_, now);
  for (auto& dp : devices_) {
    Device& d = *dp;
    if (d.window_first == kNoSeq) d.window_first = d.seq;
    if (d.state != Device::State::streaming && d.window_end == kNoSeq) d.window_end = d.seq;
  }
  phase_ = Phase::drain;
  drain_deadline_ns_ = now + static_cast<std::int64_t>(opt_.drain_seconds * 1e9);
}

bool Loadgen::drained() const {
  for (const auto& dp : devices_) {
    if (dp->window_end == kNoSeq) return false;
  }
  for (const Listener& l : listeners_) {
    if (l.state != Listener::State::open) continue;
    const Device& d = *devices_[l.device];
    if (d.window_end > d.window_first && l.last_seq < static_cast<std::int64_t>(d.window_end) - 1) return false;
  }
  return true;
}

void Loadgen::tick(std::int64_t now) {
  if (g_interrupted && !interrupted_) {
    interrupted_ = true;
    note("interrupted");
    if (phase_ == Phase::measure) {
      end_measure(now);
      drain_deadline_ns_ = now;
    } else if (phase_ != Phase::drain) {
      die("interrupted before the measured window");
    }
  }
  switch (phase_) {
    case Phase::connect_devices:
      if (devices_streaming_ == devices_.size()) {
        phase_ = Phase::connect_listeners;
        phase_started_ns_ = now;
        next_check_ns_ = now + 2'000'000'000;
        for (auto& dp : devices_) {
          dp->scheduled = true;
          dp->next_due_ns = now + static_cast<std::int64_t>(dp->index) * frame_ns_ / static_cast<std::int64_t>(devices_.size());
        }
        note("%zu devices streaming to %s; connecting %u listeners to %s://%s/ws", devices_.size(),
             ingest_text_.c_str(), opt_.listeners, scheme_, http_text_.c_str());
      } else if (now > devices_deadline_ns_) {
        die("only %u of %zu devices got WELCOME from %s within %.1f s", devices_streaming_, devices_.size(),
            ingest_text_.c_str(), opt_.connect_timeout);
      }
      break;
    case Phase::connect_listeners: {
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
      if (next_listener_ == listeners_.size() && inflight_ == 0) {
        begin_warmup(now);
      } else if (now >= next_check_ns_) {
        if (next_check_ns_ != 0) {
          note("connecting: %.1f s, %u open, %u handshakes in flight, %" PRIu64 " failed, %" PRIu64 " disconnected",
               static_cast<double>(now - phase_started_ns_) / 1e9, listeners_open_, inflight_, listener_failures_,
               listener_disconnects_);
        }
        next_check_ns_ = now + 2'000'000'000;
      }
      break;
    }
    case Phase::warmup:
      if (now >= measure_start_ns_) {
        phase_ = Phase::measure;
        m_start_wall_ns_ = now;
        self_cpu_start_ = self_cpu_seconds();
        others_start_ = other_processes_cpu(getpid(), opt_.server_pid);
        pressure_start_ = cpu_pressure_us();
        if (opt_.server_pid > 0) server_cpu_start_ = proc_cpu_seconds(opt_.server_pid);
      }
      break;
    case Phase::measure:
      if (now >= measure_end_ns_) end_measure(now);
      break;
    case Phase::drain:
      if (now >= next_check_ns_) {
        next_check_ns_ = now + 10'000'000;
        if (drained() || now >= drain_deadline_ns_) phase_ = Phase::done;
      }
      break;
    case Phase::done:
      break;
  }
}

// ---------------------------------------------------------------------------

int Loadgen::run() {
  frame_ns_ = static_cast<std::int64_t>(opt_.samples_per_frame) * 1'000'000'000 / opt_.sample_rate;

  // A 440 Hz tone, not silence, so codecs work as they would.
  tone_.resize(opt_.samples_per_frame);
  for (std::size_t i = 0; i < tone_.size(); ++i) {
    tone_[i] = static_cast<std::int16_t>(
        8000.0 * std::sin(2.0 * M_PI * 440.0 * static_cast<double>(i) / static_cast<double>(opt_.sample_rate)));
  }

  resolve();
  upgrade_prefix_ = "GET /ws?device=";
  if (opt_.tls) {
    tls_ = std::make_unique<TlsClient>(opt_);
    scheme_ = "wss";
  }

  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) die("epoll_create1: %s", std::strerror(errno));

  devices_.reserve(opt_.devices);
  for (unsigned i = 0; i < opt_.devices; ++i) {
    auto d = std::make_unique<Device>(opt_.codec);
    d->index = i;
    d->id = opt_.device_prefix + std::to_string(i);
    if (!proto::is_valid_device_id(d->id)) die("invalid device id \"%s\" (see --device-prefix)", d->id.c_str());
    devices_.push_back(std::move(d));
  }
  listeners_.resize(opt_.listeners);
  for (std::uint32_t i = 0; i < opt_.listeners; ++i) {
    listeners_[i].device = i % opt_.devices;
    ++devices_[listeners_[i].device]->listeners;
  }

  const std::int64_t t_start = mono_ns();
  devices_deadline_ns_ = t_start + static_cast<std::int64_t>(opt_.connect_timeout * 1e9);
  for (unsigned i = 0; i < opt_.devices; ++i) start_device(i);

  std::vector<epoll_event> events(1024);
  const auto poll_ns = static_cast<std::int64_t>(opt_.poll_ms * 1e6);
  bool more = false;  // the last poll filled the event array: poll again at once
  while (phase_ != Phase::done) {
    std::int64_t now = mono_ns();
    service_devices(now);
    tick(now);
    if (phase_ == Phase::done) break;

    // Sleep until the next frame is due (ns precision), or a phase check.
    std::int64_t wake = now + 10'000'000;
    for (auto& dp : devices_) {
      if (dp->state == Device::State::streaming && dp->scheduled) wake = std::min(wake, dp->next_due_ns);
    }
    if (phase_ == Phase::warmup) wake = std::min(wake, measure_start_ns_);
    if (phase_ == Phase::measure) wake = std::min(wake, measure_end_ns_);
    if (phase_ == Phase::connect_listeners && inflight_ < opt_.connect_concurrency &&
        next_listener_ < listeners_.size()) {
      wake = now;
    }
    if (more) wake = now;
    int n = 0;
    if (poll_ns > 0) {
      // Polling: sleep to the next poll tick (or frame), then take whatever
      // arrived meanwhile in one go. Far fewer wake-ups than one per arriving
      // message; the latency figures keep their precision through the
      // kernel's receive timestamps.
      if (wake > now) {
        wake = std::min(wake, now + poll_ns);
        timespec until{static_cast<time_t>(wake / 1'000'000'000), static_cast<long>(wake % 1'000'000'000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR && !g_interrupted) {
        }
      }
      n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 0);
    } else {
      const std::int64_t wait = std::max<std::int64_t>(0, wake - now);
      timespec ts{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
      n = epoll_pwait2(ep_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
    }
    more = n == static_cast<int>(events.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_pwait2: %s", std::strerror(errno));
    }
    const std::int64_t woke = n > 0 ? mono_ns() : 0;
    for (int k = 0; k < n; ++k) {
      const std::uint64_t tag = events[k].data.u64;
      const auto idx = static_cast<std::uint32_t>(tag & 0xffffffffULL);
      if ((tag & ~0xffffffffULL) == kKindDevice) {
        on_device_event(*devices_[idx], events[k].events);
      } else {
        on_listener_event(idx, events[k].events, 0);
      }
      // Keep the devices on time even when a wake-up brings many events.
      if ((k & 63) == 63) service_devices(mono_ns());
    }
    if (n > 0 && phase_ == Phase::measure) {
      max_batch_ns_ = std::max(max_batch_ns_, mono_ns() - woke);
      ++wakeups_;
      wake_events_ += static_cast<std::uint64_t>(n);
    }
  }

  report();
  if (!opt_.latency_csv.empty()) write_csv(opt_.latency_csv);
  if (!opt_.plot.empty()) draw_plot(opt_.plot);
  return 0;
}

// ---------------------------------------------------------------------------
// Output

void Loadgen::report() {
  std::uint64_t expected = 0;
  for (const auto& dp : devices_) {
    const Device& d = *dp;
    if (d.window_first != kNoSeq && d.window_end != kNoSeq && d.window_end > d.window_first) {
      expected += static_cast<std::uint64_t>(d.window_end - d.window_first) * d.listeners;
    }
  }
  std::uint64_t delivered = 0, lossy = 0, gap_runs = 0;
  for (const Listener& l : listeners_) {
    delivered += l.delivered;
    gap_runs += l.gap_runs;
    const Device& d = *devices_[l.device];
    const std::uint64_t want = d.window_end > d.window_first && d.window_end != kNoSeq ? d.window_end - d.window_first : 0;
    if (l.delivered < want) ++lossy;
  }
  const double measured = static_cast<double>(m_end_wall_ns_ - m_start_wall_ns_) / 1e9;
  const std::uint64_t missing = expected > delivered ? expected - delivered : 0;

  std::printf("micstream-loadgen: %u devices, %u listeners, %.1f s measured (after %.1f s warm-up)\n", opt_.devices,
              opt_.listeners, measured, opt_.warmup_seconds);
  std::printf("  server        ingest %s, %s://%s/ws; %s mono %u Hz, %u samples (%.1f ms) a frame\n",
              ingest_text_.c_str(), scheme_, http_text_.c_str(), micstream::codec_name(opt_.codec), opt_.sample_rate,
              opt_.samples_per_frame, static_cast<double>(frame_ns_) / 1e6);
  if (tls_) {
    std::printf("  tls           %s; %s\n", tls_session_.empty() ? "no session" : tls_session_.c_str(),
                tls_->description().c_str());
  }
  std::printf("  listeners     %u connected in %.2f s, %" PRIu64 " failed to connect%s%s\n", opt_.listeners -
              static_cast<unsigned>(listener_failures_), listeners_connect_s_, listener_failures_,
              listener_failures_ ? ": " : "", first_failure_.c_str());
  std::printf("  frames        delivered %" PRIu64 " / expected %" PRIu64 " (%.4f %%), missing %" PRIu64
              " (listeners with loss %" PRIu64 ", gap runs %" PRIu64 "), out of order %" PRIu64 "\n",
              delivered, expected, expected ? 100.0 * static_cast<double>(delivered) / static_cast<double>(expected) : 0.0,
              missing, lossy, gap_runs, out_of_order_);
  std::printf("  latency ms    p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f  (n %" PRIu64
              "%s; capture to arrival at the listener's socket%s)\n",
              hist_.percentile_ms(0.50), hist_.percentile_ms(0.90), hist_.percentile_ms(0.99),
              hist_.percentile_ms(0.999), hist_.max_ms(), hist_.mean_ms(), hist_.count(),
              hist_.negative() ? (", " + std::to_string(hist_.negative()) + " negative counted as 0").c_str() : "",
              no_rx_timestamp_ ? (", " + std::to_string(no_rx_timestamp_) + " without a kernel timestamp: read time")
                                     .c_str()
                               : "");
  if (khist_.count() > 0) {
    std::printf("  read ms       p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  (the same frames, to when the "
                "loadgen read them: adds its own delay%s)\n",
                khist_.percentile_ms(0.50), khist_.percentile_ms(0.90), khist_.percentile_ms(0.99),
                khist_.percentile_ms(0.999), khist_.max_ms(), opt_.poll_ms > 0 ? " and the poll interval" : "");
  }
  if (opt_.server_pid > 0) {
    const double cpu = server_cpu_start_ >= 0 && server_cpu_end_ >= 0 && measured > 0
                           ? 100.0 * (server_cpu_end_ - server_cpu_start_) / measured
                           : -1;
    if (cpu >= 0) {
      std::printf("  server pid %d CPU %.1f %% of one core, peak memory (VmHWM) %.1f MiB, RSS at end %.1f MiB\n",
                  opt_.server_pid, cpu, static_cast<double>(server_hwm_kb_) / 1024.0,
                  static_cast<double>(server_rss_kb_) / 1024.0);
    } else {
      std::printf("  server pid %d: could not read /proc/%d (did it exit?)\n", opt_.server_pid, opt_.server_pid);
    }
  } else {
    std::printf("  server        CPU and memory not measured (give --server-pid)\n");
  }
  const double self_cpu = measured > 0 ? 100.0 * (self_cpu_end_ - self_cpu_start_) / measured : 0.0;
  std::printf("  loadgen       CPU %.1f %% of one core; device frames sent > 1 ms late %" PRIu64
              " (max %.2f ms), device send backlog max %zu bytes\n",
              self_cpu, late_sends_, static_cast<double>(max_send_late_ns_) / 1e6, max_backlog_);
  std::printf("                event loop (%s): %" PRIu64 " wake-ups with events, %.1f events each, longest %.2f ms of work\n",
              opt_.poll_ms > 0 ? ("polled every " + std::to_string(opt_.poll_ms).substr(0, 4) + " ms").c_str()
                               : "woken by every arrival",
              wakeups_,
              wakeups_ ? static_cast<double>(wake_events_) / static_cast<double>(wakeups_) : 0.0,
              static_cast<double>(max_batch_ns_) / 1e6);
  {
    const double others = measured > 0 ? 100.0 * cpu_used_between(others_start_, others_end_) / measured : 0.0;
    const double pressure = pressure_start_ >= 0 && pressure_end_ >= 0 && measured > 0
                                ? 100.0 * (pressure_end_ - pressure_start_) / 1e6 / measured
                                : -1;
    std::printf("  machine       %ld cores; other processes used %.1f %% of one core", sysconf(_SC_NPROCESSORS_ONLN),
                others);
    if (pressure >= 0) std::printf("; some task waited for a CPU %.1f %% of the time", pressure);
    // Alone, the server and the loadgen make some 2-20 % of pressure on 2 cores.
    std::printf("%s\n", others > 10.0 || pressure > 35.0
                             ? " (other work competed for the CPU: the figures are pessimistic)"
                             : "");
  }
  std::printf("  skipped       %" PRIu64 " messages (%" PRIu64 " in the window), %" PRIu64 " frames\n", skipped_msgs_,
              skipped_msgs_window_, skipped_frames_);
  std::printf("  disconnects   listeners %" PRIu64 " (%" PRIu64 " in the window), devices %u\n",
              listener_disconnects_, listener_disconnects_window_, device_disconnects_);
  for (const auto& [why, count] : disconnect_reasons_) {
    std::printf("                %" PRIu64 " x %s\n", count, why.c_str());
  }
  std::printf("  other         %" PRIu64 " text messages, %" PRIu64 " error messages, %" PRIu64
              " non-audio binary, %" PRIu64 " invalid audio; %" PRIu64 " PONGs: |clock offset| max %" PRId64
              " us, round trip max %" PRId64 " us\n",
              text_msgs_, error_msgs_, other_binary_, invalid_audio_, pongs_, max_abs_offset_us_, max_rtt_us_);
  std::fflush(stdout);
}

void Loadgen::write_csv(const std::string& path) const {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) die("cannot write %s: %s", path.c_str(), std::strerror(errno));
  const auto width_us = static_cast<std::int64_t>(std::llround(opt_.csv_bucket_ms * 1000.0));
  const auto buckets = hist_.coarse(width_us);
  std::fprintf(f, "latency_ms,count,fraction_slower\n");
  std::uint64_t cum = 0;
  for (const auto& [lo, c] : buckets) {
    cum += c;
    std::fprintf(f, "%.3f,%" PRIu64 ",%.9g\n", static_cast<double>(lo) / 1000.0, c,
                 static_cast<double>(hist_.count() - cum) / static_cast<double>(hist_.count()));
  }
  if (std::fclose(f) != 0) die("writing %s failed", path.c_str());
  note("wrote %s (%zu buckets of %.3f ms)", path.c_str(), buckets.size(), static_cast<double>(width_us) / 1000.0);
}

void Loadgen::draw_plot(const std::string& path) const {
  if (hist_.count() == 0) {
    note("no latency samples: not drawing %s", path.c_str());
    return;
  }
  // Bucket width for the picture: about 200 bars across the range.
  const double max_ms = hist_.max_ms();
  double width_ms = 0.01;
  for (double w : {0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0}) {
    width_ms = w;
    if (max_ms / w <= 300) break;
  }
  const auto width_us = static_cast<std::int64_t>(std::llround(width_ms * 1000.0));
  const std::int64_t upto = std::max(hist_.max_us(), khist_.max_us());
  const auto buckets = hist_.coarse(width_us, upto);
  const auto kbuckets = khist_.coarse(width_us, upto);

  std::string script;
  char line[512];
  std::snprintf(line, sizeof line, "set terminal pngcairo size 1100,800 font 'sans,10'\nset output '%s'\n",
                path.c_str());
  script += line;
  std::snprintf(line, sizeof line,
                "set multiplot layout 2,1 title \"micstream relay: %u devices, %u listeners, %.0f s: p50 %.2f ms, "
                "p99 %.2f ms, max %.2f ms (%llu frames)\" font 'sans,12'\n",
                opt_.devices, opt_.listeners, opt_.seconds, hist_.percentile_ms(0.5), hist_.percentile_ms(0.99),
                max_ms, static_cast<unsigned long long>(hist_.count()));
  script += line;
  // columns: bucket centre ms, frames, fraction slower (arrival at the socket), fraction slower (read by the loadgen)
  script += "$data << EOD\n";
  std::uint64_t cum = 0, kcum = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    cum += buckets[i].second;
    if (i < kbuckets.size()) kcum += kbuckets[i].second;
    const double slower = static_cast<double>(hist_.count() - cum) / static_cast<double>(hist_.count());
    const double kslower =
        khist_.count() ? static_cast<double>(khist_.count() - kcum) / static_cast<double>(khist_.count()) : 0.0;
    std::snprintf(line, sizeof line, "%.4f %llu %.9g %.9g\n",
                  static_cast<double>(buckets[i].first) / 1000.0 + width_ms / 2,
                  static_cast<unsigned long long>(buckets[i].second), slower, kslower);
    script += line;
  }
  script += "EOD\n";
  std::snprintf(line, sizeof line,
                "set xrange [0:%g]\nset grid\nset logscale y\nset style fill solid 0.7 noborder\n"
                "set arrow 1 from %g, graph 0 to %g, graph 1 nohead dt 2 lc rgb 'dark-green'\n"
                "set arrow 2 from %g, graph 0 to %g, graph 1 nohead dt 2 lc rgb 'red'\n",
                static_cast<double>(upto) / 1000.0 + width_ms, hist_.percentile_ms(0.5), hist_.percentile_ms(0.5),
                hist_.percentile_ms(0.99), hist_.percentile_ms(0.99));
  script += line;
  std::snprintf(line, sizeof line,
                "set ylabel 'frames per %g ms bucket'\nset xlabel 'delivery latency, capture to listener (ms)'\n"
                "plot $data using 1:2:(%g) with boxes lc rgb 'steelblue' title 'frames', "
                "NaN dt 2 lc rgb 'dark-green' title 'p50', NaN dt 2 lc rgb 'red' title 'p99'\n",
                width_ms, width_ms);
  script += line;
  const std::string half = std::to_string(width_ms / 2);
  script += "set ylabel 'fraction of frames slower'\nset format y '10^{%L}'\n"
            "plot $data using ($1+" + half + "):($3 > 0 ? $3 : NaN) with steps lw 2 lc rgb 'black' "
            "title 'arrival at the listener socket (1 - CDF)'";
  if (khist_.count() > 0) {
    script += ", $data using ($1+" + half + "):($4 > 0 ? $4 : NaN) with steps lw 1 lc rgb 'orange' "
              "title 'read by the loadgen'";
  }
  script += "\nunset multiplot\n";

  std::FILE* g = popen("gnuplot", "w");
  if (!g) die("cannot run gnuplot: %s", std::strerror(errno));
  std::fwrite(script.data(), 1, script.size(), g);
  const int status = pclose(g);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) die("gnuplot not found (apt-get install gnuplot-nox)");
    die("gnuplot failed drawing %s (status %d)", path.c_str(), status);
  }
  note("wrote %s", path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "micstream-loadgen: D virtual devices stream PCM audio at real-time pace into a running micstream-server, "
      "L WebSocket listeners (listener i hears device i % D) measure delivery, loss and capture-to-listener "
      "latency. bench/run-load.sh starts a server and runs this against it."};
  app.add_option("--host", o.host, "server address")->capture_default_str();
  app.add_option("--http-port", o.http_port, "HTTP/WebSocket port (or --ports-file)")->check(CLI::Range(1, 65535));
  app.add_option("--ingest-port", o.ingest_port, "device ingest port (or --ports-file)")->check(CLI::Range(1, 65535));
  app.add_option("--ports-file", o.ports_file,
                 "JSON {\"http\":N,\"ingest\":M} written by micstream-server --ports-file; explicit ports win");
  app.add_option("-d,--devices", o.devices, "virtual devices (D)")->capture_default_str()->check(CLI::Range(1u, 100000u));
  app.add_option("-l,--listeners", o.listeners, "WebSocket listeners (L), spread evenly over the devices")
      ->capture_default_str();
  app.add_option("-s,--seconds", o.seconds, "measured duration")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup-seconds", o.warmup_seconds, "warm-up after every listener connected, not counted")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--drain-seconds", o.drain_seconds,
                 "after the window, at most this long to wait for frames sent in it")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--server-pid", o.server_pid, "measure this process's CPU share and peak memory (/proc)");
  app.add_option("--latency-csv", o.latency_csv, "write the latency histogram (bucket ms, count, fraction slower)");
  app.add_option("--csv-bucket-ms", o.csv_bucket_ms, "bucket width of --latency-csv")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 1000.0));
  app.add_option("--plot", o.plot, "draw the latency distribution into this PNG with gnuplot");
  app.add_option("--device-prefix", o.device_prefix, "device ids are <prefix><index>")->capture_default_str();
  app.add_option("--secret", o.secret, "device secret for the HELLO proof")->capture_default_str();
  app.add_option("--codec", o.codec_name, "pcm16, mulaw or ima-adpcm")->capture_default_str();
  app.add_option("--sample-rate", o.sample_rate, "Hz")->capture_default_str()->check(CLI::Range(8000u, 48000u));
  app.add_option("--samples-per-frame", o.samples_per_frame, "samples a frame")
      ->capture_default_str()
      ->check(CLI::Range(1u, 8180u));
  app.add_option("--connect-concurrency", o.connect_concurrency, "listener handshakes in flight at once")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100000u));
  app.add_option("--connect-timeout", o.connect_timeout, "seconds for a connection and its handshake")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--ping-interval", o.ping_interval, "seconds between a device's PINGs (the first follows HELLO)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--poll-ms", o.poll_ms,
                 "0: wake on every arriving message; N: collect arrivals every N ms (fewer wake-ups, for many "
                 "listeners; latency stays exact through the kernel receive timestamps); default 0 below 2000 "
                 "listeners, else 1")
      ->check(CLI::Range(0.0, 20.0));
  auto* tls = app.add_flag("--tls", o.tls,
                           "listeners open wss:// (the server's HTTP port with --tls-dir or --tls-cert); give --ca "
                           "or --tls-no-verify");
  auto* ca = app.add_option("--ca", o.ca_file,
                            "with --tls: verify the server's certificate against this CA (PEM; the server's "
                            "<--tls-dir>/ca.pem) and --host")
                 ->check(CLI::ExistingFile)
                 ->needs(tls);
  app.add_flag("--tls-no-verify", o.tls_no_verify, "with --tls: do not verify the server's certificate")
      ->needs(tls)
      ->excludes(ca);
  CLI11_PARSE(app, argc, argv);
  if (o.tls && o.ca_file.empty() && !o.tls_no_verify) die("--tls needs --ca FILE or, to skip the check, --tls-no-verify");
  if (o.poll_ms < 0) o.poll_ms = o.listeners >= 2000 ? 1.0 : 0.0;

  if (!micstream::codec_from_name(o.codec_name, o.codec)) die("unknown codec \"%s\"", o.codec_name.c_str());
  if (micstream::encoded_size(o.codec, 1, o.samples_per_frame) + proto::kAudioHeaderSize > proto::kMaxPayload) {
    die("%u samples of %s do not fit one frame", o.samples_per_frame, o.codec_name.c_str());
  }
  if (!o.ports_file.empty()) {
    std::ifstream in(o.ports_file);
    if (!in) die("cannot read the ports file %s", o.ports_file.c_str());
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("http") || !j.contains("ingest")) {
      die("%s is not {\"http\":N,\"ingest\":M}", o.ports_file.c_str());
    }
    if (o.http_port == 0) o.http_port = j["http"].get<int>();
    if (o.ingest_port == 0) o.ingest_port = j["ingest"].get<int>();
  }
  if (o.http_port <= 0 || o.ingest_port <= 0) die("give --http-port and --ingest-port, or --ports-file");

  // One descriptor a connection: raise the soft limit to the hard one.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  const rlim_t need = static_cast<rlim_t>(o.devices) + o.listeners + 64;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur < need) {
    die("the open-file limit is %llu (hard %llu) but %u devices + %u listeners need about %llu descriptors; raise the "
        "hard limit (ulimit -Hn, /etc/security/limits.conf, or LimitNOFILE=)",
        static_cast<unsigned long long>(rl.rlim_cur), static_cast<unsigned long long>(rl.rlim_max), o.devices,
        o.listeners, static_cast<unsigned long long>(need));
  }

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Loadgen lg(o);
  return lg.run();
}
