// The device pipeline's cost, for the ESP32's budget:
//   pipeline-cost instructions [frames]   capture conversion (12-bit ADC codes to
//       PCM16, DC blocker, gain), queueing, IMA ADPCM encoding and framing of
//       `frames` 20 ms frames; run under callgrind, counting run_frames() only
//       (bench/callgrind-instructions.sh does both).
//   pipeline-cost memory [queue-ms]       the static RAM the pipeline needs at
//       16 kHz, 20 ms frames, for a queue of queue-ms, in this build's sizes
//       (build it with -m32 for the ESP32's 32-bit pointers).
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "micstream/codec.h"
#include "micstream/pipeline/capture.h"
#include "micstream/pipeline/frame_queue.h"
#include "micstream/pipeline/sender.h"
#include "micstream/protocol.h"

namespace {

using namespace micstream;

constexpr std::uint32_t kRate = 16000;
constexpr std::uint16_t kFrame = 320;  // 20 ms

struct NoLock : pipeline::Mutex {
  void lock() override {}
  void unlock() override {}
};
struct NoSignal : pipeline::Signal {
  void notify() override {}
  void wait_ms(std::uint32_t) override {}
};

// A mic biased at mid-supply: a 440 Hz tone around code 2048 with a little offset.
std::vector<std::uint16_t> adc_signal(std::size_t samples) {
  std::vector<std::uint16_t> codes(samples);
  std::uint32_t noise = 12345;
  for (std::size_t i = 0; i < samples; ++i) {
    noise = noise * 1664525u + 1013904223u;
    const int tri = static_cast<int>((i * 440 * 4 / kRate) % 4);
    const int shape = (tri < 2 ? tri : 4 - tri) * 600 - 600;
    codes[i] = static_cast<std::uint16_t>(2100 + shape + static_cast<int>(noise >> 29));
  }
  return codes;
}

__attribute__((noinline)) std::uint64_t run_frames(pipeline::Capture& capture, pipeline::FrameQueue& queue,
                                                   FrameEncoder& encoder, const std::vector<std::uint16_t>& codes,
                                                   std::span<std::uint8_t> tx) {
  std::uint64_t bytes = 0;
  const std::size_t payload = encoded_size(Codec::ima_adpcm, 1, kFrame);
  for (std::size_t pos = 0; pos + kFrame <= codes.size(); pos += kFrame) {
    capture.push_adc12(std::span(codes).subspan(pos, kFrame), pos * 1000000 / kRate);
    const pipeline::AudioFrame* frame = queue.take(0);
    if (frame == nullptr) continue;
    proto::AudioHeader header;
    header.sequence = static_cast<std::uint32_t>(frame->first_sample / kFrame);
    header.first_sample = frame->first_sample;
    header.capture_time_us = frame->capture_time_us;
    header.codec = Codec::ima_adpcm;
    header.sample_count = kFrame;
    const auto prefix = proto::encode_audio_prefix(header, payload, tx);
    const auto encoded = encoder.encode(frame->pcm, tx.subspan(prefix.value));
    bytes += prefix.value + encoded.value;
    queue.release();
  }
  return bytes;
}

int instructions(std::size_t frames) {
  NoLock lock;
  NoSignal signal;
  std::vector<std::int16_t> storage(4 * kFrame);
  std::vector<pipeline::AudioFrame> slots(4);
  for (std::size_t i = 0; i < slots.size(); ++i) slots[i].pcm = std::span(storage).subspan(i * kFrame, kFrame);
  pipeline::FrameQueue queue(slots, lock, signal);
  pipeline::CaptureConfig config;
  config.gain_cdb = 600;
  pipeline::Capture capture(config, queue);
  FrameEncoder encoder(Codec::ima_adpcm, 1);
  std::vector<std::uint8_t> tx(pipeline::sender_buffer_size(1, kFrame));
  const auto codes = adc_signal(frames * kFrame);
  const std::uint64_t bytes = run_frames(capture, queue, encoder, codes, tx);
  std::printf("op=pipeline frames=%zu samples=%zu bytes=%" PRIu64 "\n", frames, frames * kFrame, bytes);
  return 0;
}

int memory(std::uint32_t queue_ms) {
  const std::size_t depth = (queue_ms + 19) / 20;
  const std::size_t slots = depth + 2;
  const std::size_t pool = slots * kFrame * sizeof(std::int16_t);
  const std::size_t slot_table = slots * sizeof(pipeline::AudioFrame);
  const std::size_t tx = pipeline::sender_buffer_size(1, kFrame);
  std::printf("pipeline static RAM, 16 kHz mono, 20 ms frames, %u ms queue (%zu-bit pointers):\n", queue_ms,
              sizeof(void*) * 8);
  std::printf("  frame pool        %6zu bytes  (%zu frames of %u samples: %zu queued + 1 filling + 1 sending)\n", pool,
              slots, kFrame, depth);
  std::printf("  frame table       %6zu bytes  (%zu x AudioFrame of %zu)\n", slot_table, slots,
              sizeof(pipeline::AudioFrame));
  std::printf("  FrameQueue        %6zu bytes\n", sizeof(pipeline::FrameQueue));
  std::printf("  Capture           %6zu bytes\n", sizeof(pipeline::Capture));
  std::printf("  Sender            %6zu bytes  (parser and receive buffers included)\n", sizeof(pipeline::Sender));
  std::printf("  transmit buffer   %6zu bytes  (one PCM16 AUDIO frame, the largest codec)\n", tx);
  const std::size_t total =
      pool + slot_table + sizeof(pipeline::FrameQueue) + sizeof(pipeline::Capture) + sizeof(pipeline::Sender) + tx;
  std::printf("  total             %6zu bytes  (%.1f KiB), task stacks not included\n", total, total / 1024.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "instructions") == 0) {
    return instructions(argc >= 3 ? std::strtoul(argv[2], nullptr, 10) : 1000);
  }
  if (argc >= 2 && std::strcmp(argv[1], "memory") == 0) {
    return memory(argc >= 3 ? static_cast<std::uint32_t>(std::strtoul(argv[2], nullptr, 10)) : 500);
  }
  std::fprintf(stderr, "usage: %s instructions [frames] | memory [queue-ms]\n", argv[0]);
  return 2;
}
