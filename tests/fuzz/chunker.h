// How the fuzz targets split their stream into feeds: chunk sizes taken in
// turn from the input's control bytes, so the fuzzer explores every way the
// bytes can arrive. Shared by frame_parser_fuzz and websocket_reader_fuzz.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace micstream::fuzz {

// Chunk sizes in turn from the input's control bytes; 0 = one empty feed then 1 byte.
class Chunker {
 public:
  /// The input's chunk sizes (none: one byte at a time), each shifted left by shift.
  static Chunker from_input(std::span<const std::uint8_t> sizes, unsigned shift) { return {sizes, shift, false}; }
  /// The whole stream in one feed.
  static Chunker whole() { return {{}, 0, true}; }

  /// The next chunk's size (SIZE_MAX: the rest of the stream).
  std::size_t next() {
    if (whole_) return SIZE_MAX;
    if (sizes_.empty()) return 1;
    const std::size_t c = sizes_[i_];
    i_ = (i_ + 1) % sizes_.size();
    return c << shift_;
  }

 private:
  Chunker(std::span<const std::uint8_t> sizes, unsigned shift, bool whole)
      : sizes_(sizes), shift_(shift), whole_(whole) {}

  std::span<const std::uint8_t> sizes_;
  unsigned shift_;
  bool whole_;
  std::size_t i_ = 0;
};

/// A fuzz input split as both targets lay it out: byte 0 selects the
/// reader's buffer, byte 1 holds the number k of chunk sizes (low nibble)
/// and their shift (high nibble, at most max_shift), then k sizes, then the
/// stream. Nothing when the input is too short for its own prefix.
struct SplitInput {
  std::uint8_t selector;
  Chunker chunker;
  std::span<const std::uint8_t> stream;
};

inline std::optional<SplitInput> split_input(const std::uint8_t* data, std::size_t size, unsigned max_shift) {
  if (size < 2) return std::nullopt;
  const unsigned k = data[1] & 0x0F;
  const unsigned shift_nibble = data[1] >> 4;
  if (size < 2u + k) return std::nullopt;
  return SplitInput{data[0], Chunker::from_input({data + 2, k}, shift_nibble < max_shift ? shift_nibble : max_shift),
                    {data + 2 + k, size - 2 - k}};
}

/// Feeds stream to feed(span) -> step in the chunker's sizes, each chunk until
/// it is used up. on_empty(step) sees the empty feed a 0-sized chunk asks for;
/// on_step(step, pos, rest) sees every other step, with pos the stream offset
/// after it and rest what is left of its chunk, and returns false to stop.
template <class Feed, class OnEmpty, class OnStep>
void feed_in_chunks(std::span<const std::uint8_t> stream, Chunker chunker, Feed&& feed, OnEmpty&& on_empty,
                    OnStep&& on_step) {
  std::size_t pos = 0;
  while (pos < stream.size()) {
    std::size_t n = chunker.next();
    if (n == 0) {
      on_empty(feed(std::span<const std::uint8_t>{}));
      n = 1;
    }
    if (n > stream.size() - pos) n = stream.size() - pos;
    std::span<const std::uint8_t> chunk = stream.subspan(pos, n);
    while (!chunk.empty()) {
      const auto step = feed(chunk);
      if (step.consumed > chunk.size()) __builtin_trap();
      pos += step.consumed;
      chunk = chunk.subspan(step.consumed);
      if (!on_step(step, pos, chunk)) return;
    }
  }
}

}  // namespace micstream::fuzz
