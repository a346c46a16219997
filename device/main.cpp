// micstream-device: virtual ESP32 microphones. Each runs the firmware's
// portable pipeline (core/: Capture -> FrameQueue -> Sender) on POSIX threads
// and streams a synthetic or recorded signal to micstream-server over the link
// protocol, for demos and tests without hardware. Faults (lost frames, a
// stalled sender, cut links, a jittery link, a skewed crystal) can be injected.
//
// Exit status: 0 after SIGINT/SIGTERM or --duration, 1 when a device failed
// at run time (a sound card went away, a thread could not start), 2 for
// invalid options or files.

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "device_config.h"
#include "secrets_file.h"
#include "source_factory.h"
#include "stop_flag.h"
#include "virtual_device.h"
#include "wav_source.h"

#ifndef MICSTREAM_VERSION
#define MICSTREAM_VERSION "0.0.0"
#endif

namespace {

using namespace micstream::device;  // NOLINT(google-build-using-namespace): main only

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

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

// "MS@EVERY_S": 800@5 stalls the sender 800 ms every 5 s.
bool parse_stall(const std::string& text, std::uint32_t& ms, double& every_s, std::string& error) {
  const auto at = text.find('@');
  error = "--stall expects MS@EVERY_S (e.g. 800@5), got \"" + text + "\"";
  if (at == std::string::npos) return false;
  const char* first = text.data();
  const auto [end_ms, ec_ms] = std::from_chars(first, first + at, ms);
  if (ec_ms != std::errc{} || end_ms != first + at || ms == 0) return false;
  const std::string every = text.substr(at + 1);
  char* end = nullptr;
  every_s = std::strtod(every.c_str(), &end);
  if (every.empty() || end != every.c_str() + every.size() || !(every_s > 0.0)) return false;
  error.clear();
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

nlohmann::json to_json(const VirtualDevice::Summary& s) {
  return {{"id", s.id},
          {"seconds", s.seconds},
          {"frames_captured", s.frames_captured},
          {"frames_sent", s.frames_sent},
          {"frames_dropped", s.frames_dropped},
          {"frames_dropped_before_link", s.frames_dropped_before_link},
          {"frames_dropped_capture", s.frames_dropped_capture},
          {"samples_overrun", s.samples_overrun},
          {"reconnects", s.reconnects},
          {"disconnects", s.disconnects},
          {"server_errors", s.server_errors},
          {"cuts", s.cuts},
          {"stalls", s.stalls},
          {"failed", s.failed}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"micstream-device: virtual ESP32 microphones streaming to micstream-server"};
  app.footer(
      "Exit status: 0 after SIGINT/SIGTERM or --duration, 1 when a device failed while running, 2 for invalid "
      "options.\nEach device logs a status line every --status-interval seconds and a summary when it stops.");
  DeviceConfig base;
  SourceOptions& source = base.source;
  std::string server = "127.0.0.1:2001";
  std::string secret = "demo-secret";
  std::string secret_file;
  std::string secrets_file;
  std::string codec = "ima-adpcm";
  std::string link = "tls";
  std::string source_name = "tone";
  std::string stall;
  std::string summary_json;
  unsigned count = 1;
  double duration_s = 0.0;
  bool verbose = false;

  app.add_option("--server", server, "the server's device port, HOST:PORT")->capture_default_str();
  app.add_option("--id", base.id, "device id (1..32 of [A-Za-z0-9._-]); with --count N the ids are ID-1..ID-N")
      ->capture_default_str();
  auto* secret_option = app.add_option("--secret", secret, "the device's secret (all devices)")->capture_default_str();
  auto* secret_file_option =
      app.add_option("--secret-file", secret_file, "read the secret from this file (trailing newlines ignored)")
          ->check(CLI::ExistingFile)
          ->excludes(secret_option);
  app.add_option("--secrets-file", secrets_file,
                 "TOML file of per-device secrets, as the server's: [devices] id = \"secret\"")
      ->check(CLI::ExistingFile)
      ->excludes(secret_option)
      ->excludes(secret_file_option);
  app.add_option("--link", link,
                 "tls: TLS with the secret as its key, never plain (the server needs the secret); plain: the "
                 "secret proven in the clear (a server with --allow-plain-devices or --allow-unknown-devices)")
      ->check(CLI::IsMember({"tls", "plain"}))
      ->capture_default_str();
  app.add_option("--count", count, "devices to run in this process, each with its own pipeline and threads")
      ->check(CLI::Range(1U, 1000U))
      ->capture_default_str();

  app.add_option("--codec", codec, "pcm16, mulaw or ima-adpcm")
      ->check(CLI::IsMember({"pcm16", "mulaw", "ima-adpcm"}))
      ->capture_default_str();
  auto* rate_option = app.add_option("--rate", base.sample_rate, "sample rate, Hz (default: 16000, or the WAV file's)")
                          ->check(CLI::Range(8000U, 48000U));
  app.add_option("--channels", base.channels, "1 or 2")->check(CLI::Range(1U, 2U))->capture_default_str();
  app.add_option("--frame-ms", base.frame_ms, "audio per frame, ms")->check(CLI::Range(1U, 1000U))->capture_default_str();
  app.add_option("--gain-db", base.gain_db, "gain applied at capture, dB (CONFIG from the server changes it)")
      ->capture_default_str();
  app.add_option("--dc-cutoff-hz", base.dc_cutoff_hz, "DC blocker corner, Hz; 0 turns it off")->capture_default_str();
  app.add_option("--queue-ms", base.queue_ms, "audio the capture->sender queue holds before it drops the oldest, ms")
      ->capture_default_str();
  app.add_option("--block-samples", base.block_frames, "samples (a channel) the converter delivers at a time")
      ->capture_default_str();
  app.add_option("--socket-buffer", base.socket_send_buffer,
                 "SO_SNDBUF of the link, bytes (0: the kernel's, megabytes; an ESP32 has a few kB)")
      ->capture_default_str();
  app.add_option("--clock-ppm", base.clock_ppm,
                 "the device's crystal error: its clock and sample clock run this many ppm fast (+) or slow (-)")
      ->capture_default_str();

  app.add_option("--source", source_name, "what to capture: tone, sweep, noise, wav, adc (the ESP32 ADC model), alsa")
      ->check(CLI::IsMember({"tone", "sweep", "noise", "wav", "adc", "alsa"}))
      ->capture_default_str();
  app.add_option("--tone", source.tone_hz, "tone frequency, Hz (tone and adc)")->capture_default_str();
  app.add_option("--level-dbfs", source.level_dbfs, "peak level, dBFS (tone, sweep, noise, adc)")->capture_default_str();
  app.add_option("--sweep-from", source.sweep_from_hz, "sweep start, Hz")->capture_default_str();
  app.add_option("--sweep-to", source.sweep_to_hz, "sweep end, Hz")->capture_default_str();
  app.add_option("--sweep-seconds", source.sweep_seconds, "sweep length, s (then it starts over)")->capture_default_str();
  auto* wav_option = app.add_option("--wav", source.wav_path, "sound file to play in a loop (implies --source wav)")
                         ->check(CLI::ExistingFile);
  app.add_option("--adc-bias", source.adc.bias_code, "ADC model: the code the mic's DC bias reads")
      ->capture_default_str();
  app.add_option("--adc-noise", source.adc.noise_lsb, "ADC model: converter noise, LSB RMS")->capture_default_str();
  app.add_option("--alsa-device", source.alsa_device, "ALSA capture device (--source alsa)")->capture_default_str();

  app.add_option("--drop-every", base.drop_every, "fault: the capture loses every Nth frame (0: none)")
      ->capture_default_str();
  app.add_option("--stall", stall, "fault: the sender thread stalls MS ms every EVERY_S s, as MS@EVERY_S");
  app.add_option("--cut-every", base.link.cut_every_s,
                 "fault: S seconds after each connect, the link is cut in the middle of an AUDIO frame (0: never)")
      ->capture_default_str();
  app.add_option("--send-jitter-ms", base.link.send_jitter_ms, "fault: each audio frame leaves a random 0..J ms after it is complete (delay variation, in order)")
      ->capture_default_str();

  app.add_option("--duration", duration_s, "seconds to run, 0 for ever")->check(CLI::Range(0.0, 1e9))->capture_default_str();
  app.add_option("--status-interval", base.status_interval_s, "seconds between status lines, 0 for none")
      ->capture_default_str();
  app.add_option("--summary-json", summary_json, "on exit, write every device's counters to this file as JSON");
  app.add_flag("-v,--verbose", verbose, "debug logging");
  app.set_version_flag("--version", "micstream-device " MICSTREAM_VERSION);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }

  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto make_logger = [&](const std::string& name) {
    auto logger = std::make_shared<spdlog::logger>(name, sink);
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%n] %^%l%$ %v");
    logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
    return logger;
  };
  auto log = make_logger("micstream-device");
  spdlog::set_default_logger(log);  // what libraries log (alsa-lib's diagnostics, at debug)
  auto usage_error = [&](const std::string& message) {
    log->critical("{}", message);
    return kExitUsage;
  };

