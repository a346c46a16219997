// What the virtual device "records". Two kinds:
//  - SyntheticSource: samples are a function of their absolute index, so the
//    capture thread paces them on the device's clock, and frames the device
//    loses leave a true gap in the waveform (what a listener hears matches
//    what the server counts). Either PCM16 (a digital mic) or 12-bit ADC
//    codes (the ESP32's own converter with an analog mic).
//  - LiveSource: a real converter with its own clock (a sound card): it
//    delivers blocks when it has them and the capture thread only stamps them.
// Filling never allocates: the capture thread owns the buffers.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace micstream::device {

class SyntheticSource {
 public:
  enum class Output : std::uint8_t { pcm16, adc12 };

  virtual ~SyntheticSource() = default;
  [[nodiscard]] virtual Output output() const { return Output::pcm16; }
  /// Fills out (interleaved, a multiple of the channels) with the samples
  /// whose per-channel index starts at first_sample.
  virtual void fill_pcm16(std::uint64_t /*first_sample*/, std::span<std::int16_t> /*out*/) {}
  /// As fill_pcm16, as 12-bit ADC codes (output() == adc12).
  virtual void fill_adc12(std::uint64_t /*first_sample*/, std::span<std::uint16_t> /*out*/) {}
  /// The ADC's calibrated zero code (adc12 sources only).
  [[nodiscard]] virtual std::int32_t adc_zero_code() const { return 2048; }
  /// One line for the log.
  [[nodiscard]] virtual std::string describe() const = 0;
};

class LiveSource {
 public:
  struct Read {
    std::size_t frames = 0;  ///< frames (a sample of each channel) read
    bool overrun = false;    ///< samples were lost before these (how many is not known)
    bool failed = false;     ///< the converter is gone: stop capturing
  };

  virtual ~LiveSource() = default;
  /// Opens and starts the converter; false (with error set) when it cannot.
  virtual bool start(std::string& error) = 0;
  /// Blocks until some frames arrived (about one block) and reads up to
  /// out.size() / channels of them.
  virtual Read read(std::span<std::int16_t> out) = 0;
  virtual void stop() = 0;
  /// Why the last read failed.
  [[nodiscard]] virtual std::string last_error() const = 0;
  [[nodiscard]] virtual std::string describe() const = 0;
};

}  // namespace micstream::device
