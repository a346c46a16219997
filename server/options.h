// What the operator can set: command-line flags, or the same keys in a TOML
// file given with --config (see main.cpp, where each is documented).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace micstream::server {

struct Options {
  std::string bind = "0.0.0.0";
  std::uint16_t http_port = 2000;
  std::uint16_t ingest_port = 2001;
  std::filesystem::path web_root;
  std::filesystem::path secrets_file;
  std::filesystem::path users_file;  ///< accounts of the page's users; none: only this machine may listen
  std::filesystem::path tls_dir;   ///< HTTPS with a local CA kept here (made on first start)
  std::filesystem::path tls_cert;  ///< or HTTPS with the operator's own certificate chain (PEM)...
  std::filesystem::path tls_key;   ///< ...and its private key
  bool allow_unknown_devices = false;
  bool allow_plain_devices = false;  ///< device links without TLS (older firmware); implied by allow_unknown_devices
  std::uint32_t listener_queue_ms = 200;
  std::uint32_t listener_stall_ms = 5000;
  std::uint32_t stream_queue_ms = 1000;   ///< an HTTP stream's listener: players buffer, so more than the page
  std::uint32_t opus_bitrate = 32000;     ///< the Ogg Opus stream's and the WebSocket Opus listeners', bits per second
  std::uint32_t mp3_bitrate_kbps = 64;    ///< the MP3 stream's
  std::uint32_t hello_timeout_ms = 5000;
  std::uint32_t device_idle_timeout_ms = 10000;
  std::size_t max_http_connections = 1024;     ///< page fetches and WebSocket listeners together
  std::size_t max_http_per_address = 128;
  std::size_t max_device_links = 256;
  std::size_t max_device_links_per_address = 64;
  std::size_t max_unregistered_devices = 64;   ///< ids without a secret (--allow-unknown-devices) kept at once
  std::filesystem::path ports_file;
  std::vector<std::string> server_names;  ///< names browsers may use besides addresses, localhost and the host name
  std::filesystem::path firmware_dir;  ///< served at /firmware/ for over-the-air updates
  bool mdns = true;
  std::string log_level = "info";
};

}  // namespace micstream::server
