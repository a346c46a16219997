#include "report.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "micstream/codec.h"
#include "process_stats.h"
#include "tls_client.h"
#include "util.h"

namespace micstream::loadgen {

void print_report(const Results& r) {
  const Options& o = r.options;
  const WindowUsage& u = r.usage;
  const DeviceStats& ds = r.devices;
  const ListenerStats& ls = r.listeners;
  const std::uint64_t expected = r.delivery.expected, delivered = r.delivery.delivered;
  const std::uint64_t lossy = r.delivery.lossy, gap_runs = r.delivery.gap_runs;
  const double measured = static_cast<double>(u.end_ns - u.start_ns) / 1e9;
  const std::uint64_t missing = expected > delivered ? expected - delivered : 0;

  std::printf("micstream-loadgen: %u devices, %u listeners, %.1f s measured (after %.1f s warm-up)\n", o.devices,
              o.listeners, measured, o.warmup_seconds);
  std::printf("  server        ingest %s, %s://%s/ws; %s mono %u Hz, %u samples (%.1f ms) a frame\n",
              r.ingest.text.c_str(), r.scheme, r.http.text.c_str(), micstream::codec_name(o.codec), o.sample_rate,
              o.samples_per_frame, static_cast<double>(r.frame_ns) / 1e6);
  if (r.tls) {
    std::printf("  tls           %s; %s\n", r.tls_session.empty() ? "no session" : r.tls_session.c_str(),
                r.tls->description().c_str());
  }
  std::printf("  listeners     %u connected in %.2f s, %" PRIu64 " failed to connect%s%s\n", o.listeners -
              static_cast<unsigned>(ls.failures), r.listeners_connect_s, ls.failures,
              ls.failures ? ": " : "", ls.first_failure.c_str());
  std::printf("  frames        delivered %" PRIu64 " / expected %" PRIu64 " (%.4f %%), missing %" PRIu64
              " (listeners with loss %" PRIu64 ", gap runs %" PRIu64 "), out of order %" PRIu64 "\n",
              delivered, expected,
              expected ? 100.0 * static_cast<double>(delivered) / static_cast<double>(expected) : 0.0, missing,
              lossy, gap_runs, ls.out_of_order);
  std::printf("  latency ms    p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f  (n %" PRIu64
              "%s; capture to arrival at the listener's socket%s)\n",
              ls.arrival.percentile_ms(0.50), ls.arrival.percentile_ms(0.90), ls.arrival.percentile_ms(0.99),
              ls.arrival.percentile_ms(0.999), ls.arrival.max_ms(), ls.arrival.mean_ms(), ls.arrival.count(),
              ls.arrival.negative() ? (", " + std::to_string(ls.arrival.negative()) + " negative counted as 0").c_str()
                                    : "",
              ls.no_rx_timestamp
                  ? (", " + std::to_string(ls.no_rx_timestamp) + " without a kernel timestamp: read time").c_str()
                  : "");
  if (ls.read.count() > 0) {
    std::printf("  read ms       p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  (the same frames, to when the "
                "loadgen read them: adds its own delay%s)\n",
                ls.read.percentile_ms(0.50), ls.read.percentile_ms(0.90), ls.read.percentile_ms(0.99),
                ls.read.percentile_ms(0.999), ls.read.max_ms(), o.poll_ms > 0 ? " and the poll interval" : "");
  }
  if (o.server_pid > 0) {
    const double cpu = u.server_cpu_start >= 0 && u.server_cpu_end >= 0 && measured > 0
                           ? 100.0 * (u.server_cpu_end - u.server_cpu_start) / measured
                           : -1;
    if (cpu >= 0) {
      std::printf("  server pid %d CPU %.1f %% of one core, peak memory (VmHWM) %.1f MiB, RSS at end %.1f MiB\n",
                  o.server_pid, cpu, static_cast<double>(u.server_hwm_kb) / 1024.0,
                  static_cast<double>(u.server_rss_kb) / 1024.0);
    } else {
      std::printf("  server pid %d: could not read /proc/%d (did it exit?)\n", o.server_pid, o.server_pid);
    }
  } else {
    std::printf("  server        CPU and memory not measured (give --server-pid)\n");
  }
  const double self_cpu = measured > 0 ? 100.0 * (u.self_cpu_end - u.self_cpu_start) / measured : 0.0;
  std::printf("  loadgen       CPU %.1f %% of one core; device frames sent > 1 ms late %" PRIu64
              " (max %.2f ms), device send backlog max %zu bytes\n",
              self_cpu, ds.late_sends, static_cast<double>(ds.max_send_late_ns) / 1e6, ds.max_backlog);
  std::printf("                event loop (%s): %" PRIu64 " wake-ups with events, %.1f events each, longest %.2f ms of work\n",
              o.poll_ms > 0 ? ("polled every " + std::to_string(o.poll_ms).substr(0, 4) + " ms").c_str()
                               : "woken by every arrival",
              r.loop.wakeups,
              r.loop.wakeups ? static_cast<double>(r.loop.wake_events) / static_cast<double>(r.loop.wakeups) : 0.0,
              static_cast<double>(r.loop.max_batch_ns) / 1e6);
  {
    const double others = measured > 0 ? 100.0 * cpu_used_between(u.others_start, u.others_end) / measured : 0.0;
    const double pressure = u.pressure_start >= 0 && u.pressure_end >= 0 && measured > 0
                                ? 100.0 * (u.pressure_end - u.pressure_start) / 1e6 / measured
                                : -1;
    std::printf("  machine       %ld cores; other processes used %.1f %% of one core", sysconf(_SC_NPROCESSORS_ONLN),
                others);
    if (pressure >= 0) std::printf("; some task waited for a CPU %.1f %% of the time", pressure);
    // Alone, the server and the loadgen make some 2-20 % of pressure on 2 cores.
    std::printf("%s\n", others > 10.0 || pressure > 35.0
                             ? " (other work competed for the CPU: the figures are pessimistic)"
                             : "");
  }
  std::printf("  skipped       %" PRIu64 " messages (%" PRIu64 " in the window), %" PRIu64 " frames\n", ls.skipped_msgs,
              ls.skipped_msgs_window, ls.skipped_frames);
  std::printf("  disconnects   listeners %" PRIu64 " (%" PRIu64 " in the window), devices %u\n",
              ls.disconnects, ls.disconnects_window, ds.disconnects);
  for (const auto& [why, count] : ls.disconnect_reasons) {
    std::printf("                %" PRIu64 " x %s\n", count, why.c_str());
  }
  std::printf("  other         %" PRIu64 " text messages, %" PRIu64 " error messages, %" PRIu64
              " non-audio binary, %" PRIu64 " invalid audio; %" PRIu64 " PONGs: |clock offset| max %" PRId64
              " us, round trip max %" PRId64 " us\n",
              ls.text_msgs, ls.error_msgs, ls.other_binary, ls.invalid_audio, ds.pongs, ds.max_abs_offset_us,
              ds.max_rtt_us);
  std::fflush(stdout);
}

void write_latency_csv(const std::string& path, const Options& o, const ListenerStats& ls) {
  const LatencyHistogram& hist = ls.arrival;
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) die("cannot write %s: %s", path.c_str(), std::strerror(errno));
  const auto width_us = static_cast<std::int64_t>(std::llround(o.csv_bucket_ms * 1000.0));
  const auto buckets = hist.coarse(width_us);
  std::fprintf(f, "latency_ms,count,fraction_slower\n");
  std::uint64_t cum = 0;
  for (const auto& [lo, c] : buckets) {
    cum += c;
    std::fprintf(f, "%.3f,%" PRIu64 ",%.9g\n", static_cast<double>(lo) / 1000.0, c,
                 static_cast<double>(hist.count() - cum) / static_cast<double>(hist.count()));
  }
  if (std::fclose(f) != 0) die("writing %s failed", path.c_str());
  note("wrote %s (%zu buckets of %.3f ms)", path.c_str(), buckets.size(), static_cast<double>(width_us) / 1000.0);
}

