// Files holding secrets (device secrets, password hashes) must be readable by
// the server's user only: a hash another local user can read is one they can
// attack offline, a file they can write lets them add themselves.
#pragma once

#include <filesystem>
#include <string_view>

namespace micstream::server {

/// Throws std::runtime_error naming `what` ("users file") and the file when
/// it cannot be stat'ed, is not a regular file, or has any group/other
/// permission bit set (st_mode & 077); the message says the chmod to run.
/// Symbolic links are followed: the mode of the file read is what counts.
void require_private_file(const std::filesystem::path& file, std::string_view what);

}  // namespace micstream::server
