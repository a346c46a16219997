// What the sender tells the platform, logged through spdlog: links accepted
// and lost (with the reason and when it retries), the server's ERRORs by
// code name, CONFIG applied. STATS get what a Linux process can say: no heap
// budget and no radio, so zero and "unknown".
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "micstream/pipeline/sender.h"
#include "stop_flag.h"

namespace micstream::device {

class LogObserver final : public pipeline::SenderObserver {
 public:
  LogObserver(std::string server, const StopFlag& stop, std::shared_ptr<spdlog::logger> log)
      : server_(std::move(server)), stop_(stop), log_(std::move(log)) {}

  void on_connected(std::uint32_t reconnects) override;
  void on_disconnected(const char* reason, std::uint32_t retry_in_ms) override;
  void on_server_error(const proto::ErrorMessage& error) override;
  void on_config(const proto::Config& config) override;
  void fill_stats(proto::Stats& stats) override;

  /// Called with the codec the sender will announce, for the connect message.
  void set_stream_text(std::string text) { stream_text_ = std::move(text); }
  /// Runs on the sender's thread when the server accepts the first link.
  void set_first_link_hook(std::function<void()> hook) { first_link_hook_ = std::move(hook); }

  // Any thread.
  [[nodiscard]] std::uint64_t disconnects() const { return disconnects_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t server_errors() const { return server_errors_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t configs() const { return configs_.load(std::memory_order_relaxed); }

 private:
  std::string server_;
  const StopFlag& stop_;
  std::shared_ptr<spdlog::logger> log_;
  std::string stream_text_;
  std::function<void()> first_link_hook_;
  std::atomic<std::uint64_t> disconnects_{0};
  std::atomic<std::uint64_t> server_errors_{0};
  std::atomic<std::uint64_t> configs_{0};
};

}  // namespace micstream::device