  std::string error;
  if (!parse_server(server, base.host, base.port, error)) return usage_error(error);
  if (!stall.empty() && !parse_stall(stall, base.stall_ms, base.stall_every_s, error)) return usage_error(error);
  (void)micstream::codec_from_name(codec, base.codec);  // CLI11 checked the name
  base.firmware_version = "micstream-device/" MICSTREAM_VERSION;
  base.tls = link == "tls";

  if (source_name == "sweep") source.kind = SourceKind::sweep;
  else if (source_name == "noise") source.kind = SourceKind::noise;
  else if (source_name == "wav") source.kind = SourceKind::wav;
  else if (source_name == "adc") source.kind = SourceKind::adc;
  else if (source_name == "alsa") source.kind = SourceKind::alsa;
  if (wav_option->count() > 0 && app.get_option("--source")->count() == 0) source.kind = SourceKind::wav;
  if (source.kind == SourceKind::wav) {
    if (source.wav_path.empty()) return usage_error("--source wav needs --wav FILE");
    if (rate_option->count() == 0) {
      base.sample_rate = wav_sample_rate(source.wav_path, error);
      if (base.sample_rate == 0) return usage_error(error);
    }
    source.wav = load_wav(source.wav_path, base.channels, error);
    if (source.wav == nullptr) return usage_error(error);
  } else if (!source.wav_path.empty()) {
    return usage_error("--wav is for --source wav");
  }
  if (source.kind == SourceKind::alsa) {
    if (!have_alsa()) return usage_error("this build has no ALSA support (install libasound2-dev and build again)");
    if (count > 1) return usage_error("--source alsa captures one sound card: use --count 1");
  }

