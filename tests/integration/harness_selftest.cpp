// Tests of the integration harness itself, against in-process fakes: the test
// device against a fake ingest server that decodes with core's parser, the
// WebSocket listener against a fake Beast server, ServerProcess against a
// shell script. They need no micstream-server, so a broken harness shows up
// as a harness failure rather than as a server bug.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>

#include <atomic>
#include <iostream>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <filesystem>
#include <thread>

#include "harness.h"
#include "micstream/auth.h"
#include "micstream/frame_parser.h"
#include "micstream/listener_audio.h"
#include "test_device.h"
#include "ws_listener.h"

namespace micstream::itest {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

// ---- a fake ingest server: one connection, core's parser ----

struct Received {
  std::vector<std::pair<proto::FrameType, std::vector<std::uint8_t>>> frames;
  Errc parse_error = Errc::ok;
  bool proof_ok = false;
  proto::Hello hello;
};

class FakeIngest {
 public:
  FakeIngest() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { run(); });
  }
  ~FakeIngest() {
    beast::error_code ec;
    acceptor_.close(ec);
    if (thread_.joinable()) thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  /// What the server will do after HELLO: answer PINGs, or send this error and close.
  Errc error_after_hello = Errc::ok;
  std::string secret = "secret-01";
  std::uint8_t nonce[proto::kNonceSize] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};

  Received wait_result() {
    thread_.join();
    return result_;
  }

 private:
  template <class M>
  void send(tcp::socket& s, const M& m) {
    std::vector<std::uint8_t> out(proto::kMaxFrameSize);
    auto r = proto::encode(m, out);
    ASSERT_TRUE(r.ok());
    net::write(s, net::buffer(out.data(), r.value));
  }

  void run() {
    beast::error_code ec;
    tcp::socket s(ioc_);
    acceptor_.accept(s, ec);
    if (ec) return;
    proto::Welcome w;
    std::copy(std::begin(nonce), std::end(nonce), w.nonce);
    w.server_time_us = static_cast<std::uint64_t>(system_us());
    send(s, w);

    std::vector<std::uint8_t> storage(proto::kMaxFrameSize);
    proto::FrameParser parser(storage);
    std::uint8_t buf[4096];
    while (true) {
      const std::size_t n = s.read_some(net::buffer(buf), ec);
      if (ec) return;
      std::span<const std::uint8_t> in(buf, n);
      while (!in.empty()) {
        auto step = parser.feed(in);
        in = in.subspan(step.consumed);
        if (step.status == proto::FrameParser::Status::error) {
          result_.parse_error = parser.error();
          proto::ErrorMessage e;
          e.code = parser.error();
          send(s, e);
          return;
        }
        if (step.status != proto::FrameParser::Status::frame) continue;
        const auto t1 = static_cast<std::uint64_t>(system_us());
        const auto& f = parser.frame();
        result_.frames.emplace_back(f.type, std::vector<std::uint8_t>(f.payload.begin(), f.payload.end()));
        if (f.type == proto::FrameType::hello) {
          EXPECT_EQ(proto::decode(f.payload, result_.hello), Errc::ok);
          std::uint8_t expected[proto::kProofSize];
          EXPECT_EQ(compute_proof({reinterpret_cast<const std::uint8_t*>(secret.data()), secret.size()},
                                  std::span<const std::uint8_t, proto::kNonceSize>(nonce),
                                  result_.hello.device_id.view(), expected),
                    Errc::ok);
          result_.proof_ok = proofs_equal(expected, result_.hello.proof);
          if (error_after_hello != Errc::ok) {
            proto::ErrorMessage e;
            e.code = error_after_hello;
            (void)e.reason.assign("fake says no");
            send(s, e);
            s.close();
            return;
          }
        } else if (f.type == proto::FrameType::ping) {
          proto::Ping p;
          EXPECT_EQ(proto::decode(f.payload, p), Errc::ok);
          proto::Pong pong;
          pong.id = p.id;
          pong.device_time_us = p.device_time_us;
          pong.server_receive_us = t1;
          pong.server_send_us = static_cast<std::uint64_t>(system_us());
          send(s, pong);
        }
      }
    }
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  Received result_;
};

