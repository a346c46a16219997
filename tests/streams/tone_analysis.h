// The analysis behind stream_tone_check: the dominant frequency, level,
// gaps and discontinuities of a recorded sine tone.
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <vector>

namespace micstream::streams {

struct AnalysisOptions {
  double skip_seconds = 0.2;      // lead-in left out of every measurement
  double gap_ms = 2.0;            // a run of near-silence this long or longer is a gap
  double silence_fraction = 0.1;  // near-silence: |x| below this fraction of the tone's amplitude
  double jump_fraction = 0.1;     // discontinuity: the sine's prediction misses by this fraction of its amplitude
};

struct Gap {
  double start_seconds;
  double length_ms;
};

struct Analysis {
  double sample_rate = 0;
  double duration_seconds = 0;    // the whole file
  double analysed_seconds = 0;    // after the lead-in
  double frequency_hz = 0;        // of the analysed part
  double level_dbfs = -HUGE_VAL;  // the tone's peak amplitude, 0 dBFS a full-scale sine
  std::vector<Gap> gaps;
  std::vector<double> discontinuities;  // seconds from the file's start
  [[nodiscard]] double longest_gap_ms() const;
};

struct Expectation {
  double hz = 0;
  double tolerance_hz = 2;
  double min_seconds = 0;
  double min_level_dbfs = -60;
};

/// samples: mono, full scale +-1.
Analysis analyse(std::span<const float> samples, double sample_rate, const AnalysisOptions& options = {});

/// Each reason the analysis does not meet the expectation; empty when it does.
std::vector<std::string> failures(const Analysis& analysis, const Expectation& expect);

/// The figures on one line.
std::string summary(const Analysis& analysis);

/// A sound file through libsndfile, its channels averaged; throws std::runtime_error.
std::vector<float> read_mono(const std::string& path, double& sample_rate);

}  // namespace micstream::streams
