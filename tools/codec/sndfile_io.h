// Thin RAII and error-reporting helpers over libsndfile for micstream-codec.
// Every failure is a ToolError naming the file and the reason.
#pragma once

#include <sndfile.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace micstream::tool {

class ToolError : public std::runtime_error {
 public:
  ToolError(const std::string& path, const std::string& reason) : std::runtime_error(path + ": " + reason) {}
};

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};
using Sndfile = std::unique_ptr<SNDFILE, SndfileCloser>;

inline Sndfile open_sndfile(const std::string& path, int mode, SF_INFO& info) {
  Sndfile f(sf_open(path.c_str(), mode, &info));
  if (!f) {
    throw ToolError(path, std::string(mode == SFM_READ ? "cannot read: " : "cannot write: ") + sf_strerror(nullptr));
  }
  return f;
}

// sf_close() is where libsndfile writes the final header, so a written file is
// closed here, where a failure still becomes an error.
inline void close_checked(Sndfile& f, const std::string& path) {
  const int err = sf_close(f.release());
  if (err != SF_ERR_NO_ERROR) throw ToolError(path, std::string("cannot finish writing: ") + sf_error_number(err));
}

// "WAV (Microsoft), IMA ADPCM": libsndfile's own names for a format value.
inline std::string format_name(int format) {
  auto name = [](int value) -> std::string {
    SF_FORMAT_INFO info{};
    info.format = value;
    if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &info, sizeof info) != 0 || info.name == nullptr) {
      return "unknown format 0x" + std::to_string(value);
    }
    return info.name;
  };
  return name(format & SF_FORMAT_TYPEMASK) + ", " + name(format & SF_FORMAT_SUBMASK);
}

// The bytes of the first chunk with this four-character id, through
// libsndfile's chunk API (the file's header is parsed by libsndfile only).
inline std::vector<std::uint8_t> read_chunk(SNDFILE* f, const char (&id)[5], const std::string& path) {
  SF_CHUNK_INFO info{};
  std::memcpy(info.id, id, 4);
  info.id_size = 4;
  SF_CHUNK_ITERATOR* it = sf_get_chunk_iterator(f, &info);
  if (it == nullptr) throw ToolError(path, std::string("has no '") + id + "' chunk");
  if (sf_get_chunk_size(it, &info) != SF_ERR_NO_ERROR) {
    throw ToolError(path, std::string("cannot read the size of the '") + id + "' chunk");
  }
  std::vector<std::uint8_t> data(info.datalen);
  if (data.empty()) return data;
  info.data = data.data();
  if (sf_get_chunk_data(it, &info) != SF_ERR_NO_ERROR) {
    throw ToolError(path, std::string("cannot read the '") + id + "' chunk (truncated file?)");
  }
  return data;
}

}  // namespace micstream::tool
