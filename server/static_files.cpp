#include "static_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

namespace micstream::server {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxPathLength = 256;

// A name of the page's files: no dot files, no "." or "..", nothing a
// shell, a URL decoder or a JSON encoder would read differently.
bool is_safe_name(std::string_view name) {
  if (name.empty() || name.size() > 100 || name.front() == '.') return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// "/a/b.js" -> "a/b.js"; "/" and "/a/" -> ".../index.html"; empty when unsafe.
std::string relative_path(std::string_view request_path) {
  if (request_path.empty() || request_path.front() != '/' || request_path.size() > kMaxPathLength) return {};
  std::string relative;
  std::string_view rest = request_path.substr(1);
  for (;;) {
    const auto slash = rest.find('/');
    const std::string_view name = rest.substr(0, slash);
    const bool last = slash == std::string_view::npos;
    if (last && name.empty()) {
      relative += "index.html";
      return relative;
    }
    if (!is_safe_name(name)) return {};
    relative += name;
    if (last) return relative;
    relative += '/';
    rest.remove_prefix(slash + 1);
  }
}

bool is_inside(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (p == path.end() || *p != *r) return false;
  }
  return p != path.end();
}

}  // namespace

StaticFolder::StaticFolder(const fs::path& root) {
  std::error_code ec;
  root_ = fs::canonical(root, ec);
  if (ec || !fs::is_directory(root_, ec)) throw std::runtime_error(root.string() + " is not a directory");
}

std::variant<StaticFolder::Opened, StaticFolder::Refusal> StaticFolder::open(std::string_view request_path) const {
  const std::string relative = relative_path(request_path);
  if (relative.empty()) return Refusal::bad_path;
  // Symbolic links are followed only where they stay inside the folder.
  std::error_code ec;
  const fs::path file = fs::canonical(root_ / relative, ec);
  if (ec || !is_inside(file, root_)) return Refusal::not_found;
  // O_NONBLOCK: opening a FIFO with no writer returns at once instead of
  // waiting; fstat then tells it is no regular file.
  const int fd = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return Refusal::not_found;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Refusal::not_found;
  }
  Opened opened;
  opened.file.native_handle(fd);  // owned by the file from here on
  opened.size = static_cast<std::uint64_t>(st.st_size);
  opened.mime_type = mime_type(relative);
  return opened;
}

std::string_view mime_type(std::string_view file_name) {
  const auto dot = file_name.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? "" : file_name.substr(dot);
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".wasm") return "application/wasm";
  if (ext == ".wav") return "audio/wav";
  return "application/octet-stream";
}

}  // namespace micstream::server
