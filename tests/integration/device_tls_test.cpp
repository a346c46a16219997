// TLS-PSK device links against the real server: a device that knows its
// secret gets a TLS link and streams through it; a wrong secret or an
// unknown id cannot even finish the handshake (so a server that does not
// know the secret could not either: the device side of that is
// firmware/host's rogue-server test); a HELLO may not name another device
// than the key did; and a server that takes TLS links only tells a plain
// device so, in the clear.
#include <gtest/gtest.h>

#include "harness.h"
#include "test_device.h"
#include "ws_listener.h"

#ifndef MICSTREAM_SERVER_BINARY
#error "MICSTREAM_SERVER_BINARY must name the micstream-server executable"
#endif

namespace micstream::itest {
namespace {

constexpr const char* kKitchen = "kitchen-secret-0123456789";
constexpr const char* kGarage = "garage-secret-9876543210";

class DeviceTlsTest : public ::testing::Test {
 protected:
  void start(bool plain_devices) {
    ServerOptions o;
    o.binary = MICSTREAM_SERVER_BINARY;
    o.secrets = {{"kitchen", kKitchen}, {"garage", kGarage}};
    o.plain_devices = plain_devices;
    server_ = std::make_unique<ServerProcess>(o);
  }
  void TearDown() override {
    if (!server_) return;
    EXPECT_EQ(server_->terminate(5s), std::optional<int>(0));
    if (HasFailure()) std::cerr << "---- server log:\n" << server_->log_tail(8000) << "---- end\n";
  }
  [[nodiscard]] double auth_failures() const {
    return Metrics::parse(http_get(server_->http_port(), "/metrics").body).sum("micstream_auth_failures_total");
  }
  std::unique_ptr<ServerProcess> server_;
};

DeviceParams kitchen() {
  DeviceParams p;
  p.id = "kitchen";
  p.secret = kKitchen;
  return p;
}

TEST_F(DeviceTlsTest, ADeviceWithItsSecretStreamsOverTls) {
  start(false);
  TestDevice device(server_->ingest_port(), TlsPsk{"kitchen", kKitchen});
  device.handshake(kitchen());
  WsListener listener(server_->http_port(), ListenerOptions{.target = "/ws?device=kitchen"});
  const auto sent = stream_audio(device, kitchen(), StreamSpec{.frames = 20});
  ASSERT_TRUE(listener.wait_audio_count(15, 5s));
  // What arrived is what was sent, through TLS.
  const auto audio = listener.audio();
  const auto& last = audio.back();
  ASSERT_LT(last.sequence, sent.size());
  EXPECT_EQ(last.payload, sent[last.sequence].payload);
  EXPECT_TRUE(server_->wait_for_log_line([](std::string_view l) { return contains(l, "TLS link for device kitchen"); },
                                         1s));
}

TEST_F(DeviceTlsTest, AWrongSecretOrAnUnknownIdCannotFinishTheHandshake) {
  start(false);
  EXPECT_THROW(TestDevice(server_->ingest_port(), TlsPsk{"kitchen", "not-the-kitchen-secret"}), std::runtime_error);
  EXPECT_THROW(TestDevice(server_->ingest_port(), TlsPsk{"attic", "anything"}), std::runtime_error);
  EXPECT_EQ(auth_failures(), 2);
  // The real device still gets in.
  TestDevice device(server_->ingest_port(), TlsPsk{"kitchen", kKitchen});
  EXPECT_NO_THROW(device.handshake(kitchen()));
}

TEST_F(DeviceTlsTest, AHelloMayNotNameAnotherDeviceThanTheKeyDid) {
  start(false);
  TestDevice device(server_->ingest_port(), TlsPsk{"kitchen", kKitchen});
  DeviceParams garage;
  garage.id = "garage";
  garage.secret = kGarage;  // even with the garage's own proof
  device.handshake(garage);
  const auto error = device.read_error(3s);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, Errc::auth_failed);
  EXPECT_TRUE(contains(error->reason.view(), "kitchen")) << error->reason.view();
}

TEST_F(DeviceTlsTest, ATlsOnlyServerTellsAPlainDeviceInTheClear) {
  start(false);
  TestDevice plain(server_->ingest_port());
  plain.handshake(kitchen());  // the WELCOME every link opens with, then a plain HELLO
  const auto error = plain.read_error(3s);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, Errc::tls_required);
  EXPECT_TRUE(plain.wait_closed(3s));
  const auto devices = nlohmann::json::parse(http_get(server_->http_port(), "/api/devices").body);
  EXPECT_TRUE(devices.empty()) << "the plain HELLO was taken: " << devices.dump();
}

TEST_F(DeviceTlsTest, PlainLinksWorkWhereAllowedAndTlsStillDoes) {
  start(true);
  TestDevice plain(server_->ingest_port());
  EXPECT_NO_THROW(plain.handshake(kitchen()));
  DeviceParams garage;
  garage.id = "garage";
  garage.secret = kGarage;
  TestDevice tls(server_->ingest_port(), TlsPsk{"garage", kGarage});
  EXPECT_NO_THROW(tls.handshake(garage));
  ReceivedFrame frame;
  EXPECT_EQ(tls.read_frame(frame, 500ms), TestDevice::ReadStatus::timeout) << "no ERROR for an accepted HELLO";
}

}  // namespace
}  // namespace micstream::itest
