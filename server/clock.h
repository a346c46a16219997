#pragma once

#include <chrono>
#include <cstdint>

namespace micstream::server {

/// The server's clock for every timestamp that leaves it: Unix epoch microseconds.
inline std::uint64_t now_unix_us() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace micstream::server
