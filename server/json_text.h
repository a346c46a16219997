// JSON as text for the wire and the log. Strings that came from outside may
// hold invalid UTF-8; nlohmann::json would throw on them, so they are
// written with U+FFFD in place of the bad bytes instead.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace micstream::server {

[[nodiscard]] inline std::string json_text(const nlohmann::json& json, int indent = -1) {
  return json.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace micstream::server
