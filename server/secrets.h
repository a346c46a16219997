// Per-device secrets, from a TOML file:
//
//   [devices]
//   mic-01 = "a long random secret"
//
// The server never sends them; a device proves it holds its own (auth.h).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace micstream::server {

class Secrets {
 public:
  /// Throws std::runtime_error naming the file and the problem.
  static Secrets load(const std::filesystem::path& file);

  [[nodiscard]] const std::string* find(std::string_view device_id) const;
  [[nodiscard]] std::size_t size() const { return secrets_.size(); }

 private:
  std::map<std::string, std::string, std::less<>> secrets_;
};

}  // namespace micstream::server
