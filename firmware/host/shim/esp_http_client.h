// Host stand-in for ESP-IDF's esp_http_client.h (firmware/host only): the
// calls and fields main/signed_ota.cpp uses, with v5.x's names and types.
// Plain http:// only, one GET a client (ota_shim.cpp).
#pragma once
#include <cstdint>

#include "esp_err.h"

typedef struct esp_http_client* esp_http_client_handle_t;

typedef struct {
  const char* url;
  int timeout_ms;
  bool keep_alive_enable;
  esp_err_t (*crt_bundle_attach)(void* conf);
} esp_http_client_config_t;

typedef enum { HttpStatus_Ok = 200, HttpStatus_NotFound = 404 } HttpStatus_Code;

esp_http_client_handle_t esp_http_client_init(const esp_http_client_config_t* config);
esp_err_t esp_http_client_open(esp_http_client_handle_t client, int write_len);
int64_t esp_http_client_fetch_headers(esp_http_client_handle_t client);
int esp_http_client_get_status_code(esp_http_client_handle_t client);
int64_t esp_http_client_get_content_length(esp_http_client_handle_t client);
int esp_http_client_read(esp_http_client_handle_t client, char* buffer, int len);
int esp_http_client_read_response(esp_http_client_handle_t client, char* buffer, int len);
bool esp_http_client_is_complete_data_received(esp_http_client_handle_t client);
esp_err_t esp_http_client_close(esp_http_client_handle_t client);
esp_err_t esp_http_client_cleanup(esp_http_client_handle_t client);
