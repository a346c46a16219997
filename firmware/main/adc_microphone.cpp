#include "adc_microphone.h"

#include <cstring>

#include "esp_adc/adc_cali.h"
#include "esp_adc/adc_cali_scheme.h"
#include "esp_attr.h"
#include "esp_check.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "soc/soc_caps.h"

namespace micstream::firmware {

namespace {

constexpr char kTag[] = "adc_mic";
constexpr adc_atten_t kAttenuation = ADC_ATTEN_DB_12;  // about 0..3.1 V: a mid-supply bias sits in the middle
constexpr std::uint16_t kMaxCode = 4095;

// The ESP32 writes 2-byte results (type 1); later chips 4-byte ones (type 2).
#if CONFIG_IDF_TARGET_ESP32
constexpr adc_digi_output_format_t kFormat = ADC_DIGI_OUTPUT_FORMAT_TYPE1;
#else
constexpr adc_digi_output_format_t kFormat = ADC_DIGI_OUTPUT_FORMAT_TYPE2;
#endif
static_assert(sizeof(adc_digi_output_data_t) == SOC_ADC_DIGI_RESULT_BYTES);

// The pool was full: a conversion frame (one block) was dropped. Runs in the
// ADC's interrupt, from IRAM: it only counts the loss on the capture task.
bool IRAM_ATTR on_pool_overflow(adc_continuous_handle_t /*handle*/, const adc_continuous_evt_data_t* /*event*/,
                                void* capture_task) {
  BaseType_t woken = pdFALSE;
  TaskHandle_t task = *static_cast<TaskHandle_t*>(capture_task);
  if (task != nullptr) vTaskNotifyGiveFromISR(task, &woken);
  return woken == pdTRUE;
}

// The chip's voltage calibration of ADC1 at kAttenuation, from eFuse.
class Calibration {
 public:
  explicit Calibration(adc_channel_t channel) {
#if ADC_CALI_SCHEME_CURVE_FITTING_SUPPORTED
    adc_cali_curve_fitting_config_t curve = {};
    curve.unit_id = ADC_UNIT_1;
    curve.chan = channel;
    curve.atten = kAttenuation;
    curve.bitwidth = ADC_BITWIDTH_12;
    error_ = adc_cali_create_scheme_curve_fitting(&curve, &handle_);
    if (error_ == ESP_OK) {
      scheme_ = "curve fitting";
      return;
    }
#endif
#if ADC_CALI_SCHEME_LINE_FITTING_SUPPORTED
    adc_cali_line_fitting_config_t line = {};
    line.unit_id = ADC_UNIT_1;
    line.atten = kAttenuation;
    line.bitwidth = ADC_BITWIDTH_12;
#if CONFIG_IDF_TARGET_ESP32
    line.default_vref = 1100;  // mV, used only when eFuse holds neither Vref nor two-point values
#endif
    error_ = adc_cali_create_scheme_line_fitting(&line, &handle_);
    if (error_ == ESP_OK) {
      scheme_ = "line fitting";
      line_ = true;
    }
#endif
    (void)channel;
  }
  ~Calibration() {
    if (handle_ == nullptr) return;
#if ADC_CALI_SCHEME_LINE_FITTING_SUPPORTED
    if (line_) {
      (void)adc_cali_delete_scheme_line_fitting(handle_);
      return;
    }
#endif
#if ADC_CALI_SCHEME_CURVE_FITTING_SUPPORTED
    (void)adc_cali_delete_scheme_curve_fitting(handle_);
#endif
  }
  Calibration(const Calibration&) = delete;
  Calibration& operator=(const Calibration&) = delete;

  [[nodiscard]] bool ok() const { return handle_ != nullptr; }
  [[nodiscard]] esp_err_t error() const { return error_; }
  [[nodiscard]] const char* scheme() const { return scheme_; }
  [[nodiscard]] int millivolts(int code) const {
    int mv = 0;
    return adc_cali_raw_to_voltage(handle_, code, &mv) == ESP_OK ? mv : -1;
  }

