#include "log_observer.h"

#include <fmt/format.h>

#include "micstream/codec.h"
#include "micstream/error.h"

namespace micstream::device {

void LogObserver::on_connected(std::uint32_t reconnects) {
  if (reconnects == 0) {
    log_->info("connected to {}: HELLO accepted, streaming {}", server_, stream_text_);
    if (first_link_hook_) first_link_hook_();
  } else {
    log_->info("reconnected to {} (reconnect {}): HELLO accepted, streaming", server_, reconnects);
  }
}

void LogObserver::on_disconnected(const char* reason, std::uint32_t retry_in_ms) {
  if (stop_.requested()) {
    log_->debug("link closed: {}", reason);  // the device is stopping: no retry
    return;
  }
  disconnects_.fetch_add(1, std::memory_order_relaxed);
  log_->warn("disconnected: {}; retrying in {:.3f} s", reason, retry_in_ms / 1000.0);
}

void LogObserver::on_server_error(const proto::ErrorMessage& error) {
  server_errors_.fetch_add(1, std::memory_order_relaxed);
  log_->error("server ERROR {} ({}): {}", error_name(error.code), static_cast<unsigned>(error.code),
              error.reason.view().empty() ? error_message(error.code) : error.reason.view());
}

void LogObserver::on_config(const proto::Config& config) {
  configs_.fetch_add(1, std::memory_order_relaxed);
  std::string applied;
  if (config.has_gain) applied += fmt::format("gain {:+.2f} dB", config.gain_cdb / 100.0);
  if (config.has_codec) applied += fmt::format("{}codec {}", applied.empty() ? "" : ", ", codec_name(config.codec));
  if (config.check_update) {
    applied += fmt::format("{}a firmware update is offered (a virtual device has no firmware to update)",
                           applied.empty() ? "" : "; ");
  }
  log_->info("CONFIG applied: {}", applied.empty() ? "nothing to change" : applied);
}

void LogObserver::fill_stats(proto::Stats& stats) {
  stats.free_heap_bytes = 0;
  stats.min_free_heap_bytes = 0;
  stats.wifi_rssi_dbm = proto::kRssiUnknown;
}

}  // namespace micstream::device
