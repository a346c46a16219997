// Everything one virtual device is configured with (main builds one per
// device from the command line), and its validation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "adc_source.h"
#include "fault_transport.h"
#include "micstream/codec.h"
#include "wav_source.h"

namespace micstream::device {

enum class SourceKind : std::uint8_t { tone, sweep, noise, wav, adc, alsa };

[[nodiscard]] const char* source_kind_name(SourceKind kind);

struct SourceOptions {
  SourceKind kind = SourceKind::tone;
  double tone_hz = 440.0;
  double level_dbfs = -12.0;  ///< peak
  double sweep_from_hz = 100.0;
  double sweep_to_hz = 6000.0;
  double sweep_seconds = 5.0;
  std::string wav_path;
  std::shared_ptr<const WavData> wav;  ///< loaded once by main, shared by all devices
  AdcModel adc;
  std::string alsa_device = "default";
  std::uint64_t noise_seed = 1;
};

struct DeviceConfig {
  std::string id = "virtual-01";
  std::vector<std::uint8_t> secret;
  std::string host = "127.0.0.1";
  std::string port = "2001";
  std::string firmware_version;
  int socket_send_buffer = 0;  ///< SO_SNDBUF, bytes; 0: the kernel's
  bool tls = true;             ///< TLS-PSK with the secret (docs/protocol.md "TLS"); false: a plain link

  Codec codec = Codec::ima_adpcm;
  std::uint32_t sample_rate = 16000;
  unsigned channels = 1;
  std::uint32_t frame_ms = 20;
  double gain_db = 0.0;
  double dc_cutoff_hz = 10.0;      ///< 0: no DC blocker
  std::uint32_t queue_ms = 500;    ///< audio the capture->sender queue holds
  std::uint32_t block_frames = 256;  ///< frames a channel the converter delivers at a time
  double clock_ppm = 0.0;
  SourceOptions source;

  // Faults.
  std::uint32_t drop_every = 0;   ///< the capture loses every Nth frame
  std::uint32_t stall_ms = 0;     ///< the sender thread stalls this long...
  double stall_every_s = 0.0;     ///< ...this often
  LinkFaults link;

  double status_interval_s = 5.0;  ///< 0: no status lines

  [[nodiscard]] std::uint16_t samples_per_frame() const {
    return static_cast<std::uint16_t>(std::uint64_t{sample_rate} * frame_ms / 1000);
  }
  /// Frames the queue holds: queue_ms rounded up to whole frames.
  [[nodiscard]] std::uint32_t queue_frames() const { return (queue_ms + frame_ms - 1) / frame_ms; }
};

/// Empty when the configuration works, else why not (one sentence).
[[nodiscard]] std::string check_config(const DeviceConfig& config);

}  // namespace micstream::device
