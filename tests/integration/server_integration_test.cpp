// Integration tests of micstream-server against its contract (docs/protocol.md
// and the command line): the real binary in a child process, test devices on
// its ingest port, WebSocket listeners and HTTP on its http port.
//
// Every test starts its own server on ephemeral ports. On a failure the
// server's log tail is printed and its temporary directory kept.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "harness.h"
#include "micstream/codec.h"
#include "micstream/error.h"
#include "micstream/protocol.h"
#include "test_device.h"
#include "ws_listener.h"

#ifndef MICSTREAM_SERVER_BINARY
#error "MICSTREAM_SERVER_BINARY must name the micstream-server executable"
#endif

namespace micstream::itest {
namespace {

using nlohmann::json;

// ---- fixtures and helpers ----

std::map<std::string, std::string> default_secrets() {
  std::map<std::string, std::string> s;
  for (int i = 1; i <= 9; ++i) s["mic-0" + std::to_string(i)] = "secret-0" + std::to_string(i);
  return s;
}

DeviceParams device(const std::string& id, Codec codec = Codec::pcm16, std::uint8_t channels = 1,
                    std::uint16_t samples_per_frame = 320, std::uint32_t sample_rate = 16000) {
  DeviceParams p;
  p.id = id;
  const auto secrets = default_secrets();
  const auto it = secrets.find(id);
  p.secret = it != secrets.end() ? it->second : "no-secret-for-" + id;
  p.codec = codec;
  p.channels = channels;
  p.samples_per_frame = samples_per_frame;
  p.sample_rate = sample_rate;
  return p;
}

std::string errc_str(Errc e) { return std::string(error_name(e)) + " (" + std::to_string(static_cast<int>(e)) + ")"; }

/// A line of the log about this connection (its port) giving this reason (name or sentence).
std::function<bool(std::string_view)> log_line_about(std::uint16_t peer_port, Errc reason, std::string extra = {}) {
  return [peer_port, reason, extra](std::string_view line) {
    if (!contains(line, ":" + std::to_string(peer_port))) return false;
    if (!extra.empty() && !contains(line, extra)) return false;
    return icontains(line, error_name(reason)) || icontains(line, error_message(reason));
  };
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()))) - 1;
  return v[std::min(idx, v.size() - 1)];
}

class ServerTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args = {}, std::optional<std::map<std::string, std::string>> secrets = {}) {
    ServerOptions o;
    o.binary = MICSTREAM_SERVER_BINARY;
    o.secrets = secrets ? *secrets : default_secrets();
    o.args = std::move(args);
    server_ = std::make_unique<ServerProcess>(o);
  }

  void TearDown() override {
    if (!server_) return;
    if (!server_stopped_) {
      const auto status = server_->terminate(5s);
      EXPECT_EQ(status, std::optional<int>(0)) << "the server did not exit 0 on SIGTERM at the end of the test";
    }
    if (HasFailure()) {
      server_->keep_dir();
      std::cerr << "---- server command line:";
      for (const auto& a : server_->argv()) std::cerr << ' ' << a;
      std::cerr << "\n---- server log (" << server_->log_path().string() << "), last part:\n"
                << server_->log_tail(8000) << "---- end of server log\n";
    }
  }

  ServerProcess& server() { return *server_; }

  json get_json(const std::string& target) {
    const auto r = http_get(server_->http_port(), target);
    EXPECT_EQ(r.status, 200) << "GET " << target << ": " << r.body;
    EXPECT_TRUE(icontains(r.content_type, "json")) << "GET " << target << " Content-Type: " << r.content_type;
    return json::parse(r.body);
  }

  json api_devices() {
    json j = get_json("/api/devices");
    EXPECT_TRUE(j.is_array()) << j.dump();
    return j;
  }

  /// The /api/devices entry of id, or null.
  json api_device(const std::string& id) {
    for (const auto& d : api_devices()) {
      if (d.is_object() && d.value("id", std::string()) == id) return d;
    }
    return nullptr;
  }

  Metrics metrics() {
    const auto r = http_get(server_->http_port(), "/metrics");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(contains(r.content_type, "text/plain")) << r.content_type;
    return Metrics::parse(r.body);
  }

  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    const auto v = metrics().get(name, labels);
    EXPECT_TRUE(v.has_value()) << "no metric " << name;
    return v.value_or(-1);
  }

  /// A listener subscribed to device_id (empty: plain /ws), returned once the
  /// server has confirmed the subscription with its `stream` message.
  std::unique_ptr<WsListener> listen(const std::string& device_id, ListenerOptions options = {}) {
    options.target = device_id.empty() ? "/ws" : "/ws?device=" + device_id;
    auto l = std::make_unique<WsListener>(server_->http_port(), options);
    const auto stream = l->wait_text("stream", 3s);
    if (!stream) throw std::runtime_error("listener of " + device_id + " got no `stream` message");
    if (!device_id.empty() && stream->value("device", json()) != json(device_id)) {
      throw std::runtime_error("listener of " + device_id + " got `stream` " + stream->dump());
    }
    return l;
  }

  /// A device that connected, sent HELLO and measured its clock offset (the
  /// last PING carried it); a refused HELLO shows as the ERROR instead of PONG.
  struct Device {
    std::unique_ptr<TestDevice> link;
    DeviceParams params;
    std::int64_t offset_us = 0;  ///< the estimate the server was given
  };
  Device connect_device(const DeviceParams& params) {
    Device d;
    d.params = params;
    d.link = std::make_unique<TestDevice>(server_->ingest_port());
    d.link->handshake(params);
    d.offset_us = d.link->sync_clock(3);
    return d;
  }

  std::unique_ptr<ServerProcess> server_;
  bool server_stopped_ = false;
};

struct DeliveryCheck {
  std::string problem;        ///< the first mismatch, empty when all is well
  std::size_t mapped = 0;     ///< frames whose capture time = device capture + reported offset
  std::size_t receive_time = 0;  ///< frames stamped with (about) the server's receive time
  std::vector<double> latency_ms;  ///< arrival (steady) - send (steady), per frame
};