void draw_latency_plot(const std::string& path, const Options& o, const ListenerStats& ls) {
  const LatencyHistogram& hist = ls.arrival;  // to the socket
  const LatencyHistogram& khist = ls.read;    // to the loadgen's read
  if (hist.count() == 0) {
    note("no latency samples: not drawing %s", path.c_str());
    return;
  }
  // Bucket width for the picture: about 200 bars across the range.
  const double max_ms = hist.max_ms();
  double width_ms = 0.01;
  for (double w : {0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0}) {
    width_ms = w;
    if (max_ms / w <= 300) break;
  }
  const auto width_us = static_cast<std::int64_t>(std::llround(width_ms * 1000.0));
  const std::int64_t upto = std::max(hist.max_us(), khist.max_us());
  const auto buckets = hist.coarse(width_us, upto);
  const auto kbuckets = khist.coarse(width_us, upto);

  std::string script;
  char line[512];
  std::snprintf(line, sizeof line, "set terminal pngcairo size 1100,800 font 'sans,10'\nset output '%s'\n",
                path.c_str());
  script += line;
  std::snprintf(line, sizeof line,
                "set multiplot layout 2,1 title \"micstream relay: %u devices, %u listeners, %.0f s: p50 %.2f ms, "
                "p99 %.2f ms, max %.2f ms (%llu frames)\" font 'sans,12'\n",
                o.devices, o.listeners, o.seconds, hist.percentile_ms(0.5), hist.percentile_ms(0.99),
                max_ms, static_cast<unsigned long long>(hist.count()));
  script += line;
  // columns: bucket centre ms, frames, fraction slower (arrival at the socket), fraction slower (read by the loadgen)
  script += "$data << EOD\n";
  std::uint64_t cum = 0, kcum = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    cum += buckets[i].second;
    if (i < kbuckets.size()) kcum += kbuckets[i].second;
    const double slower = static_cast<double>(hist.count() - cum) / static_cast<double>(hist.count());
    const double kslower =
        khist.count() ? static_cast<double>(khist.count() - kcum) / static_cast<double>(khist.count()) : 0.0;
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
                static_cast<double>(upto) / 1000.0 + width_ms, hist.percentile_ms(0.5), hist.percentile_ms(0.5),
                hist.percentile_ms(0.99), hist.percentile_ms(0.99));
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
  if (khist.count() > 0) {
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

}  // namespace micstream::loadgen
