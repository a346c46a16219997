// Builds a device's source from its configuration.
#pragma once

#include <memory>
#include <string>

#include "device_config.h"
#include "source.h"

namespace micstream::device {

struct Sources {
  std::unique_ptr<SyntheticSource> synthetic;  ///< paced by the capture thread
  std::unique_ptr<LiveSource> live;            ///< paces itself (ALSA)
};

/// Exactly one of the two is set, or neither (error says why).
[[nodiscard]] Sources make_source(const DeviceConfig& config, std::string& error);

/// True when this build can capture from ALSA.
[[nodiscard]] bool have_alsa();

}  // namespace micstream::device