/// Every frame sent arrived, once, in order, bit-exact, with the right 32-byte header.
DeliveryCheck check_delivery(const std::vector<AudioMessage>& got, const std::vector<SentFrame>& sent,
                             const DeviceParams& params, std::int64_t offset_us) {
  DeliveryCheck c;
  std::ostringstream why;
  if (got.size() != sent.size()) {
    why << "received " << got.size() << " audio messages, the device sent " << sent.size();
    if (!got.empty()) why << " (first seq " << got.front().sequence << ", last " << got.back().sequence << ")";
    c.problem = why.str();
  }
  const std::size_t n = std::min(got.size(), sent.size());
  for (std::size_t i = 0; i < n && c.problem.empty(); ++i) {
    const AudioMessage& g = got[i];
    const SentFrame& s = sent[i];
    auto fail = [&](const std::string& what) {
      why << "message " << i << " (sent seq " << s.header.sequence << "): " << what;
      c.problem = why.str();
    };
    if (g.error != Errc::ok) { fail(std::string("not an audio message: ") + error_message(g.error)); break; }
    if (g.sequence != s.header.sequence) { fail("sequence " + std::to_string(g.sequence)); break; }
    if (g.first_sample != s.header.first_sample) { fail("first_sample " + std::to_string(g.first_sample)); break; }
    if (g.codec != static_cast<std::uint8_t>(params.codec)) { fail("codec " + std::to_string(g.codec)); break; }
    if (g.channels != params.channels) { fail("channels " + std::to_string(g.channels)); break; }
    if (g.sample_rate != params.sample_rate) { fail("sample_rate " + std::to_string(g.sample_rate)); break; }
    if (g.sample_count != s.header.sample_count) { fail("sample_count " + std::to_string(g.sample_count)); break; }
    if (g.payload != s.payload) {
      fail("payload differs (" + std::to_string(g.payload.size()) + " bytes, sent " + std::to_string(s.payload.size()) +
           ")");
      break;
    }
    const std::int64_t mapped = static_cast<std::int64_t>(s.header.capture_time_us) + offset_us;
    if (std::llabs(g.capture_time_us - mapped) <= 2000) {
      ++c.mapped;
    } else if (g.capture_time_us >= s.send_system_us - 2000 && g.capture_time_us <= g.system_us + 2000) {
      ++c.receive_time;
    } else {
      fail("capture time " + std::to_string(g.capture_time_us) + " is neither device capture + offset (" +
           std::to_string(mapped) + ", off by " + std::to_string(g.capture_time_us - mapped) +
           " us) nor between send and arrival on the system clock [" + std::to_string(s.send_system_us) + ", " +
           std::to_string(g.system_us) + "]");
      break;
    }
    c.latency_ms.push_back(static_cast<double>(g.steady_us - s.send_steady_us) / 1000.0);
  }
  return c;
}

// ---- 1. many listeners, several devices: every frame, in order, bit-exact ----

TEST_F(ServerTest, EveryFrameReachesEveryListenerOfItsDeviceBitExact) {
  start();
  const std::vector<DeviceParams> params = {
      device("mic-01", Codec::pcm16, 1, 320, 16000),      // 20 ms, 640 bytes
      device("mic-02", Codec::mulaw, 1, 160, 8000),       // 20 ms, 160 bytes
      device("mic-03", Codec::ima_adpcm, 2, 960, 48000),  // 20 ms, 968 bytes
  };
  constexpr int kListeners = 50;
  constexpr int kFrames = 50;

  // Listeners first: a device that is not connected yet is fine to subscribe to.
  std::vector<std::unique_ptr<WsListener>> listeners;
  std::vector<std::size_t> listener_device;
  for (int i = 0; i < kListeners; ++i) {
    const std::size_t d = static_cast<std::size_t>(i) % params.size();
    listeners.push_back(listen(params[d].id));
    listener_device.push_back(d);
    const auto stream = listeners.back()->texts("stream").front();
    EXPECT_EQ(stream.value("online", true), false) << stream.dump();
  }
  // The first text message is `welcome`, with the server's clock.
  {
    const auto msgs = listeners[0]->messages();
    ASSERT_FALSE(msgs.empty());
    ASSERT_FALSE(msgs[0].binary);
    EXPECT_EQ(msgs[0].json.value("type", ""), "welcome") << msgs[0].text;
    ASSERT_TRUE(msgs[0].json.contains("server_time_us")) << msgs[0].text;
    EXPECT_NEAR(msgs[0].json["server_time_us"].get<double>(), static_cast<double>(msgs[0].system_us), 1e6);
    EXPECT_TRUE(msgs[0].json.contains("server")) << msgs[0].text;
    EXPECT_FALSE(listeners[0]->texts("devices").empty()) << "no `devices` message on connect";
  }

  std::vector<Device> devices;
  for (const auto& p : params) devices.push_back(connect_device(p));

  // Each listener hears its device come online, with the HELLO's parameters.
  for (int i = 0; i < kListeners; ++i) {
    const DeviceParams& p = params[listener_device[static_cast<std::size_t>(i)]];
    const auto online = listeners[static_cast<std::size_t>(i)]->wait_text(
        "stream", 3s, [](const json& j) { return j.value("online", false); });
    ASSERT_TRUE(online.has_value()) << "listener " << i << " of " << p.id << " never got stream online:true";
    EXPECT_EQ(online->value("device", ""), p.id);
    EXPECT_EQ(online->value("codec", ""), codec_name(p.codec));
    EXPECT_EQ(online->value("sample_rate", 0u), p.sample_rate);
    EXPECT_EQ(online->value("channels", 0u), p.channels);
    EXPECT_EQ(online->value("samples_per_frame", 0u), p.samples_per_frame);
  }

  std::vector<std::unique_ptr<BackgroundStream>> streams;
  for (std::size_t d = 0; d < devices.size(); ++d) {
    StreamSpec spec;
    spec.first_sequence = 1000 * static_cast<std::uint32_t>(d + 1);
    spec.first_sample = 7 * static_cast<std::uint64_t>(d);  // any start is fine; gaps are what counts
    spec.frames = kFrames;
    spec.seed = static_cast<std::uint32_t>(d + 11);
    streams.push_back(std::make_unique<BackgroundStream>(*devices[d].link, devices[d].params, spec));
  }
  std::vector<std::vector<SentFrame>> sent;
  for (auto& s : streams) {
    sent.push_back(s->join());
    ASSERT_EQ(s->error(), "");
  }

  std::vector<double> latencies;
  std::size_t mapped = 0, receive_time = 0;
  for (int i = 0; i < kListeners; ++i) {
    const auto& l = *listeners[static_cast<std::size_t>(i)];
    const std::size_t d = listener_device[static_cast<std::size_t>(i)];
    l.wait_audio_count(kFrames, 5s);
    const auto check = check_delivery(l.audio(), sent[d], params[d], devices[d].offset_us);
    EXPECT_EQ(check.problem, "") << "listener " << i << " of " << params[d].id;
    latencies.insert(latencies.end(), check.latency_ms.begin(), check.latency_ms.end());
    mapped += check.mapped;
    receive_time += check.receive_time;
  }
  std::cout << "delivered " << latencies.size() << " frames; latency p50 " << percentile(latencies, 50) << " ms, p99 "
            << percentile(latencies, 99) << " ms, max " << percentile(latencies, 100) << " ms; capture times: "
            << mapped << " device+offset, " << receive_time << " server receive time\n";
  EXPECT_EQ(latencies.size(), static_cast<std::size_t>(kListeners * kFrames));
  EXPECT_LT(percentile(latencies, 99), 100.0);
}

