#include "i2s_overflow.h"

#include "esp_attr.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

namespace micstream::firmware {

bool IRAM_ATTR i2s_queue_overflow(i2s_chan_handle_t /*channel*/, i2s_event_data_t* /*event*/, void* capture_task) {
  BaseType_t woken = pdFALSE;
  TaskHandle_t task = *static_cast<TaskHandle_t*>(capture_task);
  if (task != nullptr) vTaskNotifyGiveFromISR(task, &woken);
  return woken == pdTRUE;
}

}  // namespace micstream::firmware