 private:
  adc_cali_handle_t handle_ = nullptr;
  esp_err_t error_ = ESP_ERR_NOT_SUPPORTED;
  const char* scheme_ = "none";
  bool line_ = false;
};

}  // namespace

esp_err_t AdcMicrophone::start() {
  bind_to_current_task();
  const std::size_t block_bytes = std::size_t{config_.block_samples} * config_.oversample * SOC_ADC_DIGI_RESULT_BYTES;
  ESP_RETURN_ON_FALSE(config_.block_samples > 0 && config_.oversample > 0 && config_.raw.size() == block_bytes &&
                          config_.codes.size() >= config_.block_samples &&
                          block_bytes % SOC_ADC_DIGI_DATA_BYTES_PER_CONV == 0,
                      ESP_ERR_INVALID_SIZE, kTag, "block buffers do not match the block size");
  if (const esp_err_t err = open_driver(); err != ESP_OK) {
    if (handle_ != nullptr) (void)adc_continuous_deinit(handle_);
    handle_ = nullptr;
    return err;
  }
  if (const esp_err_t err = measure_zero(); err != ESP_OK) {
    (void)adc_continuous_stop(handle_);
    (void)adc_continuous_deinit(handle_);
    handle_ = nullptr;
    return err;
  }
  (void)take_overruns();  // losses while measuring are no gap in the stream: it has not begun
  sum_ = summed_ = 0;
  return ESP_OK;
}

esp_err_t AdcMicrophone::open_driver() {
  adc_unit_t unit = ADC_UNIT_1;
  adc_channel_t channel = ADC_CHANNEL_0;
  ESP_RETURN_ON_ERROR(adc_continuous_io_to_channel(config_.gpio, &unit, &channel), kTag, "GPIO %d is not an ADC pin",
                      config_.gpio);
  ESP_RETURN_ON_FALSE(unit == ADC_UNIT_1, ESP_ERR_INVALID_ARG, kTag,
                      "GPIO %d is on ADC2, which WiFi uses and DMA cannot read: pick an ADC1 pin", config_.gpio);
  channel_ = static_cast<std::uint32_t>(channel);

  adc_continuous_handle_cfg_t handle_config = {};
  handle_config.conv_frame_size = static_cast<std::uint32_t>(config_.raw.size());
  handle_config.max_store_buf_size = static_cast<std::uint32_t>(config_.raw.size() * config_.driver_blocks);
  ESP_RETURN_ON_ERROR(adc_continuous_new_handle(&handle_config, &handle_), kTag, "creating the ADC DMA driver");

  adc_digi_pattern_config_t pattern = {};
  pattern.atten = kAttenuation;
  pattern.channel = static_cast<std::uint8_t>(channel);
  pattern.unit = ADC_UNIT_1;
  pattern.bit_width = SOC_ADC_DIGI_MAX_BITWIDTH;
  adc_continuous_config_t config = {};
  config.pattern_num = 1;
  config.adc_pattern = &pattern;
  config.sample_freq_hz = config_.sample_rate * config_.oversample;
  config.conv_mode = ADC_CONV_SINGLE_UNIT_1;
  config.format = kFormat;
  ESP_RETURN_ON_ERROR(adc_continuous_config(handle_, &config), kTag, "configuring %lu conversions a second",
                      static_cast<unsigned long>(config.sample_freq_hz));

  adc_continuous_evt_cbs_t callbacks = {};
  callbacks.on_pool_ovf = on_pool_overflow;
  ESP_RETURN_ON_ERROR(adc_continuous_register_event_callbacks(handle_, &callbacks, &capture_task_), kTag,
                      "registering the overflow callback");
  ESP_RETURN_ON_ERROR(adc_continuous_start(handle_), kTag, "starting the ADC");
  ESP_LOGI(kTag, "GPIO %d (ADC1 channel %lu), %lu Hz x %lu conversions averaged, 12 dB attenuation", config_.gpio,
           static_cast<unsigned long>(channel_), static_cast<unsigned long>(config_.sample_rate),
           static_cast<unsigned long>(config_.oversample));
  return ESP_OK;
}

esp_err_t AdcMicrophone::read_codes(std::uint32_t timeout_ms, std::size_t& count) {
  count = 0;
  std::uint32_t length = 0;
  const esp_err_t err = adc_continuous_read(handle_, config_.raw.data(), static_cast<std::uint32_t>(config_.raw.size()),
                                            &length, timeout_ms);
  if (err != ESP_OK) return err;
  const std::size_t results = length / SOC_ADC_DIGI_RESULT_BYTES;
  for (std::size_t i = 0; i < results; ++i) {
    adc_digi_output_data_t result;
    std::memcpy(&result, config_.raw.data() + i * SOC_ADC_DIGI_RESULT_BYTES, SOC_ADC_DIGI_RESULT_BYTES);
#if CONFIG_IDF_TARGET_ESP32
    const bool ours = result.type1.channel == channel_;
    const std::uint16_t data = result.type1.data;
#else
    const bool ours = result.type2.channel == channel_;
    const std::uint16_t data = result.type2.data;
#endif
    // A result the DMA marked invalid still took a conversion slot: repeat
    // the last code, so the sample count keeps time.
    const std::uint16_t code = ours ? data : last_code_;
    last_code_ = code;
    sum_ += code;
    if (++summed_ == config_.oversample) {
      if (count < config_.codes.size()) {
        config_.codes[count++] = static_cast<std::uint16_t>((sum_ + summed_ / 2) / summed_);
      }
      sum_ = 0;
      summed_ = 0;
    }
  }
  return ESP_OK;
}

esp_err_t AdcMicrophone::read(pipeline::Capture& capture, std::uint32_t timeout_ms) {
  std::size_t count = 0;
  if (const esp_err_t err = read_codes(timeout_ms, count); err != ESP_OK) return err;
  const auto arrival_us = static_cast<std::uint64_t>(esp_timer_get_time());
  if (const std::uint32_t lost = take_overruns(); lost > 0) {
    // The pool dropped `lost` whole blocks after the ones it held; the gap is
    // put here, at most one pool of audio before its true place.
    skip_lost(capture, lost, config_.block_samples);
  }
  if (count > 0) capture.push_adc12(config_.codes.first(count), arrival_us);
  return ESP_OK;
}

esp_err_t AdcMicrophone::measure_zero() {
  const std::uint32_t block_ms = config_.block_samples * 1000 / config_.sample_rate;
  const std::uint32_t timeout_ms = 4 * block_ms + 100;
  std::uint32_t wanted = config_.zero_window_ms * config_.sample_rate / 1000;
  if (wanted == 0) wanted = 1;
  std::uint64_t total = 0;
  std::uint32_t samples = 0;
  std::uint32_t clipped = 0;
  while (samples < wanted) {
    std::size_t count = 0;
    ESP_RETURN_ON_ERROR(read_codes(timeout_ms, count), kTag, "no conversions from the ADC within %lu ms",
                        static_cast<unsigned long>(timeout_ms));
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint16_t code = config_.codes[i];
      total += code;
      if (code <= 8 || code >= kMaxCode - 8) ++clipped;
    }
    samples += static_cast<std::uint32_t>(count);
  }
  zero_code_ = static_cast<std::int32_t>((total + samples / 2) / samples);
  report_zero(clipped, samples);
  return ESP_OK;
}

