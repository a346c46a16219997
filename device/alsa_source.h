// Capture from a real sound card through ALSA (built when libasound2-dev is
// installed). The card's own crystal paces it, so --clock-ppm only moves the
// timestamps, and the drift the server measures is the card's true one.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "source.h"

typedef struct _snd_pcm snd_pcm_t;  // NOLINT: ALSA's own declaration

namespace micstream::device {

class AlsaSource final : public LiveSource {
 public:
  /// period_frames: frames a channel the card delivers at a time (the "DMA block").
  AlsaSource(std::string device, std::uint32_t sample_rate, unsigned channels, std::uint32_t period_frames);
  ~AlsaSource() override;
  AlsaSource(const AlsaSource&) = delete;
  AlsaSource& operator=(const AlsaSource&) = delete;

  bool start(std::string& error) override;
  Read read(std::span<std::int16_t> out) override;
  void stop() override;
  [[nodiscard]] std::string last_error() const override { return error_; }
  [[nodiscard]] std::string describe() const override;

 private:
  std::string device_;
  std::uint32_t rate_;
  unsigned channels_;
  std::uint32_t period_frames_;
  snd_pcm_t* pcm_ = nullptr;
  std::string error_;
};

}  // namespace micstream::device
