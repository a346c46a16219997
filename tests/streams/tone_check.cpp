// stream_tone_check: does a recording (e.g. what ffmpeg or VLC wrote from a
// server stream) hold a clean tone of the expected frequency and length?
//   stream_tone_check out.wav --expect-hz 440 --tolerance-hz 2 --min-seconds 4.5
// Prints the figures on one line; exit 0 when every check passes, 1 (with
// the reasons) when one fails or the file cannot be read, 2 on a usage error.

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <string>

#include "tone_analysis.h"

int main(int argc, char** argv) {
  namespace ms = micstream::streams;
  CLI::App app{"Checks that a sound file holds a clean sine tone: its frequency, duration, gaps and discontinuities"};
  std::string path;
  ms::Expectation expect;
  ms::AnalysisOptions options;
  app.add_option("file", path, "the sound file (WAV or anything libsndfile reads)")->required();
  app.add_option("--expect-hz", expect.hz, "the tone's frequency")->required();
  app.add_option("--tolerance-hz", expect.tolerance_hz, "how far the measured frequency may be from it")
      ->capture_default_str();
  app.add_option("--min-seconds", expect.min_seconds, "the file's shortest acceptable duration")->required();
  app.add_option("--skip-seconds", options.skip_seconds, "lead-in left out of the analysis")->capture_default_str();
  app.add_option("--max-gap-ms", options.gap_ms, "near-silence this long or longer fails")->capture_default_str();
  app.add_option("--min-level-dbfs", expect.min_level_dbfs, "a quieter tone counts as none")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  ms::Analysis analysis;
  try {
    double rate = 0;
    const auto samples = ms::read_mono(path, rate);
    analysis = ms::analyse(samples, rate, options);
  } catch (const std::exception& e) {
    std::cerr << "stream_tone_check: FAILED: " << e.what() << "\n";
    return 1;
  }
  const auto reasons = ms::failures(analysis, expect);
  std::cout << path << ": " << ms::summary(analysis) << (reasons.empty() ? ": OK" : ": FAILED") << std::endl;
  for (const auto& reason : reasons) std::cerr << "stream_tone_check: " << path << ": " << reason << "\n";
  return reasons.empty() ? 0 : 1;
}
