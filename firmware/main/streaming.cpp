#include "streaming.h"

#include <array>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

#include "build_config.h"
#include "esp_app_desc.h"
#include "esp_check.h"
#include "esp_clock.h"
#include "esp_log.h"
#include "esp_random_source.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "freertos_mutex.h"
#include "freertos_signal.h"
#include "micstream/pipeline/capture.h"
#include "micstream/pipeline/frame_queue.h"
#include "micstream/pipeline/sender.h"
#include "sdkconfig.h"
#include "soc/soc_caps.h"
#include "socket_transport.h"
#include "stream_observer.h"
#include "tls_transport.h"

#if CONFIG_MICSTREAM_MIC_ADC
#include "adc_microphone.h"
#elif CONFIG_MICSTREAM_MIC_I2S_STD
#include "i2s_std_microphone.h"
#elif CONFIG_MICSTREAM_MIC_I2S_PDM
#include "pdm_microphone.h"
#endif

namespace micstream::firmware {

namespace {

constexpr char kTag[] = "stream";

// ---------------------------------------------------------------------------
// The microphone chosen in menuconfig, with the buffer for one DMA block.

#if CONFIG_MICSTREAM_MIC_ADC
// The ADC's DMA has a lowest conversion rate (20 kHz on the ESP32): average
// as many conversions a sample as that takes, at least as many as configured.
constexpr std::uint32_t kAdcMinOversample = (SOC_ADC_SAMPLE_FREQ_THRES_LOW + kSampleRate - 1) / kSampleRate;
constexpr std::uint32_t kAdcOversample =
    CONFIG_MICSTREAM_ADC_OVERSAMPLE > kAdcMinOversample ? CONFIG_MICSTREAM_ADC_OVERSAMPLE : kAdcMinOversample;
static_assert(std::uint64_t{kSampleRate} * kAdcOversample <= SOC_ADC_SAMPLE_FREQ_THRES_HIGH,
              "CONFIG_MICSTREAM_SAMPLE_RATE x CONFIG_MICSTREAM_ADC_OVERSAMPLE exceeds the ADC's conversion rate");
constexpr std::size_t kAdcBlockBytes = std::size_t{kBlockSamples} * kAdcOversample * SOC_ADC_DIGI_RESULT_BYTES;
static_assert(kAdcBlockBytes % SOC_ADC_DIGI_DATA_BYTES_PER_CONV == 0,
              "an ADC block must be a whole number of DMA words: change CONFIG_MICSTREAM_DMA_BLOCK_MS");
alignas(4) std::uint8_t s_adc_raw[kAdcBlockBytes];
std::uint16_t s_adc_codes[kBlockSamples];
constexpr std::size_t kMicrophoneBufferBytes = sizeof s_adc_raw + sizeof s_adc_codes;
AdcMicrophone s_microphone(AdcMicrophoneConfig{
    .gpio = CONFIG_MICSTREAM_ADC_GPIO,
    .sample_rate = kSampleRate,
    .oversample = kAdcOversample,
    .block_samples = kBlockSamples,
    .driver_blocks = kDriverBlocks,
    .zero_window_ms = CONFIG_MICSTREAM_ADC_ZERO_WINDOW_MS,
    .raw = s_adc_raw,
    .codes = s_adc_codes,
});
constexpr std::uint32_t kMicrophoneStartMs = CONFIG_MICSTREAM_ADC_ZERO_WINDOW_MS + 2000;

#elif CONFIG_MICSTREAM_MIC_I2S_STD
#if CONFIG_MICSTREAM_I2S_SLOT_RIGHT
constexpr bool kRightSlot = true;
#else
constexpr bool kRightSlot = false;
#endif
std::int32_t s_i2s_words[kBlockSamples];
constexpr std::size_t kMicrophoneBufferBytes = sizeof s_i2s_words;
I2sStdMicrophone s_microphone(I2sStdMicrophoneConfig{
    .bclk_gpio = CONFIG_MICSTREAM_I2S_BCLK_GPIO,
    .ws_gpio = CONFIG_MICSTREAM_I2S_WS_GPIO,
    .din_gpio = CONFIG_MICSTREAM_I2S_DIN_GPIO,
    .right_slot = kRightSlot,
    .sample_rate = kSampleRate,
    .block_samples = kBlockSamples,
    .driver_blocks = kDriverBlocks,
    .words = s_i2s_words,
});
constexpr std::uint32_t kMicrophoneStartMs = 2000;

#elif CONFIG_MICSTREAM_MIC_I2S_PDM
#if CONFIG_MICSTREAM_PDM_SLOT_RIGHT
constexpr bool kRightSlot = true;
#else
constexpr bool kRightSlot = false;
#endif
#if CONFIG_MICSTREAM_PDM_DOWNSAMPLE_128
constexpr bool kClock128x = true;
#else
constexpr bool kClock128x = false;
#endif
std::int16_t s_pdm_samples[kBlockSamples];
constexpr std::size_t kMicrophoneBufferBytes = sizeof s_pdm_samples;
PdmMicrophone s_microphone(PdmMicrophoneConfig{
    .clk_gpio = CONFIG_MICSTREAM_PDM_CLK_GPIO,
    .din_gpio = CONFIG_MICSTREAM_PDM_DIN_GPIO,
    .right_slot = kRightSlot,
    .clock_128x = kClock128x,
    .sample_rate = kSampleRate,
    .block_samples = kBlockSamples,
    .driver_blocks = kDriverBlocks,
    .samples = s_pdm_samples,
});
constexpr std::uint32_t kMicrophoneStartMs = 2000;

#else
#error "no microphone selected (CONFIG_MICSTREAM_MIC)"
#endif

// ---------------------------------------------------------------------------
// Static storage: the frame pool and the sender's buffer, the task stacks.

std::int16_t s_frame_pcm[kFrameSlots][kFrameSamples];
std::array<pipeline::AudioFrame, kFrameSlots> s_frames;
std::uint8_t s_tx_buffer[kTxBufferSize];

StackType_t s_capture_stack[CONFIG_MICSTREAM_CAPTURE_TASK_STACK];
StaticTask_t s_capture_task;
StackType_t s_sender_stack[CONFIG_MICSTREAM_SENDER_TASK_STACK];
StaticTask_t s_sender_task;

std::span<pipeline::AudioFrame> frame_slots() {
  for (std::size_t i = 0; i < kFrameSlots; ++i) s_frames[i].pcm = s_frame_pcm[i];
  return s_frames;
}

// Everything the two tasks share, built once by start_streaming().
struct Pipeline {
  Pipeline(const Settings& settings_in, WifiStation& wifi_in, const ServerLocator& locator, OtaUpdater& ota)
      : socket(locator, TransportOptions{.keepalive_idle_s = CONFIG_MICSTREAM_TCP_KEEPALIVE_IDLE_S,
                                         .keepalive_interval_s = CONFIG_MICSTREAM_TCP_KEEPALIVE_INTERVAL_S,
                                         .keepalive_count = CONFIG_MICSTREAM_TCP_KEEPALIVE_COUNT}),
#if CONFIG_MICSTREAM_LINK_TLS
        tls(socket, clock, settings_in.device_id, settings_in.secret_bytes()),
#endif
        observer(ota, wifi_in, locator),
        settings(settings_in),
        wifi(wifi_in),
        queue(frame_slots(), mutex, signal) {}

