#include "metrics.h"

#include <sstream>

namespace micstream::server {

namespace {
void metric(std::ostringstream& out, const char* name, const char* type, const char* help, std::uint64_t value) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n' << name << ' ' << value << '\n';
}

// Nanoseconds as decimal seconds, exactly (no floating point on the way).
std::string seconds_text(std::uint64_t ns) {
  std::string fraction = std::to_string(ns % 1'000'000'000);
  fraction.insert(0, 9 - fraction.size(), '0');
  return std::to_string(ns / 1'000'000'000) + '.' + fraction;
}
}  // namespace

void DurationHistogram::record(std::chrono::nanoseconds duration) {
  const auto ns = duration.count() > 0 ? duration : std::chrono::nanoseconds(0);
  std::size_t i = 0;
  while (i < kBuckets.size() && ns > kBuckets[i].upper_bound) ++i;
  ++counts_[i];
  ++count_;
  sum_ns_ += static_cast<std::uint64_t>(ns.count());
}

void DurationHistogram::render(std::ostream& out, std::string_view name, std::string_view help) const {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    cumulative += counts_[i];
    out << name << "_bucket{le=\"" << kBuckets[i].le << "\"} " << cumulative << '\n';
  }
  out << name << "_bucket{le=\"+Inf\"} " << count_ << '\n'
      << name << "_sum " << seconds_text(sum_ns_) << '\n'
      << name << "_count " << count_ << '\n';
}

std::string Metrics::render(const Gauges& gauges) const {
  std::ostringstream out;
  metric(out, "micstream_devices", "gauge", "Devices connected now.", gauges.devices_online);
  metric(out, "micstream_devices_known", "gauge", "Devices seen since start, connected or not.", gauges.devices_known);
  metric(out, "micstream_listeners", "gauge", "WebSocket listeners connected now.", gauges.listeners);
  metric(out, "micstream_stream_listeners", "gauge", "HTTP stream (/stream/) listeners connected now.",
         gauges.stream_listeners);
  metric(out, "micstream_stream_encoders", "gauge",
         "Standard-stream encoders running: one per device and format listened to, however many listen.",
         gauges.stream_encoders);
  metric(out, "micstream_listener_opus_encoders", "gauge",
         "Opus encoders for WebSocket listeners: one per device some listener hears in Opus, however many do.",
         gauges.opus_encoders);
  metric(out, "micstream_device_connections_total", "counter", "Device links accepted.", device_connections);
  metric(out, "micstream_listener_connections_total", "counter", "Listener WebSockets accepted.", listener_connections);
  metric(out, "micstream_stream_connections_total", "counter", "HTTP streams started.", stream_connections);
  metric(out, "micstream_frames_in_total", "counter", "Audio frames received from devices.", frames_in);
  metric(out, "micstream_frames_out_total", "counter", "Audio frames queued to listeners.", frames_out);
  metric(out, "micstream_bytes_in_total", "counter", "Bytes received on device links.", bytes_in);
  metric(out, "micstream_bytes_out_total", "counter", "Bytes written to listeners.", bytes_out);
  metric(out, "micstream_parse_errors_total", "counter", "Device links closed for malformed frames.", parse_errors);
  metric(out, "micstream_auth_failures_total", "counter", "Device links refused: wrong proof or unknown id.",
         auth_failures);
  metric(out, "micstream_listener_slow_disconnects_total", "counter", "Listeners disconnected for staying behind.",
         listener_disconnects_slow);
  metric(out, "micstream_connections_refused_total", "counter",
         "Connections closed at once: over a limit, or from an address failing HELLOs.", connections_refused);
  metric(out, "micstream_peers_cut_total", "counter", "Listeners and devices cut for flooding or not answering.",
         peers_cut);
  out << "# HELP micstream_dropped_frames_total Audio frames lost, by cause.\n"
      << "# TYPE micstream_dropped_frames_total counter\n"
      << "micstream_dropped_frames_total{cause=\"listener_skip\"} " << dropped_listener_skip << '\n'
      << "micstream_dropped_frames_total{cause=\"device_gap\"} " << dropped_device_gap << '\n'
      << "micstream_dropped_frames_total{cause=\"device_queue\"} " << dropped_device_queue << '\n';
  listener_delivery.render(out, "micstream_listener_delivery_seconds",
                           "Audio frames delivered to listeners, by the time from reading the frame off the device "
                           "socket to the end of the write that carried it to the listener.");
  return out.str();
}

}  // namespace micstream::server