TEST(TestDevice, HandshakeClockSyncAudioAndStatsDecodeWithCoreParser) {
  FakeIngest fake;
  DeviceParams params;
  params.id = "mic-07";
  params.codec = Codec::ima_adpcm;
  params.channels = 2;
  params.samples_per_frame = 160;
  params.sample_rate = 8000;
  std::vector<SentFrame> sent;
  std::int64_t offset = 0;
  {
    TestDevice dev(fake.port());
    const auto w = dev.handshake(params);
    EXPECT_EQ(w.nonce[0], 9);
    offset = dev.sync_clock(3);
    // The device clock is the steady clock: the offset maps it to the system clock.
    EXPECT_NEAR(static_cast<double>(offset), static_cast<double>(system_us() - steady_us()), 5000.0);
    EXPECT_LT(dev.clock().rtt_us(), 100000u);
    StreamSpec spec;
    spec.first_sequence = 41;
    spec.first_sample = 41u * 160u;
    spec.frames = 5;
    spec.seed = 3;
    spec.interval = std::chrono::microseconds(1000);
    sent = stream_audio(dev, params, spec);
    proto::Stats st;
    st.uptime_s = 77;
    st.frames_sent = 5;
    dev.send_stats(st);
  }
  const Received r = fake.wait_result();
  EXPECT_EQ(r.parse_error, Errc::ok);
  EXPECT_TRUE(r.proof_ok);
  EXPECT_EQ(r.hello.device_id.view(), "mic-07");
  EXPECT_EQ(r.hello.codec, Codec::ima_adpcm);
  EXPECT_EQ(r.hello.channels, 2);
  EXPECT_EQ(r.hello.samples_per_frame, 160);
  EXPECT_EQ(r.hello.sample_rate, 8000u);

  std::vector<proto::Ping> pings;
  std::vector<std::vector<std::uint8_t>> audio;
  bool stats_seen = false;
  for (const auto& [type, payload] : r.frames) {
    if (type == proto::FrameType::ping) {
      proto::Ping p;
      ASSERT_EQ(proto::decode(payload, p), Errc::ok);
      pings.push_back(p);
    } else if (type == proto::FrameType::audio) {
      audio.push_back(payload);
    } else if (type == proto::FrameType::stats) {
      proto::Stats st;
      ASSERT_EQ(proto::decode(payload, st), Errc::ok);
      EXPECT_EQ(st.uptime_s, 77u);
      stats_seen = true;
    }
  }
  EXPECT_TRUE(stats_seen);
  ASSERT_EQ(pings.size(), 4u);
  EXPECT_EQ(pings[0].rtt_us, proto::kRttUnknown);
  EXPECT_EQ(pings.back().clock_offset_us, offset);  // the last PING carries the estimate
  EXPECT_NE(pings.back().rtt_us, proto::kRttUnknown);

  ASSERT_EQ(audio.size(), sent.size());
  for (std::size_t i = 0; i < audio.size(); ++i) {
    proto::Audio a;
    ASSERT_EQ(proto::decode(audio[i], a), Errc::ok);
    EXPECT_EQ(a.header, sent[i].header);
    EXPECT_EQ(a.header.sequence, 41u + i);
    EXPECT_EQ(a.header.first_sample, (41u + i) * 160u);
    ASSERT_EQ(a.payload.size(), encoded_size(Codec::ima_adpcm, 2, 160));
    EXPECT_TRUE(std::equal(a.payload.begin(), a.payload.end(), sent[i].payload.begin()));
    std::vector<std::int16_t> pcm(320);
    EXPECT_TRUE(decode_frame(Codec::ima_adpcm, 2, 160, a.payload, pcm).ok());
  }
  // Capture time: one frame (20 ms) before the send, on the device clock.
  EXPECT_EQ(static_cast<std::int64_t>(sent[0].header.capture_time_us), sent[0].send_steady_us - 20000);
}

TEST(TestDevice, ReadsErrorAndClose) {
  FakeIngest fake;
  fake.error_after_hello = Errc::auth_failed;
  TestDevice dev(fake.port());
  DeviceParams params;
  params.secret = "wrong";
  dev.handshake(params);
  auto e = dev.read_error(2s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, Errc::auth_failed);
  EXPECT_EQ(e->reason.view(), "fake says no");
  EXPECT_TRUE(dev.wait_closed(2s));
  EXPECT_FALSE(fake.wait_result().proof_ok);
}