  std::optional<std::map<std::string, std::string>> secrets;
  if (!secrets_file.empty()) {
    secrets = load_secrets(secrets_file, error);
    if (!secrets) return usage_error(error);
  } else if (!secret_file.empty() && !read_secret_file(secret_file, secret, error)) {
    return usage_error(error);
  }

  std::vector<DeviceConfig> configs;
  for (unsigned i = 1; i <= count; ++i) {
    DeviceConfig config = base;
    if (count > 1) config.id = base.id + "-" + std::to_string(i);
    const std::string* device_secret = &secret;
    if (secrets) {
      const auto it = secrets->find(config.id);
      if (it == secrets->end()) return usage_error("no secret for device \"" + config.id + "\" in " + secrets_file);
      device_secret = &it->second;
    }
    config.secret.assign(device_secret->begin(), device_secret->end());
    config.source.noise_seed = i;
    if (error = check_config(config); !error.empty()) return usage_error(error);
    configs.push_back(std::move(config));
  }

  // SIGINT and SIGTERM are taken by this thread with sigtimedwait(), never
  // delivered to a handler: block them before any thread starts (threads
  // inherit the mask). Writes to a closed socket report EPIPE, not SIGPIPE.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  StopFlag stop;
  std::vector<std::unique_ptr<VirtualDevice>> devices;
  devices.reserve(configs.size());
  int exit_code = 0;
  if (count > 1) log->info("starting {} devices, {} to {}", count, configs.front().id, configs.back().id);
  for (auto& config : configs) {
    auto logger = make_logger(config.id);
    devices.push_back(std::make_unique<VirtualDevice>(std::move(config), stop, logger));
    if (!devices.back()->start(error)) {
      logger->critical("{}", error);
      exit_code = kExitFailed;
      break;
    }
  }

  const auto started = std::chrono::steady_clock::now();
  const auto duration = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(duration_s));
  while (exit_code == 0) {
    auto wait = std::chrono::milliseconds(200);
    if (duration_s > 0) {
      const auto left = started + duration - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) {
        log->info("ran for the requested {} s", duration_s);
        break;
      }
      if (left < wait) wait = std::chrono::duration_cast<std::chrono::milliseconds>(left) + std::chrono::milliseconds(1);
    }
    const timespec timeout{0, static_cast<long>(std::chrono::nanoseconds(wait).count())};
    const int signal = ::sigtimedwait(&stop_signals, nullptr, &timeout);
    if (signal > 0) {
      log->info("{}: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    bool failed = false;
    for (const auto& device : devices) failed = failed || device->failed();
    if (failed) {
      log->critical("a device failed: stopping");
      exit_code = kExitFailed;
    }
  }

  stop.request();
  for (auto& device : devices) device->join();

  if (!summary_json.empty()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& device : devices) list.push_back(to_json(device->summary()));
    std::ofstream out(summary_json);
    out << nlohmann::json{{"devices", list}}.dump(2) << '\n';
    if (!out) {
      log->error("cannot write {}: {}", summary_json, std::strerror(errno));
      if (exit_code == 0) exit_code = kExitFailed;
    }
  }
  if (count > 1) {
    std::uint64_t sent = 0;
    std::uint64_t dropped = 0;
    std::uint64_t dropped_capture = 0;
    std::uint64_t reconnects = 0;
    for (const auto& device : devices) {
      const auto s = device->summary();
      sent += s.frames_sent;
      dropped += s.frames_dropped;
      dropped_capture += s.frames_dropped_capture;
      reconnects += s.reconnects;
    }
    log->info("{} devices: sent {}, dropped {} at the queue, {} at capture, reconnects {}", devices.size(), sent,
              dropped, dropped_capture, reconnects);
  }
  return exit_code;
}
