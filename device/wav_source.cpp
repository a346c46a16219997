#include "wav_source.h"

#include <fmt/format.h>
#include <sndfile.h>

#include <algorithm>
#include <utility>

namespace micstream::device {

namespace {

class SoundFile {
 public:
  SoundFile(const std::string& path, std::string& error) : file_(sf_open(path.c_str(), SFM_READ, &info_)) {
    if (file_ == nullptr) error = fmt::format("cannot read {}: {}", path, sf_strerror(nullptr));
  }
  ~SoundFile() {
    if (file_ != nullptr) sf_close(file_);
  }
  SoundFile(const SoundFile&) = delete;
  SoundFile& operator=(const SoundFile&) = delete;

  [[nodiscard]] SNDFILE* get() const { return file_; }
  [[nodiscard]] const SF_INFO& info() const { return info_; }

 private:
  SF_INFO info_{};
  SNDFILE* file_;
};

// Longer files are refused rather than eating memory: 10 minutes at 48 kHz stereo.
constexpr std::int64_t kMaxFrames = 48000LL * 600;

}  // namespace

std::uint32_t wav_sample_rate(const std::string& path, std::string& error) {
  SoundFile file(path, error);
  if (file.get() == nullptr) return 0;
  return static_cast<std::uint32_t>(file.info().samplerate);
}

std::shared_ptr<const WavData> load_wav(const std::string& path, unsigned channels, std::string& error) {
  SoundFile file(path, error);
  if (file.get() == nullptr) return nullptr;
  const SF_INFO& info = file.info();
  if (info.frames <= 0) {
    error = fmt::format("{} holds no audio", path);
    return nullptr;
  }
  if (info.frames > kMaxFrames) {
    error = fmt::format("{} is too long ({} frames; at most {} are read into memory)", path, info.frames, kMaxFrames);
    return nullptr;
  }
  const auto file_channels = static_cast<unsigned>(info.channels);
  if (file_channels != channels && !(file_channels == 1 && channels == 2) &&
      !(file_channels == 2 && channels == 1)) {
    error = fmt::format("{} has {} channels; the stream has {} (only mono <-> stereo is converted)", path,
                        file_channels, channels);
    return nullptr;
  }
  std::vector<std::int16_t> raw(static_cast<std::size_t>(info.frames) * file_channels);
  // libsndfile converts any sample format (24-bit, float, ...) to 16 bits.
  const sf_count_t read = sf_readf_short(file.get(), raw.data(), info.frames);
  if (read <= 0) {
    error = fmt::format("cannot read the audio of {}: {}", path, sf_strerror(file.get()));
    return nullptr;
  }
  raw.resize(static_cast<std::size_t>(read) * file_channels);

  auto data = std::make_shared<WavData>();
  data->path = path;
  data->sample_rate = static_cast<std::uint32_t>(info.samplerate);
  data->file_channels = file_channels;
  data->channels = channels;
  if (file_channels == channels) {
    data->samples = std::move(raw);
  } else if (file_channels == 1) {
    data->samples.resize(raw.size() * 2);
    for (std::size_t i = 0; i < raw.size(); ++i) data->samples[2 * i] = data->samples[2 * i + 1] = raw[i];
  } else {
    data->samples.resize(raw.size() / 2);
    for (std::size_t i = 0; i < data->samples.size(); ++i) {
      data->samples[i] = static_cast<std::int16_t>((raw[2 * i] + raw[2 * i + 1]) / 2);
    }
  }
  return data;
}

void WavSource::fill_pcm16(std::uint64_t first_sample, std::span<std::int16_t> out) {
  const unsigned channels = data_->channels;
  const std::uint64_t frames = data_->frames();
  std::uint64_t position = first_sample % frames;
  for (std::size_t i = 0; i < out.size(); i += channels) {
    std::copy_n(data_->samples.begin() + static_cast<std::ptrdiff_t>(position * channels), channels,
                out.begin() + static_cast<std::ptrdiff_t>(i));
    if (++position == frames) position = 0;
  }
}

std::string WavSource::describe() const {
  return fmt::format("{} ({:.1f} s, {} Hz, {} channel(s){}), looped", data_->path,
                     static_cast<double>(data_->frames()) / data_->sample_rate, data_->sample_rate,
                     data_->file_channels,
                     data_->file_channels != data_->channels
                         ? (data_->channels == 2 ? ", copied to both channels" : ", mixed to mono")
                         : "");
}

}  // namespace micstream::device
