// The stream's shape from menuconfig (Kconfig.projbuild), derived once and
// checked when building: a setting that cannot work fails the build with a
// message instead of failing on the device.
#pragma once

#include <cstddef>
#include <cstdint>

#include "micstream/codec.h"
#include "micstream/pipeline/frame_queue.h"
#include "micstream/pipeline/sender.h"
#include "micstream/protocol.h"
#include "sdkconfig.h"

namespace micstream::firmware {

#if CONFIG_MICSTREAM_LINK_TLS
inline constexpr bool kLinkTls = true;  // TLS-PSK links (tls_transport.h)
#if !CONFIG_MBEDTLS_KEY_EXCHANGE_PSK
#error "CONFIG_MICSTREAM_LINK_TLS needs CONFIG_MBEDTLS_PSK_MODES and CONFIG_MBEDTLS_KEY_EXCHANGE_PSK (sdkconfig.defaults)"
#endif
#else
inline constexpr bool kLinkTls = false;
#endif

inline constexpr std::uint32_t kSampleRate = CONFIG_MICSTREAM_SAMPLE_RATE;
inline constexpr std::uint8_t kChannels = 1;  // every microphone here is mono

inline constexpr std::uint32_t kFrameMs = CONFIG_MICSTREAM_FRAME_MS;
static_assert(kSampleRate * kFrameMs % 1000 == 0,
              "CONFIG_MICSTREAM_FRAME_MS must hold a whole number of samples at CONFIG_MICSTREAM_SAMPLE_RATE");
inline constexpr std::uint16_t kSamplesPerFrame = kSampleRate * kFrameMs / 1000;  // a channel
inline constexpr std::size_t kFrameSamples = std::size_t{kSamplesPerFrame} * kChannels;

// The queue holds CONFIG_MICSTREAM_QUEUE_MS of frames (rounded up); its pool
// has two frames more: the one capture fills and the one the sender sends.
inline constexpr std::size_t kQueueDepth = (CONFIG_MICSTREAM_QUEUE_MS + kFrameMs - 1) / kFrameMs;
inline constexpr std::size_t kFrameSlots = kQueueDepth + 2;
static_assert(kFrameSlots <= pipeline::FrameQueue::kMaxSlots,
              "CONFIG_MICSTREAM_QUEUE_MS holds too many frames of CONFIG_MICSTREAM_FRAME_MS (at most 254)");

// The sender's transmit buffer: one AUDIO frame of the largest codec.
inline constexpr std::size_t kTxBufferSize = pipeline::sender_buffer_size(kChannels, kSamplesPerFrame);
static_assert(kTxBufferSize <= proto::kMaxFrameSize, "a PCM16 frame of this length exceeds the protocol's limit");

// What the converter's DMA delivers at once, and how many such blocks the
// driver keeps for the capture task.
inline constexpr std::uint32_t kBlockMs = CONFIG_MICSTREAM_DMA_BLOCK_MS;
static_assert(kSampleRate * kBlockMs % 1000 == 0,
              "CONFIG_MICSTREAM_DMA_BLOCK_MS must hold a whole number of samples at CONFIG_MICSTREAM_SAMPLE_RATE");
inline constexpr std::uint32_t kBlockSamples = kSampleRate * kBlockMs / 1000;  // a channel
inline constexpr std::uint32_t kDriverBlocks = (CONFIG_MICSTREAM_DMA_BUFFER_MS + kBlockMs - 1) / kBlockMs < 2
                                                   ? 2
                                                   : (CONFIG_MICSTREAM_DMA_BUFFER_MS + kBlockMs - 1) / kBlockMs;

#if CONFIG_MICSTREAM_CODEC_PCM16
inline constexpr Codec kCodec = Codec::pcm16;
#elif CONFIG_MICSTREAM_CODEC_MULAW
inline constexpr Codec kCodec = Codec::mulaw;
#else
inline constexpr Codec kCodec = Codec::ima_adpcm;
#endif

}  // namespace micstream::firmware
