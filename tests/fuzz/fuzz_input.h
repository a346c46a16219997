// The layout of a frame_parser_fuzz input, shared by the fuzz target and the
// seed corpus generator (make_corpus.cpp) so the two always agree.
//
//   byte 0        parser storage: < 0xC0 -> kMaxFrameSize + 16 (the parser
//                 clips it to kMaxFrameSize); 0xC0..0xFE -> kHeaderSize +
//                 (byte - 0xC0) * 64, a small device-side buffer;
//                 0xFF -> 4 bytes (smaller than a header: buffer_too_small)
//   byte 1        low nibble k: number of chunk-size bytes that follow;
//                 high nibble s: chunk sizes are shifted left by min(s, 6)
//   k bytes       chunk sizes c[0..k-1], used in turn, as (c << shift); a 0
//                 means "feed an empty span, then one byte". With k == 0 the
//                 stream is fed one byte at a time.
//   the rest      the byte stream the parser is fed, both in those chunks and
//                 all at once.
#pragma once

#include <cstddef>
#include <cstdint>

#include "micstream/protocol.h"

namespace micstream::fuzz {

inline constexpr std::size_t kFullStorage = proto::kMaxFrameSize + 16;
inline constexpr std::uint8_t kSmallStorageBase = 0xC0;
inline constexpr std::uint8_t kTinyStorage = 0xFF;
inline constexpr std::size_t kTinyStorageSize = 4;
inline constexpr unsigned kMaxShift = 6;

inline std::size_t storage_size(std::uint8_t selector) {
  if (selector == kTinyStorage) return kTinyStorageSize;
  if (selector >= kSmallStorageBase) return proto::kHeaderSize + static_cast<std::size_t>(selector - kSmallStorageBase) * 64u;
  return kFullStorage;
}

}  // namespace micstream::fuzz
