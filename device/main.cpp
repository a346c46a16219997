// micstream-device: a virtual microphone. Streams a tone to micstream-server
// over the link protocol exactly as the ESP32 firmware does, for demos and
// tests without hardware.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "virtual_device.h"

#ifndef MICSTREAM_VERSION
#define MICSTREAM_VERSION "0.0.0"
#endif

namespace {

using micstream::device::DeviceOptions;

// The signal handler can only do async-signal-safe things: it writes a byte
// to a pipe that the event loop polls, which wakes it at once.
int g_stop_pipe_write = -1;

extern "C" void on_stop_signal(int) {
  const int saved = errno;
  if (g_stop_pipe_write >= 0) (void)!::write(g_stop_pipe_write, "x", 1);
  errno = saved;
}

bool install_stop_signals(int& read_fd, std::string& error) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    error = std::strerror(errno);
    return false;
  }
  read_fd = fds[0];
  g_stop_pipe_write = fds[1];
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  // Writes to a closed connection report EPIPE (sends also pass MSG_NOSIGNAL).
  ::signal(SIGPIPE, SIG_IGN);
  return true;
}

// "host:port" or "[v6-address]:port".
bool parse_server(const std::string& text, std::string& host, std::string& port, std::string& error) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    error = "--server expects HOST:PORT, got \"" + text + "\"";
    return false;
  }
  host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  port = text.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
    error = "--server: \"" + port + "\" is not a port number";
    return false;
  }
  return true;
}

bool read_secret_file(const std::string& path, std::string& secret, std::string& error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    error = "cannot read the secret file " + path + ": " + std::strerror(errno);
    return false;
  }
  secret.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  // Files written by editors and echo end with a newline that is not part of the secret.
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"micstream-device: a virtual microphone that streams a tone to micstream-server"};
  std::string server = "127.0.0.1:2001";
  std::string device_id = "virtual-01";
  std::string secret = "demo-secret";
  std::string secret_file;
  std::string codec = "ima-adpcm";
  unsigned channels = 1;
  std::uint32_t rate = 16000;
  std::uint32_t frame_ms = 20;
  double tone_hz = 440.0;
  double level_dbfs = -12.0;
  double duration_s = 0.0;
  bool verbose = false;

  app.add_option("--server", server, "the server's device port, HOST:PORT")->capture_default_str();
  app.add_option("--id", device_id, "device id: 1..32 characters of [A-Za-z0-9._-]")->capture_default_str();
  auto* secret_option = app.add_option("--secret", secret, "the device's secret")->capture_default_str();
  app.add_option("--secret-file", secret_file, "read the secret from this file (trailing newlines ignored)")
      ->check(CLI::ExistingFile)
      ->excludes(secret_option);
  app.add_option("--codec", codec, "pcm16, mulaw or ima-adpcm")
      ->check(CLI::IsMember({"pcm16", "mulaw", "ima-adpcm"}))
      ->capture_default_str();
  app.add_option("--channels", channels, "1 or 2 (the same tone on both)")
      ->check(CLI::Range(1U, micstream::kMaxChannels))
      ->capture_default_str();
  app.add_option("--rate", rate, "sample rate, Hz")->check(CLI::Range(8000U, 48000U))->capture_default_str();
  app.add_option("--frame-ms", frame_ms, "audio per frame, ms")->check(CLI::Range(1U, 1000U))->capture_default_str();
  app.add_option("--tone", tone_hz, "tone frequency, Hz")->capture_default_str();
  app.add_option("--level-dbfs", level_dbfs, "tone peak level, dBFS")->capture_default_str();
  app.add_option("--duration", duration_s, "seconds to run, 0 for ever")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  app.add_flag("-v,--verbose", verbose, "log every connection step");
  CLI11_PARSE(app, argc, argv);

  auto log = spdlog::stderr_color_mt(device_id);
  log->set_pattern("%Y-%m-%d %H:%M:%S.%e [%n] %^%l%$ %v");
  log->set_level(verbose ? spdlog::level::debug : spdlog::level::info);

  DeviceOptions options;
  std::string error;
  if (!parse_server(server, options.link.host, options.link.port, error)) {
    log->critical("{}", error);
    return 2;
  }
  if (!secret_file.empty() && !read_secret_file(secret_file, secret, error)) {
    log->critical("{}", error);
    return 2;
  }
  options.link.device_id = device_id;
  options.link.secret.assign(secret.begin(), secret.end());
  options.link.firmware_version = "micstream-device/" MICSTREAM_VERSION;
  (void)micstream::codec_from_name(codec, options.codec);  // CLI11 checked the name
  options.channels = channels;
  options.sample_rate = rate;
  options.frame_ms = frame_ms;
  options.tone_hz = tone_hz;
  options.level_dbfs = level_dbfs;
  if (error = micstream::device::check_options(options); !error.empty()) {
    log->critical("{}", error);
    return 2;
  }

  int stop_fd = -1;
  if (!install_stop_signals(stop_fd, error)) {
    log->critical("cannot set up signal handling: {}", error);
    return 1;
  }
  micstream::device::VirtualDevice device(std::move(options), log);
  const auto duration_us = static_cast<std::uint64_t>(std::llround(duration_s * 1e6));
  return device.run(stop_fd, duration_us) ? 0 : 1;
}