// ---- 2. a device that drops and comes back is heard again ----

TEST_F(ServerTest, ReconnectingDeviceIsHeardAgainWithTheGapCounted) {
  start();
  const DeviceParams p = device("mic-01");
  std::vector<std::unique_ptr<WsListener>> listeners;
  for (int i = 0; i < 3; ++i) listeners.push_back(listen(p.id));

  StreamSpec first;
  first.first_sequence = 0;
  first.first_sample = 0;
  first.frames = 10;
  std::vector<SentFrame> sent;
  std::int64_t first_offset = 0;
  {
    Device d = connect_device(p);
    first_offset = d.offset_us;
    sent = stream_audio(*d.link, p, first);
    for (auto& l : listeners) ASSERT_TRUE(l->wait_audio_count(10, 3s)) << l->audio_count();
    d.link->close();  // the device drops off
  }
  for (auto& l : listeners) {
    const auto offline = l->wait(
        [](const std::vector<WsMessage>& msgs) {
          bool seen_online = false;
          for (const auto& m : msgs) {
            if (m.binary || m.json.value("type", "") != "stream") continue;
            if (m.json.value("online", false)) seen_online = true;
            else if (seen_online) return true;
          }
          return false;
        },
        3s);
    ASSERT_TRUE(offline) << "no stream online:false after the device dropped";
  }
  EXPECT_EQ(api_device(p.id).value("online", true), false);

  // Same id again; 5 frames (1600 samples) were lost in between.
  constexpr std::uint32_t kLostFrames = 5;
  StreamSpec second;
  second.first_sequence = 10 + kLostFrames;
  second.first_sample = (10 + kLostFrames) * 320ull;
  second.frames = 10;
  Device again = connect_device(p);
  const auto sent2 = stream_audio(*again.link, p, second);

  for (std::size_t i = 0; i < listeners.size(); ++i) {
    auto& l = *listeners[i];
    ASSERT_TRUE(l.wait_audio_count(20, 3s)) << "listener " << i << " has " << l.audio_count() << " frames";
    // Bit-exact on both sides of the reconnect (each link has its own clock offset).
    const auto audio = l.audio();
    const std::vector<AudioMessage> before(audio.begin(), audio.begin() + 10), after(audio.begin() + 10, audio.end());
    EXPECT_EQ(check_delivery(before, sent, p, first_offset).problem, "") << "listener " << i << ", first link";
    EXPECT_EQ(check_delivery(after, sent2, p, again.offset_us).problem, "") << "listener " << i << ", second link";

    // The stream events in order: offline (subscribed before the device), online,
    // 10 frames, offline, online, 10 frames.
    std::string order;
    for (const auto& m : l.messages()) {
      if (m.binary) {
        order += 'a';
      } else if (m.json.value("type", "") == "stream") {
        order += m.json.value("online", false) ? '+' : '-';
      }
    }
    EXPECT_EQ(order, "-+aaaaaaaaaa-+aaaaaaaaaa") << "listener " << i << " (-/+: stream online false/true, a: audio)";
    // Before the device ever connected its stream's shape was unknown: null, not made up.
    for (const auto& m : l.messages()) {
      if (m.binary || m.json.value("type", "") != "stream") continue;
      EXPECT_TRUE(m.json["codec"].is_null() && m.json["sample_rate"].is_null()) << m.json.dump();
      break;
    }
  }

  // The gap is counted once, with exactly the samples lost.
  json d = api_device(p.id);
  ASSERT_TRUE(d.is_object()) << api_devices().dump();
  EXPECT_EQ(d.value("online", false), true);
  EXPECT_GE(d.value("gaps", 0), 1) << d.dump();
  EXPECT_EQ(d.value("lost_samples", 0), kLostFrames * 320) << d.dump();
  EXPECT_EQ(d.value("frames", 0), 20) << d.dump();
  EXPECT_EQ(d.value("listeners", 0), 3) << d.dump();
}

// ---- 3. a stalled listener does not delay the others ----

