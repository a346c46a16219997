// A sound file (WAV or anything libsndfile reads) played in a loop. The file
// is read whole at start, so capturing from it never touches the disk; one
// copy is shared by every device of the process. Its rate must be the
// stream's (there is no resampler: the caller refuses the file otherwise);
// mono is copied to both channels of a stereo stream, stereo averaged to mono.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "source.h"

namespace micstream::device {

struct WavData {
  std::string path;
  std::uint32_t sample_rate = 0;
  unsigned file_channels = 0;
  unsigned channels = 0;            ///< of samples, after the conversion
  std::vector<std::int16_t> samples;  ///< interleaved, frames() * channels

  [[nodiscard]] std::uint64_t frames() const { return channels == 0 ? 0 : samples.size() / channels; }
};

/// Reads the file for a stream of `channels`; null (with error set) when it cannot.
[[nodiscard]] std::shared_ptr<const WavData> load_wav(const std::string& path, unsigned channels, std::string& error);
/// The file's sample rate, to default the stream's to; 0 (with error set) when it cannot be read.
[[nodiscard]] std::uint32_t wav_sample_rate(const std::string& path, std::string& error);

class WavSource final : public SyntheticSource {
 public:
  explicit WavSource(std::shared_ptr<const WavData> data) : data_(std::move(data)) {}

  void fill_pcm16(std::uint64_t first_sample, std::span<std::int16_t> out) override;
  [[nodiscard]] std::string describe() const override;

 private:
  std::shared_ptr<const WavData> data_;
};

}  // namespace micstream::device
