#include "process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace micstream::loadgen {

double proc_cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  auto close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(line.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  // After "pid (comm) ": field 3 is state; utime and stime are fields 14, 15.
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long proc_status_kb(int pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::size_t klen = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, klen, key) == 0 && line.size() > klen && line[klen] == ':') {
      return std::strtol(line.c_str() + klen + 1, nullptr, 10);
    }
  }
  return -1;
}

// A process that starts and ends inside the window is missed, which the CPU
// pressure figure catches. /proc/stat's tick counts are unreliable in some
// VMs; the scheduler's per-process figures are not.
std::map<int, double> other_processes_cpu(int self, int server) {
  std::map<int, double> out;
  const auto tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (const auto& entry : std::filesystem::directory_iterator("/proc", std::filesystem::directory_options::skip_permission_denied)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const int pid = std::stoi(name);
    if (pid == self || pid == server) continue;
    std::ifstream in(entry.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(line.substr(close + 2));
    std::string f;
    double sum = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
      if (i >= 14) sum += std::strtod(f.c_str(), nullptr);
    }
    out[pid] = sum / tck;
  }
  return out;
}

double cpu_used_between(const std::map<int, double>& before, const std::map<int, double>& after) {
  double used = 0;
  for (const auto& [pid, t] : after) {
    auto it = before.find(pid);
    used += it == before.end() ? t : std::max(0.0, t - it->second);
  }
  return used;
}

double cpu_pressure_us() {
  std::ifstream in("/proc/pressure/cpu");
  std::string line;
  if (!std::getline(in, line)) return -1;
  const auto pos = line.find("total=");
  return pos == std::string::npos ? -1 : std::strtod(line.c_str() + pos + 6, nullptr);
}

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace micstream::loadgen