  FreeRtosMutex mutex;
  FreeRtosSignal signal;
  EspClock clock;
  EspRandom random;
  SocketTransport socket;
#if CONFIG_MICSTREAM_LINK_TLS
  TlsTransport tls;
  pipeline::Transport& transport() { return tls; }
#else
  pipeline::Transport& transport() { return socket; }
#endif
  StreamObserver observer;
  const Settings& settings;
  WifiStation& wifi;
  pipeline::FrameQueue queue;
  std::optional<pipeline::Capture> capture;  // made by the capture task, once the microphone's zero is known
  std::optional<pipeline::Sender> sender;
  TaskHandle_t starter = nullptr;  // told when capture runs (or cannot)
};

std::optional<Pipeline> s_pipeline;

constexpr std::uint32_t kCaptureStarted = 1;
constexpr std::uint32_t kCaptureFailed = 2;

void capture_task(void* arg) {
  Pipeline& p = *static_cast<Pipeline*>(arg);
  if (const esp_err_t err = s_microphone.start(); err != ESP_OK) {
    ESP_LOGE(kTag, "the microphone did not start: %s", esp_err_to_name(err));
    xTaskNotify(p.starter, kCaptureFailed, eSetValueWithOverwrite);
    vTaskDelete(nullptr);
    return;
  }
  pipeline::CaptureConfig config;
  config.sample_rate = kSampleRate;
  config.channels = kChannels;
  config.samples_per_frame = kSamplesPerFrame;
  config.adc_zero_code = s_microphone.zero_code();
  config.dc_cutoff_hz = static_cast<float>(CONFIG_MICSTREAM_DC_CUTOFF_HZ);
  config.gain_cdb = CONFIG_MICSTREAM_GAIN_CDB;
  pipeline::Capture& capture = p.capture.emplace(config, p.queue);
  xTaskNotify(p.starter, kCaptureStarted, eSetValueWithOverwrite);

  constexpr std::uint32_t kTimeoutMs = 4 * kBlockMs + 100;
  constexpr std::int64_t kReportEveryUs = 5 * 1000 * 1000;
  std::uint32_t failures = 0;
  std::uint64_t reported_lost = 0;
  std::int64_t next_report_us = 0;
  for (;;) {
    if (const esp_err_t err = s_microphone.read(capture, kTimeoutMs); err != ESP_OK) {
      if (failures++ % 10 == 0) {
        ESP_LOGE(kTag, "no audio from the microphone (%s, %lu times)", esp_err_to_name(err),
                 static_cast<unsigned long>(failures));
      }
      if (err != ESP_ERR_TIMEOUT) vTaskDelay(ticks_for_ms(kBlockMs));  // never spin at this priority
      continue;
    }
    failures = 0;
    if (const std::uint64_t lost = s_microphone.lost_samples(); lost != reported_lost) {
      const std::int64_t now_us = esp_timer_get_time();
      if (now_us >= next_report_us) {
        ESP_LOGW(kTag, "DMA overrun: %llu samples lost since start (sent as gaps)",
                 static_cast<unsigned long long>(lost));
        reported_lost = lost;
        next_report_us = now_us + kReportEveryUs;
      }
    }
  }
}

void sender_task(void* arg) {
  Pipeline& p = *static_cast<Pipeline*>(arg);
  for (;;) {
    // No address, no connection attempt: wait for WiFi instead of failing
    // (and growing the backoff) while the station is off the network.
    if (!p.sender->streaming()) p.wifi.wait_connected(portMAX_DELAY);
    p.sender->run_once();
  }
}

TaskHandle_t create_task(TaskFunction_t function, const char* name, std::span<StackType_t> stack, StaticTask_t& task,
                         UBaseType_t priority, BaseType_t core) {
#if CONFIG_FREERTOS_UNICORE
  (void)core;
  return xTaskCreateStatic(function, name, stack.size(), &*s_pipeline, priority, stack.data(), &task);
#else
  return xTaskCreateStaticPinnedToCore(function, name, stack.size(), &*s_pipeline, priority, stack.data(), &task, core);
#endif
}

bool printable(std::string_view text) {
  for (const char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

pipeline::SenderConfig sender_config(const Settings& settings) {
  pipeline::SenderConfig config;
  (void)config.device_id.assign(settings.device_id);
  config.secret = settings.secret_bytes();
  config.tls = kLinkTls;
  const esp_app_desc_t* app = esp_app_get_description();
  const std::string_view version(app->version, strnlen(app->version, sizeof app->version));
  if (printable(version)) (void)config.firmware_version.assign(version);
  config.codec = kCodec;
  config.sample_rate = kSampleRate;
  config.channels = kChannels;
  config.samples_per_frame = kSamplesPerFrame;
  config.backoff = BackoffPolicy{.initial_ms = CONFIG_MICSTREAM_RETRY_INITIAL_MS,
                                 .max_ms = CONFIG_MICSTREAM_RETRY_MAX_MS,
                                 .multiplier = 2,
                                 .jitter_percent = CONFIG_MICSTREAM_RETRY_JITTER_PERCENT};
  config.connect_timeout_ms = CONFIG_MICSTREAM_CONNECT_TIMEOUT_MS;
  config.welcome_timeout_ms = CONFIG_MICSTREAM_WELCOME_TIMEOUT_MS;
  config.send_timeout_ms = CONFIG_MICSTREAM_SEND_TIMEOUT_MS;
  config.silence_timeout_ms = CONFIG_MICSTREAM_SILENCE_TIMEOUT_MS;
  config.ping_interval_ms = CONFIG_MICSTREAM_PING_INTERVAL_MS;
  config.stats_interval_ms = CONFIG_MICSTREAM_STATS_INTERVAL_MS;
  return config;
}

// What the pipeline keeps in static RAM (docs/firmware.md, "Memory").
void log_static_ram() {
  const std::size_t stacks =
      sizeof s_capture_stack + sizeof s_sender_stack + sizeof s_capture_task + sizeof s_sender_task;
  const std::size_t total =
      sizeof s_frame_pcm + sizeof s_frames + sizeof s_pipeline + sizeof s_tx_buffer + kMicrophoneBufferBytes + stacks;
  ESP_LOGI(kTag,
           "static RAM: frame pool %u (%u frames of %u samples), frame table %u, queue %u, capture %u, sender %u, "
           "transmit buffer %u, ports %u, microphone block %u, task stacks and TCBs %u: total %u bytes",
           static_cast<unsigned>(sizeof s_frame_pcm), static_cast<unsigned>(kFrameSlots),
           static_cast<unsigned>(kFrameSamples), static_cast<unsigned>(sizeof s_frames),
           static_cast<unsigned>(sizeof(pipeline::FrameQueue)), static_cast<unsigned>(sizeof(pipeline::Capture)),
           static_cast<unsigned>(sizeof(pipeline::Sender)), static_cast<unsigned>(sizeof s_tx_buffer),
           static_cast<unsigned>(sizeof s_pipeline - sizeof(pipeline::FrameQueue) - sizeof(pipeline::Capture) -
                                 sizeof(pipeline::Sender)),
           static_cast<unsigned>(kMicrophoneBufferBytes), static_cast<unsigned>(stacks), static_cast<unsigned>(total));
}

}  // namespace

esp_err_t start_streaming(const Settings& settings, WifiStation& wifi, const ServerLocator& locator, OtaUpdater& ota) {
  ESP_RETURN_ON_FALSE(!s_pipeline.has_value(), ESP_ERR_INVALID_STATE, kTag, "already streaming");
  ESP_RETURN_ON_FALSE(settings.secret_size > 0 && settings.secret_size <= kMaxSecretSize, ESP_ERR_INVALID_ARG, kTag,
                      "no device secret: set CONFIG_MICSTREAM_DEVICE_SECRET in menuconfig or the NVS key secret");
  Pipeline& p = s_pipeline.emplace(settings, wifi, locator, ota);
  p.starter = xTaskGetCurrentTaskHandle();
  (void)xTaskNotifyStateClear(nullptr);
  (void)ulTaskNotifyValueClear(nullptr, UINT32_MAX);

#if CONFIG_FREERTOS_UNICORE
  constexpr BaseType_t kCaptureCore = 0;
#else
  constexpr BaseType_t kCaptureCore = CONFIG_MICSTREAM_CAPTURE_TASK_CORE;
#endif
  ESP_RETURN_ON_FALSE(create_task(capture_task, "capture", s_capture_stack, s_capture_task,
                                  CONFIG_MICSTREAM_CAPTURE_TASK_PRIORITY, kCaptureCore) != nullptr,
                      ESP_FAIL, kTag, "creating the capture task");
  std::uint32_t started = 0;
  ESP_RETURN_ON_FALSE(xTaskNotifyWait(0, UINT32_MAX, &started, ticks_for_ms(kMicrophoneStartMs)) == pdTRUE,
                      ESP_ERR_TIMEOUT, kTag, "the capture task did not start within %lu ms",
                      static_cast<unsigned long>(kMicrophoneStartMs));
  ESP_RETURN_ON_FALSE(started == kCaptureStarted, ESP_FAIL, kTag, "no microphone, no stream");

  pipeline::Sender& sender =
      p.sender.emplace(sender_config(settings), p.queue, *p.capture,
                       pipeline::Sender::Ports{p.transport(), p.clock, p.random, p.observer}, s_tx_buffer);
  if (const Errc e = sender.check(); e != Errc::ok) {
    ESP_LOGE(kTag, "cannot stream with these settings: %s", error_message(e));
    return ESP_ERR_INVALID_ARG;
  }
  ESP_RETURN_ON_FALSE(create_task(sender_task, "sender", s_sender_stack, s_sender_task,
                                  CONFIG_MICSTREAM_SENDER_TASK_PRIORITY, tskNO_AFFINITY) != nullptr,
                      ESP_FAIL, kTag, "creating the sender task");

  ESP_LOGI(kTag, "%s: %lu Hz, %u samples a frame, %s, %u ms queue (%u frames)", settings.device_id,
           static_cast<unsigned long>(kSampleRate), static_cast<unsigned>(kSamplesPerFrame), codec_name(kCodec),
           static_cast<unsigned>(kQueueDepth * kFrameMs), static_cast<unsigned>(kQueueDepth));
  log_static_ram();
  return ESP_OK;
}

}  // namespace micstream::firmware
