// Bounds-checked little-endian readers and writers over caller-owned bytes.
// A failed read or write makes the cursor sticky-failed, so a sequence of
// field accesses needs a single check at the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace micstream {

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  std::uint8_t u8() { return static_cast<std::uint8_t>(take(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(take(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(take(4)); }
  std::uint64_t u64() { return take(8); }
  std::int8_t i8() { return static_cast<std::int8_t>(u8()); }
  std::int16_t i16() { return static_cast<std::int16_t>(u16()); }

  /// The next n bytes as a view; empty (and failed) when fewer remain.
  std::span<const std::uint8_t> bytes(std::size_t n) {
    if (failed_ || n > remaining()) {
      failed_ = true;
      return {};
    }
    auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  [[nodiscard]] std::size_t remaining() const { return bytes_.size() - pos_; }
  [[nodiscard]] bool failed() const { return failed_; }

 private:
  std::uint64_t take(std::size_t n) {
    if (failed_ || n > remaining()) {
      failed_ = true;
      return 0;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{bytes_[pos_ + i]} << (8 * i);
    pos_ += n;
    return v;
  }

  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

class ByteWriter {
 public:
  explicit ByteWriter(std::span<std::uint8_t> out) : out_(out) {}

  void u8(std::uint8_t v) { put(v, 1); }
  void u16(std::uint16_t v) { put(v, 2); }
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void i8(std::int8_t v) { u8(static_cast<std::uint8_t>(v)); }
  void i16(std::int16_t v) { u16(static_cast<std::uint16_t>(v)); }

  void bytes(std::span<const std::uint8_t> data) {
    if (failed_ || data.size() > remaining()) {
      failed_ = true;
      return;
    }
    for (std::size_t i = 0; i < data.size(); ++i) out_[pos_ + i] = data[i];
    pos_ += data.size();
  }

  [[nodiscard]] std::size_t size() const { return pos_; }
  [[nodiscard]] std::size_t remaining() const { return out_.size() - pos_; }
  [[nodiscard]] bool failed() const { return failed_; }

 private:
  void put(std::uint64_t v, std::size_t n) {
    if (failed_ || n > remaining()) {
      failed_ = true;
      return;
    }
    for (std::size_t i = 0; i < n; ++i) out_[pos_ + i] = static_cast<std::uint8_t>(v >> (8 * i));
    pos_ += n;
  }

  std::span<std::uint8_t> out_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace micstream
