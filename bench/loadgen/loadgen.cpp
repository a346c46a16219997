#include "loadgen.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include "device_sim.h"
#include "net.h"
#include "phase.h"
#include "process_stats.h"
#include "report.h"
#include "tls_client.h"
#include "util.h"
#include "ws_listeners.h"

namespace micstream::loadgen {

namespace {

class Loadgen {
 public:
  explicit Loadgen(const Options& o);

  int run();

 private:
  void tick(std::int64_t now);
  void begin_warmup(std::int64_t now);
  void end_measure(std::int64_t now);
  [[nodiscard]] bool drained() const;
  void report() const;

  // In this order: each may die, and the messages come in the order the
  // checks were always made (addresses, TLS, epoll, device ids).
  const Options& opt_;
  Endpoint ingest_;
  Endpoint http_;
  std::unique_ptr<TlsClient> tls_;  // --tls
  Poller poller_;
  Timeline timeline_;
  DeviceSimulator devices_;
  WsListeners listeners_;

  std::int64_t phase_started_ns_ = 0;
  std::int64_t devices_deadline_ns_ = 0;
  std::int64_t drain_deadline_ns_ = 0;
  std::int64_t next_check_ns_ = 0;
  double listeners_connect_s_ = 0;
  WindowUsage usage_;
  LoopStats loop_;
  bool interrupted_ = false;
};

Loadgen::Loadgen(const Options& o)
    : opt_(o),
      ingest_(resolve(o.host, o.ingest_port)),
      http_(resolve(o.host, o.http_port)),
      tls_(o.tls ? std::make_unique<TlsClient>(o) : nullptr),
      devices_(o, ingest_, poller_, timeline_),
      listeners_(o, http_, tls_.get(), poller_, timeline_, devices_) {}

void Loadgen::begin_warmup(std::int64_t now) {
  listeners_connect_s_ = static_cast<double>(now - phase_started_ns_) / 1e9;
  note("%u of %u listeners connected in %.2f s (%" PRIu64 " failed); warm-up %.1f s, then %.1f s measured",
       listeners_.open(), opt_.listeners, listeners_connect_s_, listeners_.stats().failures, opt_.warmup_seconds,
       opt_.seconds);
  timeline_.phase = Phase::warmup;
  timeline_.measure_start_ns = now + static_cast<std::int64_t>(opt_.warmup_seconds * 1e9);
  timeline_.measure_end_ns = timeline_.measure_start_ns + static_cast<std::int64_t>(opt_.seconds * 1e9);
}

void Loadgen::end_measure(std::int64_t now) {
  usage_.end_ns = now;
  usage_.self_cpu_end = self_cpu_seconds();
  usage_.pressure_end = cpu_pressure_us();
  usage_.others_end = other_processes_cpu(getpid(), opt_.server_pid);
  if (opt_.server_pid > 0) {
    usage_.server_cpu_end = proc_cpu_seconds(opt_.server_pid);
    usage_.server_hwm_kb = proc_status_kb(opt_.server_pid, "VmHWM");
    usage_.server_rss_kb = proc_status_kb(opt_.server_pid, "VmRSS");
  }
  timeline_.measure_end_ns = std::min(timeline_.measure_end_ns, now);
  devices_.close_windows();
  timeline_.phase = Phase::drain;
  drain_deadline_ns_ = now + static_cast<std::int64_t>(opt_.drain_seconds * 1e9);
}

bool Loadgen::drained() const { return devices_.windows_closed() && listeners_.caught_up(); }

void Loadgen::tick(std::int64_t now) {
  if (interrupted() && !interrupted_) {
    interrupted_ = true;
    note("interrupted");
    if (timeline_.phase == Phase::measure) {
      end_measure(now);
      drain_deadline_ns_ = now;
    } else if (timeline_.phase != Phase::drain) {
      die("interrupted before the measured window");
    }
  }
  switch (timeline_.phase) {
    case Phase::connect_devices:
      if (devices_.streaming() == devices_.size()) {
        timeline_.phase = Phase::connect_listeners;
        phase_started_ns_ = now;
        next_check_ns_ = now + 2'000'000'000;
        devices_.start_streaming(now);
        note("%zu devices streaming to %s; connecting %u listeners to %s://%s/ws", devices_.size(),
             ingest_.text.c_str(), opt_.listeners, listeners_.scheme(), http_.text.c_str());
      } else if (now > devices_deadline_ns_) {
        die("only %u of %zu devices got WELCOME from %s within %.1f s", devices_.streaming(), devices_.size(),
            ingest_.text.c_str(), opt_.connect_timeout);
      }
      break;
    case Phase::connect_listeners: {
      listeners_.connect_more(now);
      if (listeners_.connecting_done()) {
        begin_warmup(now);
      } else if (now >= next_check_ns_) {
        if (next_check_ns_ != 0) {
          note("connecting: %.1f s, %u open, %u handshakes in flight, %" PRIu64 " failed, %" PRIu64 " disconnected",
               static_cast<double>(now - phase_started_ns_) / 1e9, listeners_.open(), listeners_.in_flight(),
               listeners_.stats().failures, listeners_.stats().disconnects);
        }
        next_check_ns_ = now + 2'000'000'000;
      }
      break;
    }
    case Phase::warmup:
      if (now >= timeline_.measure_start_ns) {
        timeline_.phase = Phase::measure;
        usage_.start_ns = now;
        usage_.self_cpu_start = self_cpu_seconds();
        usage_.others_start = other_processes_cpu(getpid(), opt_.server_pid);
        usage_.pressure_start = cpu_pressure_us();
        if (opt_.server_pid > 0) usage_.server_cpu_start = proc_cpu_seconds(opt_.server_pid);
      }
      break;
    case Phase::measure:
      if (now >= timeline_.measure_end_ns) end_measure(now);
      break;
    case Phase::drain:
      if (now >= next_check_ns_) {
        next_check_ns_ = now + 10'000'000;
        if (drained() || now >= drain_deadline_ns_) timeline_.phase = Phase::done;
      }
      break;
    case Phase::done:
      break;
  }
}

// With many listeners (--poll-ms, automatic from 2000) the loop sleeps to a
// 1 ms tick and collects everything that arrived, instead of waking for each
// message. Each message still costs a recvmsg() and, on loopback, the ACK it
// triggers, processed for the server's socket in our context: about 5 us of
// CPU a message on a small VM, so 10 devices x 1000 listeners (50,000
// messages a second) cost this process about a quarter of a core.
int Loadgen::run() {
  const std::int64_t t_start = mono_ns();
  devices_deadline_ns_ = t_start + static_cast<std::int64_t>(opt_.connect_timeout * 1e9);
  devices_.connect_all();

  std::vector<epoll_event> events(1024);
  const auto poll_ns = static_cast<std::int64_t>(opt_.poll_ms * 1e6);
  bool more = false;  // the last poll filled the event array: poll again at once
  while (timeline_.phase != Phase::done) {
    std::int64_t now = mono_ns();
    devices_.service(now);
    tick(now);
    if (timeline_.phase == Phase::done) break;

    // Sleep until the next frame is due (ns precision), or a phase check.
    std::int64_t wake = devices_.next_due(now + 10'000'000);
    if (timeline_.phase == Phase::warmup) wake = std::min(wake, timeline_.measure_start_ns);
    if (timeline_.phase == Phase::measure) wake = std::min(wake, timeline_.measure_end_ns);
    if (timeline_.phase == Phase::connect_listeners && listeners_.can_connect_more()) wake = now;
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
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR && !interrupted()) {
        }
      }
      n = epoll_wait(poller_.fd(), events.data(), static_cast<int>(events.size()), 0);
    } else {
      const std::int64_t wait = std::max<std::int64_t>(0, wake - now);
      timespec ts{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
      n = epoll_pwait2(poller_.fd(), events.data(), static_cast<int>(events.size()), &ts, nullptr);
    }
    more = n == static_cast<int>(events.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_pwait2: %s", std::strerror(errno));
    }
    const std::int64_t woke = n > 0 ? mono_ns() : 0;
    for (int k = 0; k < n; ++k) {
      const std::uint64_t tag = events[k].data.u64;
      const auto idx = static_cast<std::uint32_t>(tag & Poller::kIndexMask);
      if ((tag & ~Poller::kIndexMask) == Poller::kDevice) {
        devices_.on_event(idx, events[k].events);
      } else {
        listeners_.on_event(idx, events[k].events);
      }
      // Keep the devices on time even when a wake-up brings many events.
      if ((k & 63) == 63) devices_.service(mono_ns());
    }
    if (n > 0 && timeline_.phase == Phase::measure) {
      loop_.max_batch_ns = std::max(loop_.max_batch_ns, mono_ns() - woke);
      ++loop_.wakeups;
      loop_.wake_events += static_cast<std::uint64_t>(n);
    }
  }

  report();
  if (!opt_.latency_csv.empty()) write_latency_csv(opt_.latency_csv, opt_, listeners_.stats());
  if (!opt_.plot.empty()) draw_latency_plot(opt_.plot, opt_, listeners_.stats());
  return 0;
}

void Loadgen::report() const {
  print_report(Results{.options = opt_,
                       .ingest = ingest_,
                       .http = http_,
                       .scheme = listeners_.scheme(),
                       .frame_ns = devices_.frame_ns(),
                       .tls = tls_.get(),
                       .tls_session = listeners_.tls_session(),
                       .listeners_connect_s = listeners_connect_s_,
                       .usage = usage_,
                       .loop = loop_,
                       .delivery = listeners_.delivery(),
                       .devices = devices_.stats(),
                       .listeners = listeners_.stats()});
}

}  // namespace

int run(const Options& o) {
  Loadgen lg(o);
  return lg.run();
}

}  // namespace micstream::loadgen
