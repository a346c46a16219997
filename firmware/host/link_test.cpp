// The firmware's network ports, compiled for Linux and run against the real
// micstream-server: main/socket_transport.cpp (non-blocking connect, full
// sends, receive), main/server_locator.cpp (DNS, and mDNS discovery through
// the stand-in mdns.h below), main/tls_transport.cpp (TLS-PSK with Mbed TLS)
// and main/hmac_sha256_mbedtls.cpp (Mbed TLS), with
// core's FrameQueue, Capture and Sender on std::thread ports. A tone is
// "captured" in real time in 10 ms blocks, as the ESP32's DMA delivers it.
// run-link-test.sh drives it; it exits 0 when the server accepted the link
// and frames were sent.
//
//   link_test --id ID --secret S --seconds N (--host H --port P | --discover P) [--link tls|plain]
// (tls by default, as the firmware's CONFIG_MICSTREAM_LINK_TLS).
#include <time.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "esp_timer.h"
#include "hmac_sha256_mbedtls.h"
#include "mdns.h"
#include "micstream/pipeline/capture.h"
#include "micstream/pipeline/frame_queue.h"
#include "micstream/pipeline/sender.h"
#include "server_locator.h"
#include "socket_transport.h"
#include "tls_transport.h"

namespace {

using namespace micstream;

// mDNS stand-in: answers _micstream._tcp with 127.0.0.1 and the given
// ports, one answer each, in that order.
std::vector<std::uint16_t> g_mdns_ports;

struct StdMutex final : pipeline::Mutex {
  void lock() override { m.lock(); }
  void unlock() override { m.unlock(); }
  std::mutex m;
};

struct StdSignal final : pipeline::Signal {
  void notify() override {
    {
      std::lock_guard<std::mutex> lock(m);
      flag = true;
    }
    cv.notify_one();
  }
  void wait_ms(std::uint32_t ms) override {
    std::unique_lock<std::mutex> lock(m);
    cv.wait_for(lock, std::chrono::milliseconds(ms), [this] { return flag; });
    flag = false;
  }
  std::mutex m;
  std::condition_variable cv;
  bool flag = false;
};

struct SteadyClock final : pipeline::Clock {
  std::uint64_t now_us() override { return static_cast<std::uint64_t>(esp_timer_get_time()); }
  void sleep_ms(std::uint32_t ms) override { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }
};

struct DeviceRandom final : pipeline::Random {
  std::uint32_t next() override { return rd(); }
  std::random_device rd;
};

// Tells the locator how links end, as the firmware's StreamObserver does.
struct CountingObserver final : pipeline::SenderObserver {
  explicit CountingObserver(const firmware::ServerLocator& l) : locator(l) {}
  void on_connected(std::uint32_t reconnects) override {
    locator.link_accepted();
    ++accepted;
    std::fprintf(stderr, "link_test: server accepted the link (reconnects %u)\n", reconnects);
  }
  void on_disconnected(const char* reason, std::uint32_t retry_in_ms) override {
    locator.link_ended();
    std::fprintf(stderr, "link_test: disconnected: %s; retry in %u ms\n", reason, retry_in_ms);
  }
  void on_server_error(const proto::ErrorMessage& error) override {
    last_error = error.code;
    std::fprintf(stderr, "link_test: server ERROR %s\n", error_name(error.code));
  }
  const firmware::ServerLocator& locator;
  std::atomic<int> accepted{0};
  std::atomic<Errc> last_error{Errc::ok};
};

std::vector<std::uint16_t> parse_ports(const std::string& list) {
  std::vector<std::uint16_t> ports;
  std::stringstream in(list);
  for (std::string port; std::getline(in, port, ',');) ports.push_back(static_cast<std::uint16_t>(std::stoi(port)));
  return ports;
}

}  // namespace

esp_err_t mdns_init() { return ESP_OK; }
esp_err_t mdns_hostname_set(const char*) { return ESP_OK; }
esp_err_t mdns_query_a(const char*, std::uint32_t, esp_ip4_addr_t*) { return ESP_ERR_NOT_FOUND; }
esp_err_t mdns_query_ptr(const char* service, const char* proto, std::uint32_t, std::size_t max_results,
                         mdns_result_t** results) {
  *results = nullptr;
  if (g_mdns_ports.empty() || std::strcmp(service, "_micstream") != 0 || std::strcmp(proto, "_tcp") != 0) {
    return ESP_ERR_NOT_FOUND;
  }
  mdns_result_t** tail = results;
  for (std::size_t i = 0; i < g_mdns_ports.size() && i < max_results; ++i) {
    auto* r = new mdns_result_t{};
    r->instance_name = const_cast<char*>("micstream on localhost");
    r->port = g_mdns_ports[i];
    r->txt = new mdns_txt_item_t[2]{{"protocol", "1"}, {"http", "2000"}};
    r->txt_count = 2;
    r->addr = new mdns_ip_addr_t{};
    r->addr->addr.type = ESP_IPADDR_TYPE_V4;
    r->addr->addr.u_addr.ip4.addr = htonl(INADDR_LOOPBACK);
    *tail = r;
    tail = &r->next;
  }
  return ESP_OK;
}
void mdns_query_results_free(mdns_result_t* r) {
  while (r != nullptr) {
    mdns_result_t* next = r->next;
    delete[] r->txt;
    delete r->addr;
    delete r;
    r = next;
  }
}

