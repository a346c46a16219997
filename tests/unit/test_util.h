// Helpers shared by the unit tests.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace micstream::test {

using Bytes = std::vector<std::uint8_t>;

/// Parses hex digits, ignoring whitespace; any other character fails the test's expectation.
inline Bytes from_hex(std::string_view hex) {
  Bytes out;
  int high = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else continue;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  return out;
}

inline std::string to_hex(const std::uint8_t* data, std::size_t size, std::size_t per_line = 16) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    if (i > 0) out += (i % per_line == 0) ? '\n' : ' ';
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

inline std::string to_hex(const Bytes& b) { return to_hex(b.data(), b.size()); }

/// Reads a whole file; empty when it cannot be read.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The hex of the fenced block that follows `<!-- vector:NAME -->` in a doc; empty when absent.
inline Bytes doc_vector(const std::string& doc, const std::string& name) {
  const auto marker = doc.find("<!-- vector:" + name + " -->");
  if (marker == std::string::npos) return {};
  const auto open = doc.find("```", marker);
  if (open == std::string::npos) return {};
  const auto body = doc.find('\n', open);
  const auto close = doc.find("```", body);
  if (body == std::string::npos || close == std::string::npos) return {};
  return from_hex(std::string_view(doc).substr(body, close - body));
}

/// Deterministic 32-bit generator for reproducible "random" test inputs.
class Xorshift32 {
 public:
  explicit Xorshift32(std::uint32_t seed = 2463534242u) : state_(seed ? seed : 1) {}
  std::uint32_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_;
  }
  std::uint32_t below(std::uint32_t n) { return next() % n; }

 private:
  std::uint32_t state_;
};

}  // namespace micstream::test
