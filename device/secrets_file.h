// Device secrets from a TOML file, the server's format:
//   [devices]
//   kitchen = "secret-of-kitchen"
#pragma once

#include <map>
#include <optional>
#include <string>

namespace micstream::device {

/// The [devices] table; nullopt (error set) when the file cannot be read or is malformed.
[[nodiscard]] std::optional<std::map<std::string, std::string>> load_secrets(const std::string& path,
                                                                             std::string& error);

}  // namespace micstream::device
