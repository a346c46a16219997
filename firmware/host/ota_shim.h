// What the host's esp_https_ota / esp_partition / esp_ota_ops stand-ins
// (ota_shim.cpp) did, for the test to check: the slot's bytes and whether the
// boot partition was set or the update aborted.
#pragma once
#include <cstdint>
#include <vector>

namespace micstream::host_ota {

struct Flash {
  std::vector<std::uint8_t> slot;  ///< the next OTA slot's bytes (erased: 0xff)
  int begun = 0;                   ///< esp_https_ota_begin calls that succeeded
  int aborted = 0;                 ///< esp_https_ota_abort calls
  int boot_set = 0;                ///< esp_https_ota_finish calls that set the boot partition
};

/// The one slot; reset() erases it and clears the counts.
Flash& flash();
void reset(std::size_t slot_size);

}  // namespace micstream::host_ota
