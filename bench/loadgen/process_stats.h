// CPU time and memory of processes, read from /proc and getrusage(), for the
// report's server / loadgen / machine figures over the measured window.
#pragma once

#include <map>

namespace micstream::loadgen {

/// CPU time of a process in seconds (utime + stime of all its threads), or -1.
double proc_cpu_seconds(int pid);

/// A "VmXXX:  1234 kB" line of /proc/<pid>/status (key "VmHWM", "VmRSS"), in kB, or -1.
long proc_status_kb(int pid, const char* key);

/// CPU seconds used so far by every other live process (pid -> seconds),
/// leaving out self and server.
std::map<int, double> other_processes_cpu(int self, int server);

/// CPU seconds the processes of after used since before (one that is new in after counts whole).
double cpu_used_between(const std::map<int, double>& before, const std::map<int, double>& after);

/// Microseconds some task waited for a CPU (pressure stall information), or -1.
double cpu_pressure_us();

/// This process's CPU time in seconds (user + system).
double self_cpu_seconds();

}  // namespace micstream::loadgen