void AdcMicrophone::report_zero(std::uint32_t clipped, std::uint32_t samples) const {
  const Calibration calibration(static_cast<adc_channel_t>(channel_));
  const int zero_mv = calibration.ok() ? calibration.millivolts(zero_code_) : -1;
  const int low_mv = calibration.ok() ? calibration.millivolts(0) : -1;
  const int high_mv = calibration.ok() ? calibration.millivolts(kMaxCode) : -1;
  if (zero_mv >= 0 && low_mv >= 0 && high_mv >= 0) {
    ESP_LOGI(kTag, "silence reads code %ld = %d mV (%s); peaks of -%d/+%d mV fit the ADC's %d..%d mV",
             static_cast<long>(zero_code_), zero_mv, calibration.scheme(), zero_mv - low_mv, high_mv - zero_mv, low_mv,
             high_mv);
  } else {
    ESP_LOGI(kTag, "silence reads code %ld (no voltage calibration: %s)", static_cast<long>(zero_code_),
             esp_err_to_name(calibration.error()));
  }
  if (zero_code_ < 1024 || zero_code_ > 3072) {
    ESP_LOGW(kTag, "the microphone's bias is far from mid-range: check its 3.3 V supply and the wiring to GPIO %d",
             config_.gpio);
  }
  if (clipped > samples / 100) {
    ESP_LOGW(kTag, "%lu of %lu samples of silence at the ADC's limits: lower the breakout's gain",
             static_cast<unsigned long>(clipped), static_cast<unsigned long>(samples));
  }
}

}  // namespace micstream::firmware
