#include "tone_analysis.h"

#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdio>
#include <numbers>
#include <stdexcept>
#include <utility>

namespace micstream::streams {
namespace {

using Complex = std::complex<double>;
constexpr double kPi = std::numbers::pi;

// In-place radix-2 FFT; a.size() a power of two.
void fft(std::vector<Complex>& a) {
  const std::size_t n = a.size();
  for (std::size_t i = 1, j = 0; i < n; ++i) {
    std::size_t bit = n >> 1;
    for (; (j & bit) != 0; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  std::vector<Complex> twiddle(n / 2);
  for (std::size_t k = 0; k < n / 2; ++k) twiddle[k] = std::polar(1.0, -2 * kPi * double(k) / double(n));
  for (std::size_t len = 2; len <= n; len <<= 1) {
    const std::size_t stride = n / len;
    for (std::size_t i = 0; i < n; i += len) {
      for (std::size_t k = 0; k < len / 2; ++k) {
        const Complex u = a[i + k];
        const Complex v = a[i + k + len / 2] * twiddle[k * stride];
        a[i + k] = u + v;
        a[i + k + len / 2] = u - v;
      }
    }
  }
}

// |DTFT| of x at frequency f (cycles per sample).
double dtft_magnitude(const std::vector<double>& x, double f) {
  const Complex step = std::polar(1.0, -2 * kPi * f);
  Complex z = 1, sum = 0;
  for (const double v : x) {
    sum += v * z;
    z *= step;
  }
  return std::abs(sum);
}

struct Peak {
  double frequency;  // cycles per sample
  double amplitude;  // of the sine, in sample units
};

// Hann-windowed FFT, log-parabolic interpolation of the peak bin, then a
// golden-section search of the windowed DTFT's maximum: the estimate is then
// limited by the signal, not by the bin spacing.
Peak dominant(std::span<const double> x) {
  std::vector<double> windowed(x.size());
  double window_sum = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double w = 0.5 - 0.5 * std::cos(2 * kPi * double(i) / double(x.size() - 1));
    windowed[i] = x[i] * w;
    window_sum += w;
  }
  std::size_t n = 1;
  while (n < x.size()) n <<= 1;
  std::vector<Complex> spectrum(n);
  std::copy(windowed.begin(), windowed.end(), spectrum.begin());
  fft(spectrum);

  // From bin 2 (leaves out the DC remainder) to just below Nyquist.
  std::size_t k = 2;
  for (std::size_t i = 3; i + 1 < n / 2; ++i) {
    if (std::abs(spectrum[i]) > std::abs(spectrum[k])) k = i;
  }
  const double a = std::log(std::abs(spectrum[k - 1]) + 1e-300);
  const double b = std::log(std::abs(spectrum[k]) + 1e-300);
  const double c = std::log(std::abs(spectrum[k + 1]) + 1e-300);
  const double denominator = a - 2 * b + c;
  const double offset = denominator < 0 ? std::clamp(0.5 * (a - c) / denominator, -0.5, 0.5) : 0.0;

  const double bin = 1.0 / double(n);
  double lo = (double(k) + offset - 1) * bin, hi = (double(k) + offset + 1) * bin;
  const double ratio = (std::sqrt(5.0) - 1) / 2;
  double x1 = hi - ratio * (hi - lo), x2 = lo + ratio * (hi - lo);
  double m1 = dtft_magnitude(windowed, x1), m2 = dtft_magnitude(windowed, x2);
  for (int i = 0; i < 40; ++i) {
    if (m1 < m2) {
      lo = x1, x1 = x2, m1 = m2;
      x2 = lo + ratio * (hi - lo);
      m2 = dtft_magnitude(windowed, x2);
    } else {
      hi = x2, x2 = x1, m2 = m1;
      x1 = hi - ratio * (hi - lo);
      m1 = dtft_magnitude(windowed, x1);
    }
  }
  const double f = (lo + hi) / 2;
  return {f, 2 * dtft_magnitude(windowed, f) / window_sum};
}

std::string printed(const char* pattern, auto... args) {
  char text[256];
  std::snprintf(text, sizeof text, pattern, args...);
  return text;
}

}  // namespace

double Analysis::longest_gap_ms() const {
  double longest = 0;
  for (const Gap& g : gaps) longest = std::max(longest, g.length_ms);
  return longest;
}

Analysis analyse(std::span<const float> samples, double sample_rate, const AnalysisOptions& options) {
  Analysis result;
  result.sample_rate = sample_rate;
  result.duration_seconds = double(samples.size()) / sample_rate;
  const auto start = std::min(samples.size(), std::size_t(std::lround(options.skip_seconds * sample_rate)));
  result.analysed_seconds = double(samples.size() - start) / sample_rate;
  if (samples.size() - start < 16) return result;

  std::vector<double> x(samples.begin() + std::ptrdiff_t(start), samples.end());
  double mean = 0;
  for (const double v : x) mean += v;
  mean /= double(x.size());
  for (double& v : x) v -= mean;

  const Peak peak = dominant(x);
  result.frequency_hz = peak.frequency * sample_rate;
  if (peak.amplitude <= 0) return result;
  result.level_dbfs = 20 * std::log10(peak.amplitude);

  const auto to_seconds = [&](std::size_t i) { return double(start + i) / sample_rate; };
  const double silence = options.silence_fraction * peak.amplitude;
  const double min_gap = options.gap_ms / 1000 * sample_rate;
  std::size_t run = 0;
  for (std::size_t i = 0; i <= x.size(); ++i) {
    if (i < x.size() && std::abs(x[i]) < silence) {
      ++run;
      continue;
    }
    if (run > 0 && double(run) >= min_gap) {
      result.gaps.push_back({to_seconds(i - run), double(run) / sample_rate * 1000});
    }
    run = 0;
  }

  // A sine obeys x[n] = 2 cos(w) x[n-1] - x[n-2]; what that prediction misses
  // is a step away from the tone at any phase. Misses within 1 ms are one event.
  const double c = 2 * std::cos(2 * kPi * peak.frequency);
  const double jump = options.jump_fraction * peak.amplitude;
  const auto one_ms = std::size_t(sample_rate / 1000);
  std::size_t last = 0;
  for (std::size_t i = 2; i < x.size(); ++i) {
    if (std::abs(x[i] - c * x[i - 1] + x[i - 2]) <= jump) continue;
    if (result.discontinuities.empty() || i - last > one_ms) result.discontinuities.push_back(to_seconds(i));
    last = i;
  }
  return result;
}

std::vector<std::string> failures(const Analysis& analysis, const Expectation& expect) {
  std::vector<std::string> reasons;
  if (analysis.duration_seconds < expect.min_seconds) {
    reasons.push_back(printed("it lasts %.3f s, less than the %.3f s expected", analysis.duration_seconds,
                             expect.min_seconds));
  }
  if (analysis.analysed_seconds < 0.1) {
    reasons.push_back(printed("only %.3f s after the lead-in: too short to analyse", analysis.analysed_seconds));
  } else if (analysis.level_dbfs < expect.min_level_dbfs) {
    reasons.push_back(
        printed("no tone: its level is %.1f dBFS, below %.1f", analysis.level_dbfs, expect.min_level_dbfs));
  } else if (std::abs(analysis.frequency_hz - expect.hz) > expect.tolerance_hz) {
    reasons.push_back(printed("its dominant frequency is %.3f Hz, not %g +- %g Hz", analysis.frequency_hz, expect.hz,
                             expect.tolerance_hz));
  }
  if (!analysis.gaps.empty()) {
    const auto longest = std::max_element(analysis.gaps.begin(), analysis.gaps.end(),
                                          [](const Gap& a, const Gap& b) { return a.length_ms < b.length_ms; });
    reasons.push_back(printed("%zu gap(s) of near-silence, the first at %.3f s, the longest %.1f ms at %.3f s",
                             analysis.gaps.size(), analysis.gaps.front().start_seconds, longest->length_ms,
                             longest->start_seconds));
  }
  if (!analysis.discontinuities.empty()) {
    reasons.push_back(printed("%zu discontinuit%s, the first at %.4f s", analysis.discontinuities.size(),
                             analysis.discontinuities.size() == 1 ? "y" : "ies", analysis.discontinuities.front()));
  }
  return reasons;
}

std::string summary(const Analysis& analysis) {
  return printed("frequency %.3f Hz, duration %.3f s at %g samples/s, level %.1f dBFS, %zu gaps, "
                 "longest gap %.1f ms, %zu discontinuities",
                 analysis.frequency_hz, analysis.duration_seconds, analysis.sample_rate, analysis.level_dbfs,
                 analysis.gaps.size(), analysis.longest_gap_ms(), analysis.discontinuities.size());
}

std::vector<float> read_mono(const std::string& path, double& sample_rate) {
  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  if (file == nullptr) throw std::runtime_error(path + ": " + sf_strerror(nullptr));
  sample_rate = info.samplerate;
  const auto channels = std::size_t(info.channels);
  std::vector<float> mono, block(4096 * channels);
  for (;;) {
    const auto frames = std::size_t(sf_readf_float(file, block.data(), 4096));
    if (frames == 0) break;
    for (std::size_t i = 0; i < frames; ++i) {
      float sum = 0;
      for (std::size_t ch = 0; ch < channels; ++ch) sum += block[i * channels + ch];
      mono.push_back(sum / float(channels));
    }
  }
  const int error = sf_error(file);
  sf_close(file);
  if (error != SF_ERR_NO_ERROR) throw std::runtime_error(path + ": " + sf_error_number(error));
  return mono;
}

}  // namespace micstream::streams