TEST_F(ServerTest, StalledListenerIsSkippedThenDroppedWithoutDelayingOthers) {
  constexpr int kStallMs = 1000;
  start({"--listener-queue-ms", "200", "--listener-stall-ms", std::to_string(kStallMs)});
  // 48 kHz stereo PCM16 in 10 ms frames: 192 kB/s fills a stalled socket fast.
  const DeviceParams p = device("mic-01", Codec::pcm16, 2, 480, 48000);
  std::vector<std::unique_ptr<WsListener>> normal;
  for (int i = 0; i < 5; ++i) normal.push_back(listen(p.id));
  ListenerOptions stall_opts;
  stall_opts.receive_buffer = kStallReceiveBuffer;
  stall_opts.max_segment = kStallMaxSegment;
  auto stalled = listen(p.id, stall_opts);

  Device d = connect_device(p);
  StreamSpec spec;
  spec.frames = 400;  // 4 s
  BackgroundStream stream(*d.link, p, spec);

  ASSERT_TRUE(stalled->wait_audio_count(10, 3s));
  stalled->pause_reading();
  const auto paused_at = std::chrono::steady_clock::now();

  // The stalled listener is skipped (counted) and, once its queue has not
  // emptied for --listener-stall-ms, disconnected; the others see nothing of it.
  bool skipped = false;
  std::optional<std::chrono::milliseconds> dropped_after;
  wait_until(
      [&] {
        if (!skipped) skipped = metric("micstream_dropped_frames_total", {{"cause", "listener_skip"}}) > 0;
        if (!dropped_after) {
          const json dev = api_device(p.id);
          if (dev.is_object() && dev.value("listeners", 6) == 5) {
            dropped_after = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                                  paused_at);
          }
        }
        return skipped && dropped_after;
      },
      3500ms, 20ms);
  const auto& sent = stream.join();
  ASSERT_EQ(stream.error(), "");
  EXPECT_TRUE(skipped) << "micstream_dropped_frames_total{cause=\"listener_skip\"} stayed 0";
  ASSERT_TRUE(dropped_after.has_value()) << "the stalled listener was not disconnected (/api/devices listeners: "
                                         << api_device(p.id).value("listeners", -1) << ")";
  std::cout << "stalled listener disconnected " << dropped_after->count() << " ms after it stopped reading\n";
  EXPECT_GE(dropped_after->count(), kStallMs - 100) << "disconnected before its queue could have been full for "
                                                    << kStallMs << " ms";
  EXPECT_LE(dropped_after->count(), kStallMs + 2000);
  EXPECT_TRUE(server().wait_for_log_line(
                  [&](std::string_view l) { return contains(l, ":" + std::to_string(stalled->local_port())); }, 1s))
      << "no log line about the stalled listener (port " << stalled->local_port() << ")";
  EXPECT_GE(metric("micstream_dropped_frames_total", {{"cause", "listener_skip"}}), 1);

  // Read what was buffered: the connection then ends; a close frame, if any, says 1008.
  stalled->resume_reading();
  EXPECT_TRUE(stalled->wait_ended(5s)) << "the stalled listener's connection is still open";
  if (stalled->close_code()) {
    EXPECT_EQ(*stalled->close_code(), 1008);
  }
  std::cout << "stalled listener ended: " << stalled->end_reason() << ", close code "
            << (stalled->close_code() ? std::to_string(*stalled->close_code()) : "none") << "\n";

  // The others got every frame, in time.
  std::vector<double> latencies;
  for (std::size_t i = 0; i < normal.size(); ++i) {
    normal[i]->wait_audio_count(sent.size(), 3s);
    const auto check = check_delivery(normal[i]->audio(), sent, p, d.offset_us);
    EXPECT_EQ(check.problem, "") << "listener " << i;
    EXPECT_TRUE(normal[i]->texts("skipped").empty()) << "listener " << i << " that reads was told it skipped";
    latencies.insert(latencies.end(), check.latency_ms.begin(), check.latency_ms.end());
  }
  const double p99 = percentile(latencies, 99);
  std::cout << "reading listeners: latency p50 " << percentile(latencies, 50) << " ms, p99 " << p99 << " ms, max "
            << percentile(latencies, 100) << " ms over " << latencies.size() << " frames\n";
  EXPECT_LT(p99, 50.0);
  EXPECT_EQ(metric("micstream_listeners"), 5);
}

// ---- 4. malformed input on the device port ----

