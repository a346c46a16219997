#include "secrets_file.h"

#include <toml++/toml.h>

namespace micstream::device {

std::optional<std::map<std::string, std::string>> load_secrets(const std::string& path, std::string& error) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    error = "secrets file " + path + ": " + std::string(e.description());
    return std::nullopt;
  }
  const toml::table* devices = table["devices"].as_table();
  if (devices == nullptr) {
    error = "secrets file " + path + ": no [devices] table";
    return std::nullopt;
  }
  std::map<std::string, std::string> secrets;
  for (const auto& [key, value] : *devices) {
    const auto secret = value.value<std::string>();
    if (!secret) {
      error = "secrets file " + path + ": the secret of '" + std::string(key.str()) + "' is not a string";
      return std::nullopt;
    }
    secrets.emplace(std::string(key.str()), *secret);
  }
  return secrets;
}

}  // namespace micstream::device
