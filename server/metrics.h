// Server-wide counters, rendered in the Prometheus text format at /metrics.
// The server runs on one thread, so plain integers suffice.
#pragma once

#include <cstdint>
#include <string>

namespace micstream::server {

struct Metrics {
  std::uint64_t device_connections = 0;
  std::uint64_t listener_connections = 0;
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;       ///< audio frames queued to listeners
  std::uint64_t bytes_in = 0;         ///< device link bytes
  std::uint64_t bytes_out = 0;        ///< listener WebSocket bytes written
  std::uint64_t parse_errors = 0;     ///< device links closed for malformed frames
  std::uint64_t auth_failures = 0;    ///< wrong proof or unknown device
  std::uint64_t dropped_listener_skip = 0;    ///< frames a slow listener skipped
  std::uint64_t dropped_device_gap = 0;       ///< frames lost before the server (sample-index gaps)
  std::uint64_t dropped_device_queue = 0;     ///< frames the devices report dropped at their queue
  std::uint64_t listener_disconnects_slow = 0;
  std::uint64_t connections_refused = 0;      ///< over a connection limit, or from an address failing HELLOs
  std::uint64_t peers_cut = 0;                ///< listeners or devices cut for flooding or not answering

  /// The text exposition, given the gauges the hub knows.
  [[nodiscard]] std::string render(std::size_t devices_online, std::size_t devices_known, std::size_t listeners) const;
};

}  // namespace micstream::server
