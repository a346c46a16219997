// Host stand-in for ESP-IDF's esp_crt_bundle.h (firmware/host only): the
// host's HTTP stand-in refuses https://, so this is never called.
#pragma once
#include "esp_err.h"

esp_err_t esp_crt_bundle_attach(void* conf);
