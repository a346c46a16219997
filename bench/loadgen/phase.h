// Where the run is. The Loadgen moves it on; the devices and the listeners
// read it, since what they count depends on it (late sends and disconnects in
// the window, the window's first and last frame).
#pragma once

#include <cstdint>
#include <limits>

namespace micstream::loadgen {

// connect devices, connect listeners (a bounded number of handshakes at a
// time), warm-up (not counted), the measured window, then a drain that waits
// for the frames sent inside the window to arrive.
enum class Phase { connect_devices, connect_listeners, warmup, measure, drain, done };

struct Timeline {
  Phase phase = Phase::connect_devices;
  // The measured window on the steady clock, by the devices' send schedule;
  // known from the start of the warm-up (the end moves up on an interrupt).
  std::int64_t measure_start_ns = std::numeric_limits<std::int64_t>::max();
  std::int64_t measure_end_ns = std::numeric_limits<std::int64_t>::max();
};

}  // namespace micstream::loadgen
