// Files the server hands out (the page from --web-root, images from
// --firmware-dir): only regular files that are really inside their folder,
// opened without blocking (a FIFO or a device never stalls the event loop)
// and sent as a streamed body, so no request reads a file whole.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <variant>

#include <boost/beast/core/file.hpp>

namespace micstream::server {

/// A folder whose files may be served; its canonical path is fixed at start.
class StaticFolder {
 public:
  /// Throws std::runtime_error when root is not an existing directory.
  explicit StaticFolder(const std::filesystem::path& root);

  struct Opened {
    boost::beast::file file;  ///< open for reading, positioned at 0
    std::uint64_t size = 0;
    std::string_view mime_type;
  };
  enum class Refusal : std::uint8_t {
    bad_path,   ///< not a plain relative path of safe names (400)
    not_found,  ///< no such regular file inside the folder (404)
  };

  /// Opens the file a request path names ("/" and ".../" mean index.html).
  [[nodiscard]] std::variant<Opened, Refusal> open(std::string_view request_path) const;

  [[nodiscard]] const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

/// The Content-Type of a file name, by its extension.
[[nodiscard]] std::string_view mime_type(std::string_view file_name);

}  // namespace micstream::server
