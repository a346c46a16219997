#include "secrets.h"

#include <stdexcept>

#include <toml++/toml.h>

#include "micstream/auth.h"
#include "micstream/protocol.h"
#include "private_file.h"

namespace micstream::server {

Secrets Secrets::load(const std::filesystem::path& file) {
  require_private_file(file, "secrets file");
  Secrets secrets;
  toml::table table;
  try {
    table = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw std::runtime_error("secrets file " + file.string() + ": " + std::string(e.description()));
  }
  const toml::table* devices = table["devices"].as_table();
  if (devices == nullptr) throw std::runtime_error("secrets file " + file.string() + ": no [devices] table");
  for (const auto& [key, value] : *devices) {
    const std::string id(key.str());
    if (!proto::is_valid_device_id(id)) {
      throw std::runtime_error("secrets file " + file.string() + ": '" + id +
                               "' is not a valid device id (1..32 of A-Z a-z 0-9 . _ -)");
    }
    if (value.is_table()) {  // `mic.01 = "..."` is TOML for the table mic holding a key 01
      throw std::runtime_error("secrets file " + file.string() + ": '" + id + "' is a table: quote an id with a dot, " +
                               "as in \"" + id + ".01\" = \"...\"");
    }
    const auto secret = value.value<std::string>();
    if (!secret || secret->empty() || secret->size() > kMaxSecretSize) {
      throw std::runtime_error("secrets file " + file.string() + ": the secret of '" + id +
                               "' must be a string of 1.." + std::to_string(kMaxSecretSize) + " bytes");
    }
    secrets.secrets_.emplace(id, *secret);
  }
  return secrets;
}

const std::string* Secrets::find(std::string_view device_id) const {
  const auto it = secrets_.find(device_id);
  return it == secrets_.end() ? nullptr : &it->second;
}

}  // namespace micstream::server
