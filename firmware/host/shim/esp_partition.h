// Host stand-in for ESP-IDF's esp_partition.h (firmware/host only): one OTA
// slot in memory (ota_shim.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "esp_err.h"

typedef struct {
  uint32_t address;
  uint32_t size;
  char label[17];
} esp_partition_t;

esp_err_t esp_partition_read(const esp_partition_t* partition, size_t src_offset, void* dst, size_t size);