TEST_F(ServerTest, MalformedDeviceInputGetsErrorLogAndCloseWhileOthersStream) {
  constexpr int kIdleMs = 500;
  start({"--device-idle-timeout-ms", std::to_string(kIdleMs), "--hello-timeout-ms", "3000"});
  const DeviceParams good = device("mic-01");
  auto listener = listen(good.id);
  Device d = connect_device(good);
  StreamSpec spec;
  spec.frames = 150;  // 3 s, across every bad connection below
  BackgroundStream stream(*d.link, good, spec);
  ASSERT_TRUE(listener->wait_audio_count(5, 3s));

  // A valid AUDIO frame to cut up or falsify.
  std::vector<std::uint8_t> audio_frame(proto::kMaxFrameSize);
  {
    proto::AudioHeader h;
    h.sample_count = 320;
    const auto payload = make_payload(Codec::pcm16, 1, 320, 5, 0);
    proto::Audio a{h, payload};
    auto r = proto::encode(a, audio_frame);
    ASSERT_TRUE(r.ok());
    audio_frame.resize(r.value);
  }

  struct Case {
    std::string name;
    std::string hello_as;  // device id to authenticate as first, or empty
    std::vector<std::uint8_t> bytes;
    Errc expected;
  };
  const std::string get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  std::vector<std::uint8_t> oversized(audio_frame.begin(), audio_frame.begin() + 8);
  oversized[4] = 0x01;  // length 16385 = kMaxPayload + 1
  oversized[5] = 0x40;
  oversized[6] = 0;
  oversized[7] = 0;
  std::vector<std::uint8_t> wrong_version = audio_frame;
  wrong_version[2] = 2;
  const std::vector<Case> cases = {
      {"garbage", "", std::vector<std::uint8_t>(get.begin(), get.end()), Errc::bad_magic},
      {"oversized length", "mic-05", oversized, Errc::frame_too_large},
      {"wrong version", "mic-06", wrong_version, Errc::unsupported_version},
      {"AUDIO before HELLO", "", audio_frame, Errc::unexpected_frame},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    TestDevice bad(server().ingest_port());
    if (c.hello_as.empty()) {
      (void)bad.read_welcome();
    } else {
      bad.handshake(device(c.hello_as));
    }
    ASSERT_TRUE(bad.send_raw(c.bytes));
    const auto error = bad.read_error(3s);
    ASSERT_TRUE(error.has_value()) << "no ERROR frame";
    EXPECT_EQ(errc_str(error->code), errc_str(c.expected)) << "reason: " << error->reason.view();
    EXPECT_TRUE(bad.wait_closed(3s)) << "the connection stayed open after the ERROR";
    EXPECT_TRUE(server().wait_for_log_line(log_line_about(bad.local_port(), c.expected), 2s))
        << "no log line with the peer port " << bad.local_port() << " and " << error_name(c.expected);
  }
  {
    SCOPED_TRACE("half a frame, then silence");
    TestDevice half(server().ingest_port());
    half.handshake(device("mic-07"));
    ASSERT_TRUE(half.send_raw(std::span<const std::uint8_t>(audio_frame).first(20)));
    const auto sent_at = std::chrono::steady_clock::now();
    const auto error = half.read_error(std::chrono::milliseconds(kIdleMs + 3000));
    const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - sent_at);
    ASSERT_TRUE(error.has_value()) << "no ERROR frame";
    EXPECT_EQ(errc_str(error->code), errc_str(Errc::timeout)) << "reason: " << error->reason.view();
    EXPECT_GE(after.count(), kIdleMs / 2) << "timed out too early";
    EXPECT_LE(after.count(), kIdleMs + 1500) << "timed out too late";
    EXPECT_TRUE(half.wait_closed(3s));
    EXPECT_TRUE(server().wait_for_log_line(log_line_about(half.local_port(), Errc::timeout), 2s))
        << "no log line with the peer port " << half.local_port() << " and timeout";
  }

  // Meanwhile the good device streamed on, undisturbed.
  const auto& sent = stream.join();
  ASSERT_EQ(stream.error(), "");
  ASSERT_TRUE(listener->wait_audio_count(sent.size(), 3s)) << listener->audio_count() << " of " << sent.size();
  const auto check = check_delivery(listener->audio(), sent, good, d.offset_us);
  EXPECT_EQ(check.problem, "");
  EXPECT_LT(percentile(check.latency_ms, 99), 50.0);
  EXPECT_EQ(api_device(good.id).value("online", false), true);
  EXPECT_GE(metric("micstream_parse_errors_total"), 3);
}

// ---- 5. authentication ----

TEST_F(ServerTest, WrongSecretAndUnknownDeviceAreRefused) {
  start();
  {
    DeviceParams p = device("mic-02");
    p.secret = "not-the-secret";
    TestDevice dev(server().ingest_port());
    dev.handshake(p);
    const auto error = dev.read_error(3s);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(errc_str(error->code), errc_str(Errc::auth_failed)) << error->reason.view();
    EXPECT_TRUE(dev.wait_closed(3s));
    EXPECT_TRUE(server().wait_for_log_line(log_line_about(dev.local_port(), Errc::auth_failed, "mic-02"), 2s))
        << "no log line with mic-02, port " << dev.local_port() << " and auth_failed";
  }
  {
    const DeviceParams p = device("nobody-42");
    TestDevice dev(server().ingest_port());
    dev.handshake(p);
    const auto error = dev.read_error(3s);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(errc_str(error->code), errc_str(Errc::unknown_device)) << error->reason.view();
    EXPECT_TRUE(dev.wait_closed(3s));
    EXPECT_TRUE(server().wait_for_log_line(log_line_about(dev.local_port(), Errc::unknown_device, "nobody-42"), 2s))
        << "no log line with nobody-42, port " << dev.local_port() << " and unknown_device";
  }
  // The right secret still works, and neither refused device shows up.
  Device ok = connect_device(device("mic-02"));
  const json devs = api_devices();
  ASSERT_EQ(devs.size(), 1u) << devs.dump();
  EXPECT_EQ(devs[0].value("id", ""), "mic-02");
  EXPECT_EQ(devs[0].value("online", false), true);
  EXPECT_GE(metric("micstream_auth_failures_total"), 1);
}

TEST_F(ServerTest, AllowUnknownDevicesAcceptsAnIdWithoutSecret) {
  start({"--allow-unknown-devices"}, std::map<std::string, std::string>{});
  DeviceParams p = device("anyone.7");
  p.secret = "whatever";
  Device d = connect_device(p);  // throws if refused
  auto listener = listen(p.id);
  StreamSpec spec;
  spec.frames = 5;
  const auto sent = stream_audio(*d.link, p, spec);
  ASSERT_TRUE(listener->wait_audio_count(5, 3s));
  EXPECT_EQ(check_delivery(listener->audio(), sent, p, d.offset_us).problem, "");
}

TEST_F(ServerTest, EveryListenerHearsOfACodecChangeInTheDeviceList) {
  start();
  DeviceParams p = device("mic-01");
  Device d = connect_device(p);
  auto other = listen("");  // listening to the first device; every listener gets the list
  StreamSpec spec;
  spec.frames = 3;
  stream_audio(*d.link, p, spec);
  p.codec = Codec::mulaw;
  spec.first_sequence = 3;
  spec.first_sample = 3 * p.samples_per_frame;
  stream_audio(*d.link, p, spec);
  const auto changed = other->wait_text("devices", 3s, [](const json& m) {
    return m["devices"].size() == 1 && m["devices"][0].value("codec", "") == "mulaw";
  });
  EXPECT_TRUE(changed) << "no devices message with the new codec";
}

// ---- 6. the numbers in /api/devices and /metrics ----

