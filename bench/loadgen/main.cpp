// micstream-loadgen: load test for a running micstream-server. D virtual
// devices stream into its ingest port and L WebSocket listeners receive them,
// measuring delivery, loss and end-to-end latency (loadgen.h says how). This
// file is the command line; bench/run-load.sh starts a server and runs it.

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "loadgen.h"
#include "micstream/codec.h"
#include "micstream/protocol.h"
#include "options.h"
#include "util.h"

using namespace micstream::loadgen;  // NOLINT(google-build-using-namespace): main only
namespace proto = micstream::proto;

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "micstream-loadgen: D virtual devices stream PCM audio at real-time pace into a running micstream-server, "
      "L WebSocket listeners (listener i hears device i % D) measure delivery, loss and capture-to-listener "
      "latency. bench/run-load.sh starts a server and runs this against it."};
  app.add_option("--host", o.host, "server address")->capture_default_str();
  app.add_option("--http-port", o.http_port, "HTTP/WebSocket port (or --ports-file)")->check(CLI::Range(1, 65535));
  app.add_option("--ingest-port", o.ingest_port, "device ingest port (or --ports-file)")->check(CLI::Range(1, 65535));
  app.add_option("--ports-file", o.ports_file,
                 "JSON {\"http\":N,\"ingest\":M} written by micstream-server --ports-file; explicit ports win");
  app.add_option("-d,--devices", o.devices, "virtual devices (D)")->capture_default_str()->check(CLI::Range(1u, 100000u));
  app.add_option("-l,--listeners", o.listeners, "WebSocket listeners (L), spread evenly over the devices")
      ->capture_default_str();
  app.add_option("-s,--seconds", o.seconds, "measured duration")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup-seconds", o.warmup_seconds, "warm-up after every listener connected, not counted")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--drain-seconds", o.drain_seconds,
                 "after the window, at most this long to wait for frames sent in it")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--server-pid", o.server_pid, "measure this process's CPU share and peak memory (/proc)");
  app.add_option("--latency-csv", o.latency_csv, "write the latency histogram (bucket ms, count, fraction slower)");
  app.add_option("--csv-bucket-ms", o.csv_bucket_ms, "bucket width of --latency-csv")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 1000.0));
  app.add_option("--plot", o.plot, "draw the latency distribution into this PNG with gnuplot");
  app.add_option("--device-prefix", o.device_prefix, "device ids are <prefix><index>")->capture_default_str();
  app.add_option("--secret", o.secret, "device secret for the HELLO proof")->capture_default_str();
  app.add_option("--codec", o.codec_name, "pcm16, mulaw or ima-adpcm")->capture_default_str();
  app.add_option("--sample-rate", o.sample_rate, "Hz")->capture_default_str()->check(CLI::Range(8000u, 48000u));
  app.add_option("--samples-per-frame", o.samples_per_frame, "samples a frame")
      ->capture_default_str()
      ->check(CLI::Range(1u, 8180u));
  app.add_option("--connect-concurrency", o.connect_concurrency, "listener handshakes in flight at once")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100000u));
  app.add_option("--connect-timeout", o.connect_timeout, "seconds for a connection and its handshake")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--ping-interval", o.ping_interval, "seconds between a device's PINGs (the first follows HELLO)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--poll-ms", o.poll_ms,
                 "0: wake on every arriving message; N: collect arrivals every N ms (fewer wake-ups, for many "
                 "listeners; latency stays exact through the kernel receive timestamps); default 0 below 2000 "
                 "listeners, else 1")
      ->check(CLI::Range(0.0, 20.0));
  auto* tls = app.add_flag("--tls", o.tls,
                           "listeners open wss:// (the server's HTTP port with --tls-dir or --tls-cert); give --ca "
                           "or --tls-no-verify");
  auto* ca = app.add_option("--ca", o.ca_file,
                            "with --tls: verify the server's certificate against this CA (PEM; the server's "
                            "<--tls-dir>/ca.pem) and --host")
                 ->check(CLI::ExistingFile)
                 ->needs(tls);
  app.add_flag("--tls-no-verify", o.tls_no_verify, "with --tls: do not verify the server's certificate")
      ->needs(tls)
      ->excludes(ca);
  CLI11_PARSE(app, argc, argv);
  if (o.tls && o.ca_file.empty() && !o.tls_no_verify) die("--tls needs --ca FILE or, to skip the check, --tls-no-verify");
  if (o.poll_ms < 0) o.poll_ms = o.listeners >= 2000 ? 1.0 : 0.0;

  if (!micstream::codec_from_name(o.codec_name, o.codec)) die("unknown codec \"%s\"", o.codec_name.c_str());
  if (micstream::encoded_size(o.codec, 1, o.samples_per_frame) + proto::kAudioHeaderSize > proto::kMaxPayload) {
    die("%u samples of %s do not fit one frame", o.samples_per_frame, o.codec_name.c_str());
  }
  if (!o.ports_file.empty()) {
    std::ifstream in(o.ports_file);
    if (!in) die("cannot read the ports file %s", o.ports_file.c_str());
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("http") || !j.contains("ingest")) {
      die("%s is not {\"http\":N,\"ingest\":M}", o.ports_file.c_str());
    }
    if (o.http_port == 0) o.http_port = j["http"].get<int>();
    if (o.ingest_port == 0) o.ingest_port = j["ingest"].get<int>();
  }
  if (o.http_port <= 0 || o.ingest_port <= 0) die("give --http-port and --ingest-port, or --ports-file");

  // One descriptor a connection: raise the soft limit to the hard one.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  const rlim_t need = static_cast<rlim_t>(o.devices) + o.listeners + 64;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur < need) {
    die("the open-file limit is %llu (hard %llu) but %u devices + %u listeners need about %llu descriptors; raise the "
        "hard limit (ulimit -Hn, /etc/security/limits.conf, or LimitNOFILE=)",
        static_cast<unsigned long long>(rl.rlim_cur), static_cast<unsigned long long>(rl.rlim_max), o.devices,
        o.listeners, static_cast<unsigned long long>(need));
  }

  install_signal_handlers();
  return run(o);
}
