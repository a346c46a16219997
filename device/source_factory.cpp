#include "source_factory.h"

#include "adc_source.h"
#include "noise_source.h"
#include "sweep_source.h"
#include "tone_source.h"
#include "wav_source.h"
#ifdef MICSTREAM_HAVE_ALSA
#include "alsa_source.h"
#endif

namespace micstream::device {

bool have_alsa() {
#ifdef MICSTREAM_HAVE_ALSA
  return true;
#else
  return false;
#endif
}

Sources make_source(const DeviceConfig& c, std::string& error) {
  const SourceOptions& s = c.source;
  Sources sources;
  switch (s.kind) {
    case SourceKind::tone:
      sources.synthetic = std::make_unique<ToneSource>(s.tone_hz, s.level_dbfs, c.sample_rate, c.channels);
      break;
    case SourceKind::sweep:
      sources.synthetic = std::make_unique<SweepSource>(s.sweep_from_hz, s.sweep_to_hz, s.sweep_seconds, s.level_dbfs,
                                                        c.sample_rate, c.channels);
      break;
    case SourceKind::noise:
      sources.synthetic = std::make_unique<NoiseSource>(s.level_dbfs, c.channels, s.noise_seed);
      break;
    case SourceKind::wav:
      if (s.wav == nullptr) {
        error = "no WAV file loaded";
        break;
      }
      sources.synthetic = std::make_unique<WavSource>(s.wav);
      break;
    case SourceKind::adc:
      sources.synthetic =
          std::make_unique<AdcSource>(s.adc, s.tone_hz, s.level_dbfs, c.sample_rate, c.channels, s.noise_seed);
      break;
    case SourceKind::alsa:
#ifdef MICSTREAM_HAVE_ALSA
      sources.live = std::make_unique<AlsaSource>(s.alsa_device, c.sample_rate, c.channels, c.block_frames);
#else
      error = "this build has no ALSA support (install libasound2-dev and build again)";
#endif
      break;
  }
  return sources;
}

}  // namespace micstream::device
