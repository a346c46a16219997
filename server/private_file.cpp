#include "private_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

namespace micstream::server {

namespace {

// The path as a shell word, so the suggested command can be pasted as is.
std::string shell_quoted(const std::string& path) {
  if (!path.empty() && path.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-+") ==
                           std::string::npos) {
    return path;
  }
  std::string out = "'";
  for (char c : path) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

void require_private_file(const std::filesystem::path& file, std::string_view what) {
  const std::string prefix = std::string(what) + " " + file.string() + ": ";
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) throw std::runtime_error(prefix + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(prefix + "not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw std::runtime_error(prefix + "is accessible by group or others (mode " + mode +
                             "); it holds secrets, so run: chmod 600 " + shell_quoted(file.string()));
  }
}

}  // namespace micstream::server
