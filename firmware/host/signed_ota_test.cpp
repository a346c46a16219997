// The firmware's update decision (main/signed_ota.cpp and image_verifier.cpp,
// unchanged) against the real micstream-server serving --firmware-dir, with
// ota_shim.cpp standing in for esp_http_client, esp_https_ota and the OTA
// slot: a signed image is written and set to boot; a tampered, unsigned,
// foreign-signed or mis-sized one never is, and the log says why.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>

#include "esp_app_desc.h"
#include "harness.h"
#include "ota_shim.h"
#include "signed_ota.h"
#include "signing.h"

namespace micstream::firmware {
namespace {

using Bytes = sign::Bytes;
namespace fs = std::filesystem;

constexpr std::size_t kSlotSize = 512 * 1024;

// An app image as esp_https_ota sees one: magic 0xE9, the app description at
// offset 32 (version and ELF SHA-256 told apart by `seed`), random bytes after.
Bytes app_image(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  Bytes image(size);
  for (auto& b : image) b = static_cast<std::uint8_t>(rng());
  image[0] = 0xE9;
  esp_app_desc_t desc = {};
  desc.magic_word = ESP_APP_DESC_MAGIC_WORD;
  std::snprintf(desc.version, sizeof desc.version, "test-%u", seed);
  for (auto& b : desc.app_elf_sha256) b = static_cast<std::uint8_t>(rng());
  std::memcpy(image.data() + 32, &desc, sizeof desc);
  return image;
}

esp_app_desc_t description(const Bytes& image) {
  esp_app_desc_t desc;
  std::memcpy(&desc, image.data() + 32, sizeof desc);
  return desc;
}

class SignedOtaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    itest::ServerOptions options;
    options.binary = MICSTREAM_SERVER_BINARY;
    options.args = {"--firmware-dir", firmware_dir_.path().string(), "--no-mdns"};
    server_.emplace(options);
    url_ = "http://127.0.0.1:" + std::to_string(server_->http_port()) + "/firmware/micstream.bin";
    host_ota::reset(kSlotSize);
  }

  void publish(const Bytes& image, const Bytes* sig) {
    sign::write_file(firmware_dir_.path() / "micstream.bin", image);
    if (sig != nullptr) sign::write_file(firmware_dir_.path() / "micstream.bin.sig", *sig);
  }

  // install_signed_image() as the OTA task calls it; `log` gets what it logged.
  InstallResult install(std::string* log = nullptr) {
    InstallRequest request;
    request.image_url = url_.c_str();
    request.public_key = key_text_;
    request.running = &running_;
    request.timeout_ms = 3000;
    ::testing::internal::CaptureStderr();
    const InstallResult result = install_signed_image(request);
    const std::string logged = ::testing::internal::GetCapturedStderr();
    std::fputs(logged.c_str(), stderr);
    if (log != nullptr) *log = logged;
    return result;
  }

  const sign::Key key_ = sign::Key::generate();
  std::string key_text_ = key_.public_base64();
  esp_app_desc_t running_ = description(app_image(4096, 99));
  itest::TempDir firmware_dir_{"micstream-ota"};
  std::optional<itest::ServerProcess> server_;
  std::string url_;
};

TEST_F(SignedOtaTest, SignedImageIsWrittenAndSetToBoot) {
  const Bytes image = app_image(200'000, 1);
  const Bytes sig = sign::signature_file(key_, image);
  publish(image, &sig);
  ASSERT_EQ(install(), InstallResult::installed);
  EXPECT_EQ(host_ota::flash().boot_set, 1);
  EXPECT_TRUE(std::equal(image.begin(), image.end(), host_ota::flash().slot.begin()));
}

TEST_F(SignedOtaTest, TamperedImageIsDownloadedButNeverSetToBoot) {
  const Bytes image = app_image(200'000, 2);
  const Bytes sig = sign::signature_file(key_, image);
  Bytes tampered = image;
  tampered[150'000] ^= 0x20;
  publish(tampered, &sig);
  std::string log;
  EXPECT_EQ(install(&log), InstallResult::refused);
  EXPECT_EQ(host_ota::flash().boot_set, 0);
  EXPECT_EQ(host_ota::flash().aborted, 1);
  EXPECT_NE(log.find("the image's SHA-256 differs from the signed one"), std::string::npos) << log;
}

TEST_F(SignedOtaTest, UnsignedOrForeignSignedImageIsNotEvenDownloaded) {
  const Bytes image = app_image(100'000, 3);
  publish(image, nullptr);
  std::string log;
  EXPECT_EQ(install(&log), InstallResult::refused);
  EXPECT_NE(log.find("no signature at " + url_ + ".sig (HTTP 404)"), std::string::npos) << log;

  const Bytes foreign = sign::signature_file(sign::Key::generate(), image);
  publish(image, &foreign);
  EXPECT_EQ(install(&log), InstallResult::refused);
  EXPECT_NE(log.find("not made by this device's signing key"), std::string::npos) << log;

  const Bytes garbage(108, 0x4d);
  publish(image, &garbage);
  EXPECT_EQ(install(&log), InstallResult::refused);
  EXPECT_NE(log.find("not a micstream signature file"), std::string::npos) << log;

  EXPECT_EQ(host_ota::flash().begun, 0);
  EXPECT_EQ(host_ota::flash().boot_set, 0);
}

TEST_F(SignedOtaTest, ImageOfAnotherSizeThanSignedIsRefusedBeforeWriting) {
  const Bytes image = app_image(100'000, 4);
  const Bytes sig = sign::signature_file(key_, image);
  const Bytes longer = [&] {
    Bytes b = image;
    b.resize(image.size() + 16, 0);
    return b;
  }();
  publish(longer, &sig);
  std::string log;
  EXPECT_EQ(install(&log), InstallResult::refused);
  EXPECT_NE(log.find("it is 100016 bytes, the signed image 100000"), std::string::npos) << log;
  EXPECT_EQ(host_ota::flash().boot_set, 0);
  EXPECT_EQ(host_ota::flash().slot[0], 0xff) << "nothing was written";
}

TEST_F(SignedOtaTest, WithoutAKeyNothingIsInstalled) {
  const Bytes image = app_image(50'000, 5);
  const Bytes sig = sign::signature_file(key_, image);
  publish(image, &sig);
  key_text_.clear();
  std::string log;
  EXPECT_EQ(install(&log), InstallResult::refused);
  EXPECT_NE(log.find("no public key for signed images is configured"), std::string::npos) << log;
  EXPECT_EQ(host_ota::flash().begun, 0);
}

TEST_F(SignedOtaTest, TheRunningImageIsNotInstalledAgain) {
  const Bytes image = app_image(50'000, 6);
  running_ = description(image);
  const Bytes sig = sign::signature_file(key_, image);
  publish(image, &sig);
  EXPECT_EQ(install(), InstallResult::up_to_date);
  EXPECT_EQ(host_ota::flash().boot_set, 0);
  EXPECT_EQ(host_ota::flash().aborted, 1);
}

}  // namespace
}  // namespace micstream::firmware
