// The report: what one run measured, printed to stdout at the end (the only
// thing the loadgen writes there; bench/run-load.sh parses its lines, so keep
// their wording), and the latency histogram as CSV and as a gnuplot picture.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "device_sim.h"
#include "net.h"
#include "options.h"
#include "ws_listeners.h"

namespace micstream::loadgen {

class TlsClient;

/// Snapshots at the start and the end of the measured window.
struct WindowUsage {
  std::int64_t start_ns = 0, end_ns = 0;  // steady clock
  double server_cpu_start = -1, server_cpu_end = -1;
  double self_cpu_start = 0, self_cpu_end = 0;
  std::map<int, double> others_start, others_end;
  double pressure_start = -1, pressure_end = -1;
  long server_hwm_kb = -1, server_rss_kb = -1;
};

/// The event loop in the window: how long one wake-up's work took (a busy
/// loadgen delays its reads).
struct LoopStats {
  std::int64_t max_batch_ns = 0;
  std::uint64_t wakeups = 0, wake_events = 0;
};

struct Results {
  const Options& options;
  const Endpoint& ingest;
  const Endpoint& http;
  const char* scheme;
  std::int64_t frame_ns;
  const TlsClient* tls;  // null without --tls
  const std::string& tls_session;
  double listeners_connect_s;
  const WindowUsage& usage;
  const LoopStats& loop;
  Delivery delivery;
  const DeviceStats& devices;
  const ListenerStats& listeners;
};

void print_report(const Results& r);

/// --latency-csv: latency_ms,count,fraction_slower in --csv-bucket-ms buckets.
void write_latency_csv(const std::string& path, const Options& o, const ListenerStats& ls);

/// --plot: the distribution and 1 - CDF of both latencies, drawn by gnuplot.
void draw_latency_plot(const std::string& path, const Options& o, const ListenerStats& ls);

}  // namespace micstream::loadgen