int main(int argc, char** argv) {
  // lwIP raises no SIGPIPE: a send to a peer that has gone fails with EPIPE,
  // which the transport reports. On Linux the same needs SIGPIPE ignored
  // (without it, a server that stops mid-send killed this test now and then).
  std::signal(SIGPIPE, SIG_IGN);
  std::string id = "host-test", secret, host, link = "tls";
  unsigned port = 2001, seconds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const char* value = argv[i + 1];
    if (key == "--id")
      id = value;
    else if (key == "--secret")
      secret = value;
    else if (key == "--host")
      host = value;
    else if (key == "--port")
      port = static_cast<unsigned>(std::atoi(value));
    else if (key == "--discover")  // P or P1,P2,...: the mDNS answers
      g_mdns_ports = parse_ports(value);
    else if (key == "--link")
      link = value;
    else if (key == "--seconds")
      seconds = static_cast<unsigned>(std::atoi(value));
  }
  if (!firmware::hmac_sha256_self_test()) {
    std::fprintf(stderr, "link_test: HMAC self-test failed\n");
    return 1;
  }

  constexpr std::uint32_t kRate = 16000;
  constexpr std::uint16_t kFrame = 320;
  constexpr std::size_t kSlots = 27;
  std::vector<std::int16_t> pcm(kSlots * kFrame);
  std::vector<pipeline::AudioFrame> slots(kSlots);
  for (std::size_t i = 0; i < kSlots; ++i) slots[i].pcm = std::span(pcm).subspan(i * kFrame, kFrame);
  StdMutex mutex;
  StdSignal signal;
  SteadyClock clock;
  DeviceRandom random;
  pipeline::FrameQueue queue(slots, mutex, signal);
  pipeline::Capture capture(pipeline::CaptureConfig{}, queue);

  firmware::ServerLocator locator(host.c_str(), static_cast<std::uint16_t>(port), 2000, 500);
  if (locator.start(id.c_str()) != ESP_OK) return 1;
  CountingObserver observer(locator);
  firmware::SocketTransport socket(locator, firmware::TransportOptions{});
  pipeline::SenderConfig config;
  (void)config.device_id.assign(id);
  config.secret = {reinterpret_cast<const std::uint8_t*>(secret.data()), secret.size()};
  config.tls = link == "tls";
  firmware::TlsTransport tls(socket, clock, id, config.secret);
  pipeline::Transport& transport = config.tls ? static_cast<pipeline::Transport&>(tls) : socket;
  std::fprintf(stderr, "link_test: %s link\n", config.tls ? "TLS" : "plain");
  (void)config.firmware_version.assign("host-link-test");
  config.backoff.initial_ms = 200;
  config.backoff.max_ms = 1000;
  std::vector<std::uint8_t> tx(pipeline::sender_buffer_size(1, kFrame));
  pipeline::Sender sender(config, queue, capture, {transport, clock, random, observer}, tx);
  if (sender.check() != Errc::ok) {
    std::fprintf(stderr, "link_test: bad sender configuration\n");
    return 1;
  }

  // 10 ms DMA blocks of a 440 Hz tone, on an absolute schedule.
  std::atomic<bool> running{true};
  std::thread capture_thread([&] {
    std::int16_t block[160];
    std::uint64_t n = 0;
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t b = 1; running; ++b) {
      std::this_thread::sleep_until(start + std::chrono::milliseconds(10 * b));
      for (auto& s : block) s = static_cast<std::int16_t>(8000 * std::sin(2 * M_PI * 440.0 * n++ / kRate));
      capture.push_pcm16(block, clock.now_us());
    }
  });
  const std::uint64_t end_us = clock.now_us() + std::uint64_t{seconds} * 1000000;
  while (clock.now_us() < end_us) sender.run_once();
  running = false;
  capture_thread.join();
  sender.stop();

  std::printf("link_test: accepted %d, frames captured %llu, sent %llu, dropped %llu, reconnects %u, last error %s\n",
              observer.accepted.load(), static_cast<unsigned long long>(queue.committed()),
              static_cast<unsigned long long>(sender.frames_sent()), static_cast<unsigned long long>(queue.dropped()),
              sender.reconnects(), error_name(observer.last_error.load()));
  return observer.accepted > 0 && sender.frames_sent() > 0 ? 0 : 2;
}