TEST(TestDevice, RawGarbageIsSeenByTheParser) {
  FakeIngest fake;
  TestDevice dev(fake.port());
  (void)dev.read_welcome();
  const std::uint8_t garbage[] = {'G', 'E', 'T', ' ', '/'};
  ASSERT_TRUE(dev.send_raw(garbage));
  auto e = dev.read_error(2s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, Errc::bad_magic);
  EXPECT_EQ(fake.wait_result().parse_error, Errc::bad_magic);
}

TEST(TestDevice, PayloadsAreValidAndDistinct) {
  for (Codec c : {Codec::pcm16, Codec::mulaw, Codec::ima_adpcm}) {
    for (unsigned ch : {1u, 2u}) {
      auto a = make_payload(c, ch, 320, 1, 0);
      auto b = make_payload(c, ch, 320, 1, 1);
      auto a2 = make_payload(c, ch, 320, 1, 0);
      auto other = make_payload(c, ch, 320, 2, 0);
      EXPECT_EQ(a.size(), encoded_size(c, ch, 320));
      EXPECT_EQ(a, a2);
      EXPECT_NE(a, b);
      EXPECT_NE(a, other);
      std::vector<std::int16_t> pcm(640);
      EXPECT_TRUE(decode_frame(c, ch, 320, a, pcm).ok());
    }
  }
}

// ---- a fake WebSocket server ----

std::vector<std::uint8_t> audio_message(std::uint32_t seq, std::size_t payload) {
  std::vector<std::uint8_t> p(payload);
  for (std::size_t i = 0; i < payload; ++i) p[i] = static_cast<std::uint8_t>(seq + i);
  listener::Audio a;
  a.codec = listener::ListenerCodec::pcm16;
  a.channels = 1;
  a.sequence = seq;
  a.first_sample = seq * 320ull;
  a.capture_server_us = 1'763'999'995'001'010;
  a.sample_rate = 16000;
  a.sample_count = static_cast<std::uint16_t>(payload / 2);
  a.payload = p;
  std::vector<std::uint8_t> m(listener::kAudioHeaderSize);
  EXPECT_EQ(listener::encode_audio_header(a, std::span<std::uint8_t, listener::kAudioHeaderSize>(m.data(), m.size())),
            Errc::ok);
  m.insert(m.end(), p.begin(), p.end());
  return m;
}

