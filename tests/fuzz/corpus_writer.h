// What the seed corpus generators share: byte strings, the control prefix of
// both fuzz inputs (chunker.h's split_input), and writing the seeds into a
// folder with fixed names, checking each against the fuzzers' -max_len.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace micstream::fuzz {

using Bytes = std::vector<std::uint8_t>;

inline constexpr std::size_t kMaxInputLength = 17000;  // run-fuzz.sh's -max_len

inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

/// The control prefix: the buffer selector, then the chunk sizes and their shift.
inline Bytes control_prefix(std::uint8_t selector, unsigned shift, std::initializer_list<std::uint8_t> chunks) {
  Bytes out{selector, static_cast<std::uint8_t>((shift << 4) | chunks.size())};
  out.insert(out.end(), chunks.begin(), chunks.end());
  return out;
}

/// Writes the seeds of one corpus into the folder its command line names;
/// usage errors and failed writes are reported under the tool's name.
class CorpusWriter {
 public:
  CorpusWriter(const char* tool, int argc, char** argv) : tool_(tool) {
    if (argc != 2) {
      std::fprintf(stderr, "usage: %s <output-dir>\n", argv[0]);
      exit_code_ = 2;
      return;
    }
    dir_ = argv[1];
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) fail("cannot create " + dir_.string() + ": " + ec.message());
  }

  bool ok() const { return exit_code_ == 0; }

  void write(const std::string& name, const Bytes& prefix, const Bytes& stream) {
    if (!ok()) return;
    const Bytes data = cat({prefix, stream});
    if (data.size() > kMaxInputLength) return fail(name + " is longer than the fuzzer's -max_len");
    std::ofstream f(dir_ / name, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    if (!f) fail("cannot write " + (dir_ / name).string());
  }

  /// main's return value, after a line saying what was written.
  int finish() const {
    if (ok()) std::printf("wrote the seed corpus to %s\n", dir_.c_str());
    return exit_code_;
  }

 private:
  void fail(const std::string& what) {
    std::fprintf(stderr, "%s: %s\n", tool_, what.c_str());
    exit_code_ = 1;
  }

  const char* tool_;
  std::filesystem::path dir_;
  int exit_code_ = 0;
};

}  // namespace micstream::fuzz