TEST_F(ServerTest, ApiAndMetricsReportWhatHappened) {
  start();
  const DeviceParams p = device("mic-01");  // PCM16 mono 16 kHz, 640-byte payloads
  constexpr int kFrames = 25;
  auto l1 = listen(p.id);
  auto l2 = listen(p.id);

  std::uint64_t ingest_bytes = 0;  // everything any test connection sent to the ingest port
  Device d = connect_device(p);
  proto::Stats st;
  st.uptime_s = 3617;
  st.frames_captured = 123457;
  st.frames_dropped = 11;
  st.frames_sent = 123446;
  st.reconnects = 3;
  st.free_heap_bytes = 151234;
  st.min_free_heap_bytes = 120001;
  st.wifi_rssi_dbm = -61;
  st.queue_depth = 2;
  d.link->send_stats(st);
  StreamSpec spec;
  spec.frames = kFrames;
  spec.interval = std::chrono::microseconds(5000);
  const auto sent = stream_audio(*d.link, p, spec);
  ASSERT_TRUE(l1->wait_audio_count(kFrames, 3s));
  ASSERT_TRUE(l2->wait_audio_count(kFrames, 3s));

  {  // one wrong secret
    DeviceParams bad = device("mic-02");
    bad.secret = "wrong";
    TestDevice dev(server().ingest_port());
    dev.handshake(bad);
    ASSERT_TRUE(dev.read_error(3s).has_value());
    ingest_bytes += dev.bytes_sent();
  }
  {  // one garbage link
    TestDevice dev(server().ingest_port());
    (void)dev.read_welcome();
    const std::uint8_t junk[] = {0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0};
    ASSERT_TRUE(dev.send_raw(junk));
    ASSERT_TRUE(dev.read_error(3s).has_value());
    ingest_bytes += dev.bytes_sent();
  }
  ingest_bytes += d.link->bytes_sent();
  const std::uint64_t audio_payload_bytes = kFrames * 640ull;

  // /api/health
  const json health = get_json("/api/health");
  EXPECT_EQ(health.value("status", ""), "ok") << health.dump();

  // /api/devices
  json dev = api_device(p.id);
  ASSERT_TRUE(dev.is_object()) << api_devices().dump();
  std::cout << "/api/devices entry: " << dev.dump() << "\n";
  for (const char* key : {"id", "address", "codec", "sample_rate", "channels", "connected_since_us", "online", "frames",
                          "gaps", "lost_samples", "bytes", "listeners", "measured_sample_rate", "drift_ppm", "stats"}) {
    EXPECT_TRUE(dev.contains(key)) << "/api/devices entry has no `" << key << "`: " << dev.dump();
  }
  EXPECT_EQ(dev.value("id", ""), "mic-01");
  EXPECT_TRUE(contains(dev.value("address", ""), "127.0.0.1")) << dev.dump();
  EXPECT_TRUE(contains(dev.value("address", ""), std::to_string(d.link->local_port()))) << dev.dump();
  EXPECT_EQ(dev.value("codec", ""), "pcm16");
  EXPECT_EQ(dev.value("sample_rate", 0), 16000);
  EXPECT_EQ(dev.value("channels", 0), 1);
  EXPECT_EQ(dev.value("online", false), true);
  EXPECT_EQ(dev.value("frames", -1), kFrames);
  EXPECT_EQ(dev.value("gaps", -1), 0);
  EXPECT_EQ(dev.value("lost_samples", -1), 0);
  EXPECT_EQ(dev.value("listeners", -1), 2);
  const auto dev_bytes = dev.value("bytes", 0ull);
  EXPECT_GE(dev_bytes, audio_payload_bytes) << "bytes counts less than the audio payloads";
  EXPECT_LE(dev_bytes, d.link->bytes_sent()) << "bytes counts more than the device sent";
  ASSERT_TRUE(dev["stats"].is_object()) << "no stats after a STATS frame: " << dev.dump();
  {
    std::vector<std::int64_t> values;
    for (const auto& [k, v] : dev["stats"].items()) {
      if (v.is_number()) values.push_back(v.get<std::int64_t>());
    }
    for (std::int64_t expected : {3617, 123457, 11, 123446, 151234, 120001, -61}) {
      EXPECT_NE(std::find(values.begin(), values.end(), expected), values.end())
          << "the STATS value " << expected << " is not in " << dev["stats"].dump();
    }
  }

  // /metrics
  const Metrics m = metrics();
  auto value = [&m](const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    const auto v = m.get(name, labels);
    EXPECT_TRUE(v.has_value()) << "no metric " << name;
    return v.value_or(-1);
  };
  EXPECT_EQ(value("micstream_devices"), 1);
  EXPECT_EQ(value("micstream_listeners"), 2);
  EXPECT_EQ(value("micstream_frames_in_total"), kFrames);
  EXPECT_EQ(value("micstream_frames_out_total"), 2 * kFrames) << "frames out: one per listener per frame";
  EXPECT_EQ(value("micstream_parse_errors_total"), 1);
  EXPECT_EQ(value("micstream_auth_failures_total"), 1);
  EXPECT_EQ(value("micstream_dropped_frames_total", {{"cause", "listener_skip"}}), 0);
  const double bytes_in = value("micstream_bytes_in_total");
  EXPECT_GE(bytes_in, static_cast<double>(audio_payload_bytes));
  EXPECT_LE(bytes_in, static_cast<double>(ingest_bytes)) << "more bytes in than the test sent";

  // A listener leaving and the device going away show up too.
  l2.reset();
  d.link->close();
  EXPECT_TRUE(wait_until([&] { return metrics().get("micstream_devices") == 0.0; }, 3s));
  EXPECT_TRUE(wait_until([&] { return metrics().get("micstream_listeners") == 1.0; }, 3s));
  dev = api_device(p.id);
  EXPECT_TRUE(dev.is_null() || dev.value("online", true) == false) << dev.dump();
}

// ---- 7. PING / PONG ----