TEST(WsListener, RecordsTextAndAudioAndCloseCode) {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), 0));
  std::string target_seen;
  std::string text_from_client;
  std::thread server([&] {
    tcp::socket s(ioc);
    acceptor.accept(s);
    websocket::stream<tcp::socket> ws(std::move(s));
    ws.accept();
    ws.text(true);
    ws.write(net::buffer(std::string(R"({"type":"welcome","server":"fake","server_time_us":1})")));
    ws.binary(true);
    for (std::uint32_t seq = 0; seq < 3; ++seq) ws.write(net::buffer(audio_message(seq, 640)));
    beast::flat_buffer buf;
    ws.read(buf);
    text_from_client = beast::buffers_to_string(buf.data());
    ws.close(websocket::close_code::policy_error);
    beast::error_code ec;
    while (!ec) ws.read(buf, ec);  // until the client's close answer
  });
  ListenerOptions lo;
  lo.target = "/ws?device=mic-01";
  WsListener l(acceptor.local_endpoint().port(), lo);
  ASSERT_TRUE(l.wait_audio_count(3, 3s));
  auto welcome = l.wait_text("welcome", 1s);
  ASSERT_TRUE(welcome.has_value());
  EXPECT_EQ((*welcome)["server"], "fake");
  auto audio = l.audio();
  ASSERT_EQ(audio.size(), 3u);
  for (std::uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(audio[i].error, Errc::ok);
    EXPECT_EQ(audio[i].sequence, i);
    EXPECT_EQ(audio[i].first_sample, i * 320u);
    EXPECT_EQ(audio[i].capture_time_us, 1'763'999'995'001'010);
    EXPECT_EQ(audio[i].sample_rate, 16000u);
    EXPECT_EQ(audio[i].sample_count, 320);
    ASSERT_EQ(audio[i].payload.size(), 640u);
    EXPECT_EQ(audio[i].payload[5], static_cast<std::uint8_t>(i + 5));
    EXPECT_GT(audio[i].steady_us, 0);
    EXPECT_GT(audio[i].system_us, 1'600'000'000'000'000);
  }
  EXPECT_TRUE(l.send_text(R"({"type":"ping","id":1,"t0":5})"));
  ASSERT_TRUE(l.wait_ended(3s));
  EXPECT_EQ(l.close_code(), 1008);
  server.join();
  EXPECT_EQ(text_from_client, R"({"type":"ping","id":1,"t0":5})");
}

// How many bytes a server can hand its kernel for a listener that stopped
// reading: this is what test 3 (stalled listener) relies on. Written with
// non-blocking sends of whole WebSocket frames until the kernel refuses.
std::size_t bytes_buffered_for_stalled_listener(const ListenerOptions& options, std::size_t* delivered_later) {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), 0));
  std::atomic<std::size_t> total{0};
  std::atomic<bool> paused{false};
  std::atomic<std::size_t> frames_written{0};
  std::thread server([&] {
    tcp::socket s(ioc);
    acceptor.accept(s);
    websocket::stream<tcp::socket> ws(std::move(s));
    ws.accept();
    while (!paused) std::this_thread::sleep_for(1ms);
    const int fd = ws.next_layer().native_handle();
    // A binary frame, unmasked (server to client), 4000-byte payload.
    std::vector<std::uint8_t> frame = {0x82, 126, 0x0f, 0xa0};
    frame.resize(4 + 4000, 0x55);
    std::size_t offset = 0;
    auto idle_since = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - idle_since < 300ms) {
      const ssize_t n = ::send(fd, frame.data() + offset, frame.size() - offset, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        total += static_cast<std::size_t>(n);
        offset += static_cast<std::size_t>(n);
        if (offset == frame.size()) {
          offset = 0;
          ++frames_written;
        }
        idle_since = std::chrono::steady_clock::now();
      } else {
        std::this_thread::sleep_for(1ms);
      }
    }
    // Finish the partial frame so the stream stays valid, then close.
    ::fcntl(fd, F_SETFL, 0);
    while (offset != 0 && offset < frame.size()) {
      const ssize_t n = ::send(fd, frame.data() + offset, frame.size() - offset, MSG_NOSIGNAL);
      if (n <= 0) break;
      offset += static_cast<std::size_t>(n);
    }
    if (offset == frame.size()) ++frames_written;
    beast::error_code ec;
    ws.close(websocket::close_code::normal, ec);
    beast::flat_buffer buf;
    while (!ec) ws.read(buf, ec);
  });
  WsListener l(acceptor.local_endpoint().port(), options);
  l.pause_reading();
  paused = true;
  std::this_thread::sleep_for(50ms);
  wait_until([&] { return total.load() > 0; }, 2s);
  // Wait for the server to give up (300 ms without progress).
  std::size_t last = 0;
  wait_until(
      [&] {
        const std::size_t now = total.load();
        const bool stable = now == last;
        last = now;
        return stable && now > 0;
      },
      5s, 400ms);
  l.resume_reading();
  EXPECT_TRUE(l.wait_ended(10s));
  server.join();
  if (delivered_later != nullptr) *delivered_later = l.audio_count();
  EXPECT_EQ(l.audio_count(), frames_written.load());
  return total.load();
}

TEST(WsListener, StalledListenerWithSmallBuffersBlocksTheServerQuickly) {
  std::size_t delivered = 0;
  ListenerOptions small_buffers;
  small_buffers.receive_buffer = kStallReceiveBuffer;
  small_buffers.max_segment = kStallMaxSegment;
  const std::size_t small = bytes_buffered_for_stalled_listener(small_buffers, &delivered);
  const std::size_t normal = bytes_buffered_for_stalled_listener(ListenerOptions{}, nullptr);
  std::cout << "bytes a server can write to a stalled listener: " << small << " with SO_RCVBUF " << kStallReceiveBuffer << " + TCP_MAXSEG "
            << kStallMaxSegment << ", "
            << normal << " with default options\n";
  EXPECT_GT(delivered, 0u);
  // Test 3 streams 48 kHz stereo PCM16 (192 kB/s): this must fill in well under a second.
  EXPECT_LT(small, 128u * 1024u);
}

