// Integration test harness: runs the real micstream-server binary as a child
// process on ephemeral ports, talks HTTP to it and reads its log. The device
// client is in test_device.h, the WebSocket listener in ws_listener.h.
//
// Everything here throws std::runtime_error (with the server's log tail when
// it helps) instead of asserting, so it works under any test framework.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace micstream::itest {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

// ---- clocks ----

/// Microseconds on the steady clock (also the test devices' "device clock").
[[nodiscard]] std::int64_t steady_us();
/// Unix epoch microseconds on the system clock (the server's clock).
[[nodiscard]] std::int64_t system_us();

/// Polls pred every `every` until it is true or timeout passes; returns the last result.
bool wait_until(const std::function<bool()>& pred, Millis timeout, Millis every = 5ms);

// ---- temporary directory ----

class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "micstream-itest");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  /// Keep the directory after the test (for post-mortem); also when MICSTREAM_KEEP_TEST_DIRS is set.
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

void write_file(const std::filesystem::path& path, std::string_view content);
[[nodiscard]] std::string read_file(const std::filesystem::path& path);

// ---- the server process ----

struct ServerOptions {
  std::filesystem::path binary;               ///< the server executable
  std::map<std::string, std::string> secrets; ///< written as a [devices] table; none: no --secrets
  std::vector<std::string> args;              ///< extra command-line arguments
  std::vector<std::string> wrapper;           ///< a command the server runs under, e.g. {"prlimit", "--nofile=256"}
  std::filesystem::path web_root;             ///< --web-root; empty: a one-page folder of the test's own
  std::string log_level = "debug";
  bool plain_devices = true;                  ///< --allow-plain-devices: TestDevice speaks plain v1 unless given a TlsPsk
  bool pass_ports = true;                     ///< --bind 127.0.0.1 --http-port 0 --ingest-port 0 --ports-file
  Millis start_timeout = 10s;
};

class ServerProcess {
 public:
  /// Starts the server and waits for its ports file. Throws (with the log) if
  /// it exits or does not write the file in time.
  explicit ServerProcess(ServerOptions options);
  /// Kills the server (SIGKILL) if it is still running.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  [[nodiscard]] std::uint16_t http_port() const { return http_port_; }
  [[nodiscard]] std::uint16_t ingest_port() const { return ingest_port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_.path(); }
  [[nodiscard]] const std::filesystem::path& log_path() const { return log_path_; }
  [[nodiscard]] const std::vector<std::string>& argv() const { return argv_; }
  void keep_dir() { dir_.keep(); }

  /// Everything the server wrote to stdout and stderr so far.
  [[nodiscard]] std::string log() const;
  [[nodiscard]] std::vector<std::string> log_lines() const;
  /// The last max_bytes of the log, for failure messages.
  [[nodiscard]] std::string log_tail(std::size_t max_bytes = 6000) const;

  /// Waits for a log line for which pred is true; returns it.
  std::optional<std::string> wait_for_log_line(const std::function<bool(std::string_view)>& pred, Millis timeout) const;

  /// True while the process has not exited.
  [[nodiscard]] bool running();
  /// Sends a signal (SIGTERM by default).
  void signal(int sig) const;
  /// Waits for the exit; returns the exit code, or -signal when it was killed,
  /// or nullopt on timeout.
  std::optional<int> wait_exit(Millis timeout);
  /// SIGTERM, then waits up to timeout; SIGKILL after that. Returns as wait_exit
  /// (nullopt when SIGKILL was needed).
  std::optional<int> terminate(Millis timeout = 5s);

 private:
  ServerOptions options_;
  TempDir dir_;
  std::filesystem::path log_path_;
  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::uint16_t http_port_ = 0;
  std::uint16_t ingest_port_ = 0;
};

// ---- HTTP ----

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
  std::map<std::string, std::string> headers;  ///< names in lower case; a repeated field keeps its last value
};

struct HttpRequest {
  std::string method = "GET";
  std::string target;                          ///< sent as is (no normalisation)
  std::map<std::string, std::string> headers;  ///< Host defaults to 127.0.0.1:port
  std::string body;
};

/// One request on 127.0.0.1:port (Connection: close). Throws on a transport error.
HttpResponse http_request(std::uint16_t port, const HttpRequest& request, Millis timeout = 3s);
/// One GET on 127.0.0.1:port (Connection: close). Throws on a transport error.
HttpResponse http_get(std::uint16_t port, std::string_view target, Millis timeout = 3s);

/// The resident memory of a process, in KiB (VmRSS), or 0 when it cannot be read.
[[nodiscard]] std::size_t rss_kib(pid_t pid);

// ---- Prometheus text ----

struct MetricSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

class Metrics {
 public:
  /// Parses the text exposition format (comments skipped). Throws on a line it cannot read.
  static Metrics parse(std::string_view text);

  /// The value of the sample with this name whose labels include all the given ones;
  /// with no labels given, the unlabelled sample (or the only one of that name).
  [[nodiscard]] std::optional<double> get(std::string_view name,
                                          const std::map<std::string, std::string>& labels = {}) const;
  /// Sum of every sample of this name.
  [[nodiscard]] double sum(std::string_view name) const;
  [[nodiscard]] bool has(std::string_view name) const;
  [[nodiscard]] const std::vector<MetricSample>& samples() const { return samples_; }

 private:
  std::vector<MetricSample> samples_;
};

// ---- strings ----

[[nodiscard]] bool contains(std::string_view haystack, std::string_view needle);
/// Case-insensitive contains.
[[nodiscard]] bool icontains(std::string_view haystack, std::string_view needle);

}  // namespace micstream::itest
