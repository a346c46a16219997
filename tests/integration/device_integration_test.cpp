// The virtual device (the firmware's pipeline on Linux) against the real
// server: the tone arrives intact in every codec, a cut link comes back within
// the backoff bound with the gap counted exactly, a skewed clock is measured,
// a wrong secret is refused, and 50 devices in one process lose nothing.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numbers>
#include <regex>

#include "harness.h"
#include "micstream/codec.h"
#include "ws_listener.h"

extern char** environ;

namespace micstream::itest {
namespace {

using json = nlohmann::json;

// micstream-device as a child process, its output in a file.
class DeviceProcess {
 public:
  DeviceProcess(std::uint16_t ingest_port, std::vector<std::string> args, const std::filesystem::path& dir,
                const std::string& name)
      : log_(dir / (name + ".log")), summary_(dir / (name + ".json")) {
    std::vector<std::string> argv = {MICSTREAM_DEVICE_BINARY, "--server", "127.0.0.1:" + std::to_string(ingest_port),
                                     "--summary-json", summary_.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c_argv;
    for (auto& a : argv) c_argv.push_back(a.data());
    c_argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (posix_spawn(&pid_, c_argv[0], &actions, nullptr, c_argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~DeviceProcess() { stop(); }
  DeviceProcess(const DeviceProcess&) = delete;
  DeviceProcess& operator=(const DeviceProcess&) = delete;

  /// SIGTERM and wait; the exit status.
  int stop() {
    if (pid_ <= 0) return status_;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return status_;
  }
  [[nodiscard]] bool started() const { return pid_ > 0 || status_ >= 0; }
  [[nodiscard]] std::string log() const { return read_text(log_); }
  /// The per-device counters the device wrote on exit (--summary-json).
  [[nodiscard]] json summary() const { return json::parse(read_text(summary_), nullptr, false); }

 private:
  static std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::filesystem::path log_;
  std::filesystem::path summary_;
  pid_t pid_ = -1;
  int status_ = -1;
};

json api_device(const ServerProcess& server, const std::string& id) {
  const json devices = json::parse(http_get(server.http_port(), "/api/devices").body);
  for (const auto& d : devices) {
    if (d.value("id", "") == id) return d;
  }
  return json::object();  // not (yet) known
}

ServerOptions server_options(std::map<std::string, std::string> secrets = {}) {
  ServerOptions o;
  o.binary = MICSTREAM_SERVER_BINARY;
  o.secrets = std::move(secrets);
  if (o.secrets.empty()) o.args.push_back("--allow-unknown-devices");
  o.args.push_back("--no-mdns");
  o.log_level = "info";
  return o;
}

// Decodes every audio message into one sample sequence, checking continuity.
std::vector<double> decode_all(const std::vector<AudioMessage>& audio) {
  std::vector<double> samples;
  std::vector<std::int16_t> pcm(8192);
  for (const auto& a : audio) {
    const auto r = decode_frame(static_cast<Codec>(a.codec), a.channels, a.sample_count, a.payload, pcm);
    EXPECT_TRUE(r.ok()) << "frame " << a.sequence << ": " << error_message(r.error);
    for (std::size_t i = 0; i < r.value; ++i) samples.push_back(pcm[i]);
  }
  return samples;
}

// SNR against the least-squares sine of frequency hz (amplitude and phase fitted).
double tone_snr_db(const std::vector<double>& x, double hz, double rate) {
  double ss = 0, sc = 0, cc = 0, xs = 0, xc = 0;
  for (std::size_t n = 0; n < x.size(); ++n) {
    const double s = std::sin(2 * std::numbers::pi * hz * n / rate);
    const double c = std::cos(2 * std::numbers::pi * hz * n / rate);
    ss += s * s; sc += s * c; cc += c * c; xs += x[n] * s; xc += x[n] * c;
  }
  const double det = ss * cc - sc * sc;
  const double a = (xs * cc - xc * sc) / det;
  const double b = (xc * ss - xs * sc) / det;
  double signal = 0, noise = 0;
  for (std::size_t n = 0; n < x.size(); ++n) {
    const double fit = a * std::sin(2 * std::numbers::pi * hz * n / rate) + b * std::cos(2 * std::numbers::pi * hz * n / rate);
    signal += fit * fit;
    noise += (x[n] - fit) * (x[n] - fit);
  }
  return 10 * std::log10(signal / std::max(noise, 1e-9));
}

class DeviceTest : public ::testing::Test {
 protected:
  TempDir dir{"micstream-device-itest"};
};

TEST_F(DeviceTest, A1kHzToneArrivesIntactInEveryCodec) {
  ServerProcess server(server_options());
  struct Case {
    const char* codec;
    double floor_db;
  };
  for (const Case c : {Case{"pcm16", 80.0}, Case{"mulaw", 35.0}, Case{"ima-adpcm", 20.0}}) {
    SCOPED_TRACE(c.codec);
    const std::string id = std::string("tone-") + c.codec;
    WsListener listener(server.http_port(), {.target = "/ws?device=" + id});
    DeviceProcess device(server.ingest_port(), {"--id", id, "--link", "plain", "--tone", "1000", "--codec", c.codec}, dir.path(), id);
    ASSERT_TRUE(listener.wait_audio_count(75, 10s)) << device.log();
    device.stop();
    auto audio = listener.audio();
    // Consecutive frames, none lost or repeated.
    for (std::size_t i = 1; i < audio.size(); ++i) {
      ASSERT_EQ(audio[i].first_sample, audio[i - 1].first_sample + audio[i - 1].sample_count) << "frame " << i;
    }
    // Skip the first 0.5 s (the DC blocker settling), then one second of tone.
    std::vector<AudioMessage> steady(audio.begin() + 25, audio.begin() + 75);
    const double snr = tone_snr_db(decode_all(steady), 1000, 16000);
    std::cout << c.codec << ": SNR against a fitted 1 kHz sine " << snr << " dB\n";
    EXPECT_GE(snr, c.floor_db);
    Codec expected{};
    ASSERT_TRUE(codec_from_name(c.codec, expected));
    EXPECT_EQ(audio.front().codec, static_cast<std::uint8_t>(expected));
  }
}

TEST_F(DeviceTest, ACutLinkReconnectsWithinTheBackoffAndTheGapIsCountedExactly) {
  ServerProcess server(server_options());
  DeviceProcess device(server.ingest_port(), {"--id", "flaky", "--link", "plain", "--cut-every", "2", "--codec", "pcm16"}, dir.path(),
                       "flaky");
  // Three cuts: each one costs a frame cut in half and the frames captured
  // while the link was down beyond what the queue keeps.
  ASSERT_TRUE(wait_until([&] { return api_device(server, "flaky").value("connections", 0) >= 4; }, 15s))
      << device.log();
  ASSERT_EQ(device.stop(), 0) << device.log();
  ASSERT_TRUE(wait_until([&] { return !api_device(server, "flaky").value("online", true); }, 3s));
  const json d = api_device(server, "flaky");
  const json summary = device.summary()["devices"][0];
  std::cout << "server: " << d.dump() << "\ndevice: " << summary.dump() << "\n";
  const std::uint64_t captured = summary.value("frames_captured", 0ull);
  const std::uint64_t received = d.value("frames", 0ull);
  // Every frame captured and not received is in a gap the server counted.
  const std::uint64_t lost_frames = d.value("lost_samples", 0ull) / 320;
  EXPECT_EQ(d.value("lost_samples", 0ull) % 320, 0u);
  EXPECT_GE(d.value("gaps", 0ull), 3u);
  // Exactly the frames the device knows it lost: the one each cut tore in
  // half, and any its queue dropped while the link was down.
  EXPECT_EQ(lost_frames, summary.value("cuts", 0ull) + summary.value("frames_dropped", 0ull));
  EXPECT_LE(received + lost_frames, captured) << "frames still queued at the stop are not a gap";
  // Each reconnect waited the first backoff step (500 ms, jitter only
  // shortens it): an accepted link resets the backoff.
  const std::string log = device.log();
  const std::regex retry(R"(retrying in ([0-9.]+) s)");
  int retries = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), retry); it != std::sregex_iterator(); ++it) {
    EXPECT_LE(std::stod((*it)[1].str()), 0.5) << (*it)[0].str();
    ++retries;
  }
  EXPECT_GE(retries, 3) << log;
}

TEST_F(DeviceTest, TheServerMeasuresA300PpmFastClockWithin50Ppm) {
  ServerProcess server(server_options());
  DeviceProcess device(server.ingest_port(), {"--id", "fast", "--link", "plain", "--clock-ppm", "300", "--codec", "ima-adpcm"},
                       dir.path(), "fast");
  json d;
  ASSERT_TRUE(wait_until(
      [&] {
        d = api_device(server, "fast");
        return d.value("frames", 0) >= 600 && d["drift_ppm"].is_number();  // 12 s of audio
      },
      20s, 200ms))
      << device.log();
  std::cout << "measured drift " << d["drift_ppm"] << " ppm, rate " << d["measured_sample_rate"] << " Hz\n";
  EXPECT_NEAR(d["drift_ppm"].get<double>(), 300.0, 50.0);
  EXPECT_NEAR(d["measured_sample_rate"].get<double>(), 16000 * 1.0003, 0.8);
}

TEST_F(DeviceTest, SendJitterVariesTheDelayWithoutSlowingTheLink) {
  // 10 ms frames, each held 0..20 ms: the mean hold equals the frame period,
  // so a hold in series (each send waiting before the next) would fall behind
  // and fill the queue; delay variation must not.
  ServerProcess server(server_options());
  WsListener listener(server.http_port(), {.target = "/ws?device=jittery"});
  DeviceProcess device(server.ingest_port(),
                       {"--id", "jittery", "--link", "plain", "--frame-ms", "10", "--block-samples", "160", "--send-jitter-ms", "20"},
                       dir.path(), "jittery");
  ASSERT_TRUE(listener.wait_audio_count(800, 15s)) << device.log();  // 8 s
  EXPECT_EQ(device.stop(), 0);
  const auto audio = listener.audio();
  // Transit (arrival less capture, both on the server's clock) once the
  // device's clock offset has settled (from 2 s on), in two halves.
  std::vector<double> first, second;
  for (std::size_t i = 200; i < 800; ++i) {
    const double transit_ms = (audio[i].system_us - audio[i].capture_time_us) / 1000.0;
    (i < 500 ? first : second).push_back(transit_ms);
  }
  const auto quantile = [](std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
  };
  const double spread = quantile(second, 0.95) - quantile(second, 0.05);
  const double growth = quantile(second, 0.5) - quantile(first, 0.5);
  std::cout << "transit: median " << quantile(first, 0.5) << " then " << quantile(second, 0.5) << " ms, 5-95 % spread "
            << spread << " ms\n";
  EXPECT_GT(spread, 10.0) << "the delay does not vary";
  EXPECT_LT(spread, 30.0);
  EXPECT_LT(std::abs(growth), 5.0) << "the delay grows: the link falls behind";
  const json summary = device.summary()["devices"][0];
  EXPECT_EQ(summary.value("frames_dropped", -1), 0) << summary.dump();
}

TEST_F(DeviceTest, ATlsLinkStreamsAndTheServerSaysItIsTls) {
  ServerOptions options = server_options({{"kitchen", "the-right-secret"}});
  options.plain_devices = false;  // as deployed: TLS links only
  ServerProcess server(options);
  WsListener listener(server.http_port(), {.target = "/ws?device=kitchen"});
  DeviceProcess device(server.ingest_port(), {"--id", "kitchen", "--secret", "the-right-secret", "--codec", "pcm16"},
                       dir.path(), "kitchen");
  ASSERT_TRUE(listener.wait_audio_count(50, 10s)) << device.log();
  const auto audio = listener.audio();
  for (std::size_t i = 1; i < audio.size(); ++i) {
    ASSERT_EQ(audio[i].first_sample, audio[i - 1].first_sample + audio[i - 1].sample_count) << "frame " << i;
  }
  EXPECT_EQ(api_device(server, "kitchen").value("link", ""), "tls");
  EXPECT_EQ(device.stop(), 0);
  EXPECT_NE(device.log().find("(TLS link)"), std::string::npos) << device.log();
}

TEST_F(DeviceTest, AWrongSecretFailsTheTlsHandshakeWithALogLineOnBothSides) {
  ServerProcess server(server_options({{"kitchen", "the-right-secret"}}));
  DeviceProcess device(server.ingest_port(), {"--id", "kitchen", "--secret", "a-wrong-secret"}, dir.path(), "kitchen");
  EXPECT_TRUE(server.wait_for_log_line(
      [](std::string_view line) { return line.find("refused: TLS handshake failed") != std::string_view::npos; }, 5s));
  ASSERT_TRUE(wait_until([&] { return device.log().find("TLS handshake") != std::string::npos; }, 5s)) << device.log();
  EXPECT_EQ(device.stop(), 0);
  EXPECT_TRUE(api_device(server, "kitchen").empty()) << "a refused device never streamed";
}

TEST_F(DeviceTest, AWrongSecretOnAPlainLinkIsRefusedWithAnErrorAndALogLine) {
  ServerProcess server(server_options({{"kitchen", "the-right-secret"}}));  // plain links allowed
  DeviceProcess device(server.ingest_port(), {"--id", "kitchen", "--link", "plain", "--secret", "a-wrong-secret"},
                       dir.path(), "kitchen");
  EXPECT_TRUE(server.wait_for_log_line(
      [](std::string_view line) {
        return line.find("kitchen") != std::string_view::npos && line.find("auth_failed") != std::string_view::npos;
      },
      5s));
  ASSERT_TRUE(wait_until([&] { return device.log().find("auth_failed") != std::string::npos; }, 5s)) << device.log();
  EXPECT_EQ(device.stop(), 0);
  EXPECT_TRUE(api_device(server, "kitchen").empty()) << "a refused device never streamed";
}

TEST_F(DeviceTest, APlainDeviceIsToldTheServerWantsTls) {
  ServerOptions options = server_options({{"kitchen", "the-right-secret"}});
  options.plain_devices = false;
  ServerProcess server(options);
  DeviceProcess device(server.ingest_port(), {"--id", "kitchen", "--link", "plain", "--secret", "the-right-secret"},
                       dir.path(), "kitchen");
  ASSERT_TRUE(wait_until([&] { return device.log().find("tls_required") != std::string::npos; }, 5s)) << device.log();
  EXPECT_EQ(device.stop(), 0);
  EXPECT_TRUE(api_device(server, "kitchen").empty());
}

TEST_F(DeviceTest, FiftyDevicesInOneProcessStreamWithNothingLost) {
  ServerProcess server(server_options());
  // The shipped queue (500 ms). Starting 100 threads and 50 handshakes under
  // the sanitizers on a busy machine can take longer than that; what the
  // queue drops before a device's first link is its start-up, counted apart.
  DeviceProcess devices(server.ingest_port(), {"--id", "farm", "--link", "plain", "--count", "50", "--codec", "ima-adpcm"},
                        dir.path(), "farm");
  ASSERT_TRUE(wait_until(
      [&] {
        const json all = json::parse(http_get(server.http_port(), "/api/devices").body);
        if (all.size() < 50) return false;
        for (const auto& d : all) {
          if (d.value("frames", 0) < 150) return false;  // 3 s each
        }
        return true;
      },
      20s, 200ms))
      << devices.log();
  const json all = json::parse(http_get(server.http_port(), "/api/devices").body);
  for (const auto& d : all) {
    EXPECT_EQ(d.value("gaps", -1), 0) << d.dump();
    EXPECT_EQ(d.value("connections", 0), 1) << d.dump();
  }
  EXPECT_EQ(devices.stop(), 0);
  const json summary = devices.summary();  // a named object: the loop below holds references into it
  for (const auto& s : summary["devices"]) {
    EXPECT_EQ(s.value("frames_dropped", -1), s.value("frames_dropped_before_link", -2))
        << "every drop came before the first link: " << s.dump();
  }
}

}  // namespace
}  // namespace micstream::itest