// ---- ServerProcess against a script ----

TEST(ServerProcess, StartsWaitsForPortsCapturesLogAndTerminates) {
  TempDir dir("micstream-fake");
  const auto script = dir.path() / "fake-server.sh";
  write_file(script,
             "#!/bin/sh\n"
             "ports=''\n"
             "while [ $# -gt 0 ]; do case \"$1\" in --ports-file) ports=\"$2\"; shift;; esac; shift; done\n"
             "trap 'echo \"got TERM\"; exit 0' TERM\n"
             "echo 'fake server listening 127.0.0.1:1234 device mic-01 auth_failed'\n"
             "echo 'on stderr' >&2\n"
             "sleep 0.1\n"
             "printf '{\"http\": 1234, \"ingest\": 5678}' > \"$ports.tmp\" && mv \"$ports.tmp\" \"$ports\"\n"
             "while true; do sleep 0.02; done\n");
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  ServerOptions o;
  o.binary = script;
  o.secrets = {{"mic-01", "s1"}, {"dev.x", "s2"}};
  o.args = {"--extra"};
  ServerProcess p(o);
  EXPECT_EQ(p.http_port(), 1234);
  EXPECT_EQ(p.ingest_port(), 5678);
  EXPECT_TRUE(p.running());
  auto line = p.wait_for_log_line([](std::string_view l) { return contains(l, "mic-01") && contains(l, "auth_failed"); },
                                  2s);
  ASSERT_TRUE(line.has_value());
  EXPECT_TRUE(p.wait_for_log_line([](std::string_view l) { return l == "on stderr"; }, 2s).has_value());
  const std::string secrets = read_file(p.dir() / "secrets.toml");
  EXPECT_NE(secrets.find("[devices]\n"), std::string::npos);
  EXPECT_NE(secrets.find("mic-01 = \"s1\""), std::string::npos);
  EXPECT_NE(secrets.find("\"dev.x\" = \"s2\""), std::string::npos);
  EXPECT_EQ(p.terminate(3s), 0);
  EXPECT_TRUE(p.wait_for_log_line([](std::string_view l) { return l == "got TERM"; }, 1s).has_value());
}

TEST(ServerProcess, ReportsAnEarlyExitWithTheLog) {
  TempDir dir("micstream-fake");
  const auto script = dir.path() / "dies.sh";
  write_file(script, "#!/bin/sh\necho 'cannot bind: address in use' >&2\nexit 3\n");
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  try {
    ServerOptions o;
    o.binary = script;
    ServerProcess p(o);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("status 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot bind"), std::string::npos) << e.what();
  }
}

TEST(Metrics, ParsesPrometheusText) {
  const auto m = Metrics::parse(
      "# HELP micstream_devices Devices connected.\n"
      "# TYPE micstream_devices gauge\n"
      "micstream_devices 3\n"
      "micstream_dropped_frames_total{cause=\"listener_skip\"} 17\n"
      "micstream_dropped_frames_total{cause=\"other\",x=\"a\\\"b\"} 2 1700000000000\n"
      "micstream_bytes_in_total 1.5e+06\n");
  EXPECT_EQ(m.get("micstream_devices"), 3.0);
  EXPECT_EQ(m.get("micstream_dropped_frames_total", {{"cause", "listener_skip"}}), 17.0);
  EXPECT_EQ(m.get("micstream_dropped_frames_total", {{"x", "a\"b"}}), 2.0);
  EXPECT_EQ(m.sum("micstream_dropped_frames_total"), 19.0);
  EXPECT_EQ(m.get("micstream_bytes_in_total"), 1.5e6);
  EXPECT_FALSE(m.get("micstream_dropped_frames_total").has_value());
  EXPECT_FALSE(m.has("nope"));
  EXPECT_THROW(Metrics::parse("bad{x=1} 2\n"), std::runtime_error);
}

}  // namespace
}  // namespace micstream::itest
