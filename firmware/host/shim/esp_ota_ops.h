// Host stand-in for ESP-IDF's esp_ota_ops.h (firmware/host only): the slot
// the next update goes to (ota_shim.cpp).
#pragma once
#include "esp_partition.h"

const esp_partition_t* esp_ota_get_next_update_partition(const esp_partition_t* start_from);