TEST_F(ServerTest, PingIsAnsweredWithEchoAndServerClock) {
  start();
  const DeviceParams p = device("mic-01");
  TestDevice dev(server().ingest_port());
  const auto welcome = dev.handshake(p);
  EXPECT_NEAR(static_cast<double>(welcome.server_time_us), static_cast<double>(system_us()), 2e6);
  for (std::uint32_t id : {1u, 2u, 0xFFFFFFFFu, 77u}) {
    const auto x = dev.ping_exchange(id);  // throws unless id and t0 are echoed
    EXPECT_EQ(x.pong.id, id);
    EXPECT_EQ(x.pong.device_time_us, x.ping.device_time_us);
    EXPECT_LE(x.pong.server_receive_us, x.pong.server_send_us);
    // Same machine, same system clock: t1 and t2 lie between our send and receive.
    EXPECT_GE(static_cast<std::int64_t>(x.pong.server_receive_us), x.system_before_us - 1000);
    EXPECT_LE(static_cast<std::int64_t>(x.pong.server_send_us), x.system_after_us + 1000);
    EXPECT_LT(x.pong.server_send_us - x.pong.server_receive_us, 20000u);
  }
  // Any t0 comes back unchanged.
  proto::Ping odd;
  odd.id = 9;
  odd.device_time_us = 0xFEDCBA9876543210ull;
  dev.send_ping(odd);
  ReceivedFrame f;
  ASSERT_EQ(dev.read_frame(f, 3s), TestDevice::ReadStatus::frame);
  ASSERT_EQ(f.type, proto::FrameType::pong);
  proto::Pong pong;
  ASSERT_EQ(proto::decode(f.payload, pong), Errc::ok);
  EXPECT_EQ(pong.device_time_us, 0xFEDCBA9876543210ull);

  // The listener's JSON ping works the same way.
  auto l = listen("");
  const std::int64_t before = system_us();
  ASSERT_TRUE(l->send_text(R"({"type":"ping","id":7,"t0":123456.5})"));
  const auto reply = l->wait_text("pong", 3s);
  const std::int64_t after = system_us();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->value("id", 0), 7);
  EXPECT_EQ(reply->value("t0", 0.0), 123456.5);
  const auto t1 = reply->value("t1", 0ll), t2 = reply->value("t2", 0ll);
  EXPECT_LE(t1, t2);
  EXPECT_GE(t1, before - 1000);
  EXPECT_LE(t2, after + 1000);
}

// ---- 8. SIGTERM ----

TEST_F(ServerTest, SigtermSaysShuttingDownClosesListenersAndExitsZero) {
  start();
  const DeviceParams p1 = device("mic-01"), p2 = device("mic-02");
  std::vector<std::unique_ptr<WsListener>> listeners;
  listeners.push_back(listen(p1.id));
  listeners.push_back(listen(p1.id));
  listeners.push_back(listen(p2.id));
  Device d1 = connect_device(p1);
  Device d2 = connect_device(p2);
  StreamSpec spec;
  spec.frames = 150;
  BackgroundStream streaming(*d1.link, p1, spec);
  ASSERT_TRUE(listeners[0]->wait_audio_count(5, 3s));

  server().signal(SIGTERM);
  const auto signalled_at = std::chrono::steady_clock::now();
  for (Device* d : {&d1, &d2}) {
    const auto error = d->link->read_error(3s);
    ASSERT_TRUE(error.has_value()) << d->params.id << " got no ERROR";
    EXPECT_EQ(errc_str(error->code), errc_str(Errc::shutting_down)) << d->params.id << ": " << error->reason.view();
    EXPECT_TRUE(d->link->wait_closed(3s)) << d->params.id;
  }
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    ASSERT_TRUE(listeners[i]->wait_ended(3s)) << "listener " << i;
    EXPECT_TRUE(listeners[i]->close_code().has_value())
        << "listener " << i << " got no WebSocket close frame: " << listeners[i]->end_reason();
  }
  const auto exit_status = server().wait_exit(5s);
  server_stopped_ = true;
  EXPECT_EQ(exit_status, std::optional<int>(0)) << "exit status (negative: killed by that signal)";
  std::cout << "shutdown took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - signalled_at)
                   .count()
            << " ms; listener close code "
            << (listeners[0]->close_code() ? std::to_string(*listeners[0]->close_code()) : "none") << "\n";
  streaming.join();
}

// ---- 9. the server's own delivery delay ----

/// micstream_listener_delivery_seconds as /metrics gave it.
struct DeliveryHistogram {
  std::vector<std::pair<std::string, double>> buckets;  ///< le and cumulative count, in the order given
  double sum = -1;
  double count = -1;

  /// The cumulative count of bucket le (-1 when there is none).
  [[nodiscard]] double at_most(const std::string& le) const {
    for (const auto& [bound, n] : buckets) {
      if (bound == le) return n;
    }
    return -1;
  }
  [[nodiscard]] double mean_s() const { return count > 0 ? sum / count : 0; }
};

constexpr const char* kDeliveryMetric = "micstream_listener_delivery_seconds";

DeliveryHistogram delivery_histogram(const Metrics& m) {
  DeliveryHistogram h;
  const std::string name = kDeliveryMetric;
  for (const MetricSample& s : m.samples()) {
    if (s.name == name + "_bucket") h.buckets.emplace_back(s.labels.count("le") ? s.labels.at("le") : "?", s.value);
  }
  h.sum = m.get(name + "_sum").value_or(-1);
  h.count = m.get(name + "_count").value_or(-1);
  return h;
}

/// What is wrong with the histogram's shape (empty when nothing): the
/// documented buckets (docs/server.md), cumulative, +Inf equal to the count.
std::string histogram_shape_problem(const DeliveryHistogram& h) {
  const std::vector<std::string> expected = {"0.00005", "0.0001", "0.00025", "0.0005", "0.001",
                                             "0.0025",  "0.005",  "0.01",    "0.025",  "0.05",
                                             "0.1",     "0.25",   "0.5",     "1",      "+Inf"};
  std::vector<std::string> got;
  for (const auto& b : h.buckets) got.push_back(b.first);
  if (got != expected) {
    std::string list;
    for (const auto& le : got) list += le + " ";
    return "buckets le = " + list;
  }
  for (std::size_t i = 1; i < h.buckets.size(); ++i) {
    if (h.buckets[i].second < h.buckets[i - 1].second) return "bucket le=" + h.buckets[i].first + " is not cumulative";
  }
  if (h.buckets.back().second != h.count) return "+Inf bucket differs from _count";
  if (h.sum < 0 || h.count < 0) return "no _sum or _count";
  return {};
}

