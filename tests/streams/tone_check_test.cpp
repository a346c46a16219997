// The analysis of stream_tone_check on generated tones with known faults.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numbers>
#include <string>
#include <vector>

#include "tone_analysis.h"

namespace micstream::streams {
namespace {

constexpr double kRate = 48000;

// A sine at -6 dBFS, rounded to PCM16 steps as a decoder's output would be.
std::vector<float> tone(double hz, double seconds, double rate = kRate, double phase = 0) {
  std::vector<float> out(std::size_t(seconds * rate));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double v = 0.5 * std::sin(2 * std::numbers::pi * hz * double(i) / rate + phase);
    out[i] = float(std::round(v * 32767) / 32768);
  }
  return out;
}

const Expectation k440{.hz = 440, .tolerance_hz = 2, .min_seconds = 4.5};

TEST(ToneCheck, A440ToneMeasuresWithinATenthOfAHertzAndPasses) {
  const auto a = analyse(tone(440, 5), kRate);
  EXPECT_NEAR(a.frequency_hz, 440, 0.1);
  EXPECT_NEAR(a.duration_seconds, 5, 1e-9);
  EXPECT_NEAR(a.level_dbfs, -6.02, 0.05);
  EXPECT_TRUE(a.gaps.empty());
  EXPECT_TRUE(a.discontinuities.empty());
  EXPECT_TRUE(failures(a, k440).empty()) << summary(a);
}

TEST(ToneCheck, FrequencyIsPreciseOffTheBinsAndAtOtherRates) {
  for (const double hz : {440.37, 1000.0, 997.5, 123.45}) {
    EXPECT_NEAR(analyse(tone(hz, 5), kRate).frequency_hz, hz, 0.01) << hz;
    EXPECT_NEAR(analyse(tone(hz, 5, 16000), 16000).frequency_hz, hz, 0.01) << hz;
  }
}

TEST(ToneCheck, A445ToneFailsAgainst440WithinTwoHertz) {
  const auto a = analyse(tone(445, 5), kRate);
  EXPECT_NEAR(a.frequency_hz, 445, 0.1);
  const auto reasons = failures(a, k440);
  ASSERT_EQ(reasons.size(), 1U);
  EXPECT_NE(reasons[0].find("445.0"), std::string::npos) << reasons[0];
}

TEST(ToneCheck, TenMillisecondsOfSilenceIsAGap) {
  auto samples = tone(440, 5);
  const auto at = std::size_t(2.5 * kRate);
  std::fill_n(samples.begin() + at, std::size_t(0.010 * kRate), 0.0F);
  const auto a = analyse(samples, kRate);
  ASSERT_EQ(a.gaps.size(), 1U) << summary(a);
  EXPECT_NEAR(a.gaps[0].start_seconds, 2.5, 0.001);
  EXPECT_NEAR(a.gaps[0].length_ms, 10, 0.1);
  EXPECT_FALSE(failures(a, k440).empty());
}

TEST(ToneCheck, SilenceInTheLeadInIsSkipped) {
  auto samples = tone(440, 5);
  std::fill_n(samples.begin(), std::size_t(0.15 * kRate), 0.0F);
  EXPECT_TRUE(failures(analyse(samples, kRate), k440).empty());
  EXPECT_EQ(analyse(samples, kRate, {.skip_seconds = 0}).gaps.size(), 1U);
}

TEST(ToneCheck, APhaseJumpIsADiscontinuity) {
  auto samples = tone(440, 5);
  const auto jumped = tone(440, 5, kRate, std::numbers::pi / 2);
  const auto at = std::size_t(3.0 * kRate) + 17;  // not at a whole period of the tone
  std::copy(jumped.begin() + std::ptrdiff_t(at), jumped.end(), samples.begin() + std::ptrdiff_t(at));
  const auto a = analyse(samples, kRate);
  EXPECT_TRUE(a.gaps.empty());
  ASSERT_EQ(a.discontinuities.size(), 1U) << summary(a);
  EXPECT_NEAR(a.discontinuities[0], 3.0, 0.001);
  EXPECT_FALSE(failures(a, k440).empty());
}

TEST(ToneCheck, ShortOrSilentFilesFail) {
  EXPECT_FALSE(failures(analyse(tone(440, 3), kRate), k440).empty());
  const std::vector<float> silence(std::size_t(5 * kRate));
  const auto reasons = failures(analyse(silence, kRate), k440);
  ASSERT_EQ(reasons.size(), 1U);
  EXPECT_NE(reasons[0].find("no tone"), std::string::npos) << reasons[0];
}

TEST(ToneCheck, ReadsStereoWavAsMono) {
  const auto path = (std::filesystem::temp_directory_path() / "tone_check_test_stereo.wav").string();
  const auto left = tone(440, 1, 44100);
  std::vector<float> interleaved;
  for (const float v : left) interleaved.insert(interleaved.end(), {v, v});
  SF_INFO info{.frames = 0, .samplerate = 44100, .channels = 2, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16,
               .sections = 0, .seekable = 0};
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(file, nullptr) << sf_strerror(nullptr);
  sf_writef_float(file, interleaved.data(), sf_count_t(left.size()));
  sf_close(file);

  double rate = 0;
  const auto mono = read_mono(path, rate);
  std::remove(path.c_str());
  EXPECT_EQ(rate, 44100);
  ASSERT_EQ(mono.size(), left.size());
  EXPECT_NEAR(analyse(mono, rate).frequency_hz, 440, 0.1);
  EXPECT_THROW(read_mono(path, rate), std::runtime_error);
}

}  // namespace
}  // namespace micstream::streams
