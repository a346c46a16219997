// The layout of a websocket_reader_fuzz input, shared by the fuzz target and
// its seed corpus generator (make_ws_corpus.cpp) so the two always agree.
//
//   byte 0        the reader's max_payload: < 0xC0 -> the default, what the
//                 listener sessions use; 0xC0..0xFF -> (byte - 0xC0) * 4,
//                 0..252 bytes, so messages hit the bound (and the 125-byte
//                 control limit lies either side of it)
//   byte 1        low nibble k: number of chunk-size bytes that follow;
//                 high nibble s: chunk sizes are shifted left by min(s, 4)
//   k bytes       chunk sizes, used in turn (see chunker.h); a 0 means "feed
//                 an empty span, then one byte"; with k == 0 the stream is
//                 fed one byte at a time
//   the rest      the client's byte stream, fed both in those chunks and all
//                 at once
#pragma once

#include <cstddef>
#include <cstdint>

#include "websocket_frame.h"

namespace micstream::fuzz::ws {

inline constexpr std::uint8_t kSmallMaxPayloadBase = 0xC0;
inline constexpr std::size_t kSmallMaxPayloadStep = 4;
inline constexpr unsigned kMaxShift = 4;  // 255 << 4: a chunk can hold a whole default-sized message

inline std::size_t max_payload(std::uint8_t selector) {
  if (selector < kSmallMaxPayloadBase) return server::WsClientFrameReader::kDefaultMaxPayload;
  return static_cast<std::size_t>(selector - kSmallMaxPayloadBase) * kSmallMaxPayloadStep;
}

}  // namespace micstream::fuzz::ws
