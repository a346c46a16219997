#include "util.h"

#include <signal.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace micstream::loadgen {

namespace {

volatile sig_atomic_t g_interrupted = 0;
extern "C" void on_signal(int) { g_interrupted = 1; }

}  // namespace

void die(const char* fmt, ...) {
  std::fflush(stdout);
  std::fputs("micstream-loadgen: error: ", stderr);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::exit(2);
}

void note(const char* fmt, ...) {
  std::fputs("loadgen: ", stderr);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

void install_signal_handlers() {
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool interrupted() { return g_interrupted != 0; }

}  // namespace micstream::loadgen
