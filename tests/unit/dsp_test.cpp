// Signal conditioning: ADC codes to PCM16, DC removal, gain, levels.
#include "micstream/dsp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace micstream::dsp {
namespace {

using Samples = std::vector<std::int16_t>;

TEST(Adc, CodesMapAroundTheCalibratedZero) {
  EXPECT_EQ(adc12_to_pcm16(2048, 2048), 0);
  EXPECT_EQ(adc12_to_pcm16(2049, 2048), 16);
  EXPECT_EQ(adc12_to_pcm16(0, 2048), -32768);
  EXPECT_EQ(adc12_to_pcm16(4095, 2048), 32752);
  EXPECT_EQ(adc12_to_pcm16(1900, 1900), 0) << "a mic biased below mid-supply";
  EXPECT_EQ(adc12_to_pcm16(4095, 1000), 32767) << "saturates instead of wrapping";
  EXPECT_EQ(adc12_to_pcm16(0, 3000), -32768);
  EXPECT_EQ(adc12_to_pcm16(0xF000, 2048), -32768) << "bits above 12 (channel tags) are ignored";

  const std::vector<std::uint16_t> codes = {2048, 2050, 2046};
  Samples out(3);
  adc12_to_pcm16(codes, 2048, out);
  EXPECT_EQ(out, (Samples{0, 32, -32}));
}

TEST(DcBlocker, RemovesAConstantOffsetAndSettlesToZero) {
  DcBlocker blocker(10.0F, 16000, 1);
  Samples s(16000, 3000);
  blocker.process(s);
  EXPECT_EQ(s[0], 3000) << "a step passes at first";
  for (std::size_t i = 8000; i < s.size(); ++i) ASSERT_EQ(s[i], 0) << i;
}

TEST(DcBlocker, PassesVoiceBandAlmostUnchanged) {
  DcBlocker blocker(10.0F, 16000, 1);
  Samples s(16000);
  for (std::size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<std::int16_t>(1000 + std::lround(10000 * std::sin(2 * M_PI * 1000 * i / 16000.0)));
  }
  blocker.process(s);
  int peak = 0;
  long sum = 0;
  for (std::size_t i = 8000; i < s.size(); ++i) {
    peak = std::max(peak, std::abs(int{s[i]}));
    sum += s[i];
  }
  EXPECT_NEAR(peak, 10000, 100);
  EXPECT_NEAR(static_cast<double>(sum) / 8000, 0.0, 5.0) << "the 1000 offset is gone";
}

TEST(DcBlocker, KeepsChannelsApart) {
  DcBlocker blocker(10.0F, 16000, 2);
  Samples s;
  for (int i = 0; i < 16000; ++i) {
    s.push_back(2000);
    s.push_back(-500);
  }
  blocker.process(s);
  EXPECT_EQ(s[0], 2000);
  EXPECT_EQ(s[1], -500);
  EXPECT_EQ(s[s.size() - 2], 0);
  EXPECT_EQ(s[s.size() - 1], 0);
}

TEST(Gain, AppliesDecibelsAndSaturates) {
  Samples s = {1000, -1000, 20000, -20000, 0};
  Gain(600).process(s);  // +6 dB = x1.995
  EXPECT_EQ(s[0], 1995);
  EXPECT_EQ(s[1], -1995);
  EXPECT_EQ(s[2], 32767);
  EXPECT_EQ(s[3], -32768);
  EXPECT_EQ(s[4], 0);

  Samples quiet = {1000, -1000};
  Gain(-2000).process(quiet);  // -20 dB
  EXPECT_EQ(quiet, (Samples{100, -100}));

  Samples same = {123, -456};
  Gain(0).process(same);
  EXPECT_EQ(same, (Samples{123, -456}));

  Samples loud = {32767, -32768};
  Gain(4000).process(loud);
  EXPECT_EQ(loud, (Samples{32767, -32768}));

  EXPECT_EQ(Gain(1000000).centi_db(), Gain::kMaxCentiDb) << "absurd settings are clamped, not overflowed";
  Samples one = {1, -1};
  Gain(-1000000).process(one);
  EXPECT_EQ(one, (Samples{0, 0}));
}

TEST(Level, FullScaleSineIsZeroPeakAndMinus3Rms) {
  Samples s(1600);
  for (std::size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<std::int16_t>(std::lround(32767 * std::sin(2 * M_PI * 1000 * i / 16000.0)));
  }
  const Level l = measure_level(s);
  EXPECT_NEAR(l.peak_dbfs, 0.0, 0.01);
  EXPECT_NEAR(l.rms_dbfs, -3.01, 0.02);
}

TEST(Level, SilenceAndHalfScale) {
  const Samples silence(320, 0);
  EXPECT_EQ(measure_level(silence).peak_dbfs, kSilenceDbfs);
  EXPECT_EQ(measure_level(silence).rms_dbfs, kSilenceDbfs);
  EXPECT_EQ(measure_level({}).rms_dbfs, kSilenceDbfs);
  const Samples square = {16384, -16384, 16384, -16384};
  EXPECT_NEAR(measure_level(square).peak_dbfs, -6.02, 0.01);
  EXPECT_NEAR(measure_level(square).rms_dbfs, -6.02, 0.01);
  const Samples min = {-32768};
  EXPECT_NEAR(measure_level(min).peak_dbfs, 0.0, 1e-6);
}

}  // namespace
}  // namespace micstream::dsp
