// Host stand-in for ESP-IDF's esp_https_ota.h (firmware/host only): the
// advanced API main/signed_ota.cpp uses, writing into the stand-in OTA slot
// of esp_partition.h (ota_shim.cpp; ota_shim.h lets the test look).
#pragma once
#include "esp_app_desc.h"
#include "esp_http_client.h"

#define ESP_ERR_HTTPS_OTA_IN_PROGRESS (0x9000 + 1)
#define ESP_ERR_OTA_VALIDATE_FAILED (0x1500 + 3)

typedef void* esp_https_ota_handle_t;

typedef struct {
  const esp_http_client_config_t* http_config;
} esp_https_ota_config_t;

esp_err_t esp_https_ota_begin(const esp_https_ota_config_t* ota_config, esp_https_ota_handle_t* handle);
esp_err_t esp_https_ota_get_img_desc(esp_https_ota_handle_t handle, esp_app_desc_t* new_app_info);
esp_err_t esp_https_ota_perform(esp_https_ota_handle_t handle);
bool esp_https_ota_is_complete_data_received(esp_https_ota_handle_t handle);
int esp_https_ota_get_image_len_read(esp_https_ota_handle_t handle);
int esp_https_ota_get_image_size(esp_https_ota_handle_t handle);
esp_err_t esp_https_ota_finish(esp_https_ota_handle_t handle);
esp_err_t esp_https_ota_abort(esp_https_ota_handle_t handle);
