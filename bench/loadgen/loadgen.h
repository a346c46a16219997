// One load run against a running micstream-server, in one single-threaded
// epoll process (it shares the machine with the server, so it must be cheap):
// D virtual devices (device_sim.h) stream into the ingest port, L WebSocket
// listeners (ws_listeners.h) receive them, and the report (report.h) says
// what arrived, how late, and what it cost.
//
// Phases: connect devices, connect listeners (a bounded number of handshakes
// at a time), warm-up (not counted), the measured window, then a drain that
// waits for the frames sent inside the window to arrive. The window is defined
// by the frames the devices *sent* in it (by schedule); each listener must
// receive every one of its device's window frames, so expected = sum over
// devices of (frames sent in the window x listeners of that device).
#pragma once

#include "options.h"

namespace micstream::loadgen {

/// Runs the load o describes and prints the report (then --latency-csv,
/// --plot); returns the exit status. Dies (status 2) when the server cannot
/// be reached or the run cannot start.
int run(const Options& o);

}  // namespace micstream::loadgen
