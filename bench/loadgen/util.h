// Clocks, diagnostics and the stop signal, shared by every part of the loadgen.
#pragma once

#include <cstdint>
#include <ctime>

namespace micstream::loadgen {

/// Steady clock, ns: the devices' frame schedule and the phases run on it.
inline std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// System clock, Unix us: capture times and PINGs (the server reads the same clock).
inline std::int64_t unix_us() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

/// "micstream-loadgen: error: ..." on stderr, exit status 2. Flushes stdout first.
[[noreturn]] void die(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

/// "loadgen: ..." progress on stderr (stdout carries only the report).
void note(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

/// SIGINT and SIGTERM set the flag interrupted() reads; SIGPIPE is ignored
/// (a send to a closed socket fails with EPIPE instead).
void install_signal_handlers();
[[nodiscard]] bool interrupted();

}  // namespace micstream::loadgen