std::ostream& operator<<(std::ostream& out, const DeliveryHistogram& h) {
  out << "count " << h.count << ", sum " << h.sum << " s, buckets";
  for (const auto& [le, n] : h.buckets) out << ' ' << le << ':' << n;
  return out;
}

TEST_F(ServerTest, DeliveryDelayHistogramCountsEveryFrameTheListenersReceived) {
  start();
  const DeviceParams p = device("mic-01");
  constexpr int kFrames = 100;
  // A frame is counted when the write carrying it completes, which can come
  // just before or just after its listener has read it: a few frames a
  // listener either way.
  constexpr double kInFlight = 2 * 3;
  auto l1 = listen(p.id);
  auto l2 = listen(p.id);
  Device d = connect_device(p);
  const auto received = [&] { return static_cast<double>(l1->audio_count() + l2->audio_count()); };

  const DeliveryHistogram empty = delivery_histogram(metrics());
  EXPECT_EQ(histogram_shape_problem(empty), "") << empty;
  EXPECT_EQ(empty.count, 0) << empty;
  EXPECT_EQ(empty.sum, 0) << empty;

  StreamSpec spec;
  spec.frames = kFrames;
  spec.interval = std::chrono::microseconds(5000);  // 0.5 s of sending
  BackgroundStream stream(*d.link, p, spec);
  // While frames flow, the count follows what the listeners have read.
  for (int check = 0; check < 5; ++check) {
    std::this_thread::sleep_for(60ms);
    const double before = received();
    const DeliveryHistogram h = delivery_histogram(metrics());
    const double after = received();
    EXPECT_GE(h.count, before - kInFlight) << "check " << check << ": listeners had read " << before << "; " << h;
    EXPECT_LE(h.count, after + kInFlight) << "check " << check << ": listeners had read " << after << "; " << h;
  }
  stream.join();
  ASSERT_EQ(stream.error(), "");
  ASSERT_TRUE(l1->wait_audio_count(kFrames, 3s)) << l1->audio_count();
  ASSERT_TRUE(l2->wait_audio_count(kFrames, 3s)) << l2->audio_count();

  // Once all is read, exactly one observation a frame a listener.
  EXPECT_TRUE(wait_until([&] { return delivery_histogram(metrics()).count == 2 * kFrames; }, 3s));
  const Metrics m = metrics();
  const DeliveryHistogram h = delivery_histogram(m);
  std::cout << kDeliveryMetric << ": " << h << "; mean " << h.mean_s() * 1e6 << " us\n";
  EXPECT_EQ(histogram_shape_problem(h), "") << h;
  EXPECT_EQ(h.count, received()) << h;
  EXPECT_EQ(h.count, m.get("micstream_frames_out_total").value_or(-1)) << "nothing was skipped: every frame queued is delivered";
  // On loopback the server hands a frame on in well under half a second.
  EXPECT_GT(h.mean_s(), 0) << h;
  EXPECT_LT(h.mean_s(), 0.5) << h;
  EXPECT_EQ(h.count - h.at_most("0.5"), 0) << "a frame took longer than 0.5 s on loopback: " << h;
}

TEST_F(ServerTest, DeliveryDelayOfAFrameIncludesItsWaitForASlowListener) {
  // Queue and stall limits far above the pause: nothing is skipped or cut.
  start({"--listener-queue-ms", "5000", "--listener-stall-ms", "10000"});
  const DeviceParams p = device("mic-01", Codec::pcm16, 2, 480, 48000);  // 10 ms, 1920-byte frames
  ListenerOptions small_buffers;  // the kernel takes only ~60 KB for it before the server's writes wait
  small_buffers.receive_buffer = kStallReceiveBuffer;
  small_buffers.max_segment = kStallMaxSegment;
  auto l = listen(p.id, small_buffers);
  Device d = connect_device(p);

  StreamSpec first;
  first.frames = 5;
  first.interval = std::chrono::microseconds(2000);
  ASSERT_EQ(stream_audio(*d.link, p, first).size(), 5u);
  ASSERT_TRUE(l->wait_audio_count(5, 3s));
  l->pause_reading();

  constexpr int kBehind = 200;  // 384 kB in 0.4 s: most of it waits in the server
  StreamSpec spec;
  spec.first_sequence = 5;
  spec.first_sample = 5 * 480ull;
  spec.frames = kBehind;
  spec.interval = std::chrono::microseconds(2000);
  ASSERT_EQ(stream_audio(*d.link, p, spec).size(), static_cast<std::size_t>(kBehind));
  constexpr auto kPause = 600ms;  // after the last frame arrived
  std::this_thread::sleep_for(kPause);

  // Frames whose write has not completed are not counted yet.
  const DeliveryHistogram paused = delivery_histogram(metrics());
  EXPECT_LE(paused.count, 5 + kBehind - 64) << "frames behind a full socket counted before their write completed: "
                                            << paused;
  l->resume_reading();
  ASSERT_TRUE(l->wait_audio_count(5 + kBehind, 5s)) << l->audio_count();
  EXPECT_TRUE(wait_until([&] { return delivery_histogram(metrics()).count == 5 + kBehind; }, 3s));

  // Writes after the resume carry up to 64 frames each, and each frame counts
  // with its own wait: those of the last 100 ms of sending waited longer than
  // the pause, so well over 25 frames are above the 0.5 s bound.
  const DeliveryHistogram h = delivery_histogram(metrics());
  std::cout << kDeliveryMetric << ": " << h << "; mean " << h.mean_s() * 1e3 << " ms\n";
  EXPECT_EQ(histogram_shape_problem(h), "") << h;
  EXPECT_EQ(h.count, static_cast<double>(l->audio_count())) << h;
  EXPECT_GE(h.count - h.at_most("0.5"), 25) << "the wait behind the listener's socket was not measured: " << h;
  EXPECT_GT(h.at_most("0.01"), 0) << "the first frames, sent to a reading listener, were not quick: " << h;
}

}  // namespace
}  // namespace micstream::itest
