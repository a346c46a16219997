// Who may open another connection, and how fast a peer may fail: the counts
// that keep one client (or a flood of them) from taking the server's memory,
// descriptors or log. Every map here is bounded.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

namespace micstream::server {

using SteadyTime = std::chrono::steady_clock::time_point;

/// The key a peer is counted under: its IPv4 address, or its IPv6 /64 (one
/// host commonly holds a whole /64, so single IPv6 addresses would count
/// nothing). An IPv4-mapped IPv6 address counts as the IPv4 one.
[[nodiscard]] std::string address_key(const boost::asio::ip::address& address);

/// Open connections of one port, in total and per source address.
class ConnectionLimits {
 public:
  ConnectionLimits(std::size_t total, std::size_t per_address) : total_(total), per_address_(per_address) {}
  ConnectionLimits(const ConnectionLimits&) = delete;
  ConnectionLimits& operator=(const ConnectionLimits&) = delete;

  /// Held for the life of one connection; releases its place when destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(ConnectionLimits* limits, boost::asio::ip::address address) : limits_(limits), address_(std::move(address)) {}
    Slot(Slot&& other) noexcept : limits_(std::exchange(other.limits_, nullptr)), address_(other.address_) {}
    Slot& operator=(Slot&& other) noexcept;
    ~Slot() { release(); }

   private:
    void release();
    ConnectionLimits* limits_ = nullptr;
    boost::asio::ip::address address_;
  };

  /// A place for a connection from address, or nullopt with the reason in why.
  [[nodiscard]] std::optional<Slot> admit(const boost::asio::ip::address& address, const char** why);

  [[nodiscard]] std::size_t open() const { return open_; }
  [[nodiscard]] std::size_t total_limit() const { return total_; }
  void set_total_limit(std::size_t total) { total_ = total; }

 private:
  void release(const boost::asio::ip::address& address);

  std::size_t total_;
  std::size_t per_address_;
  std::size_t open_ = 0;
  std::unordered_map<std::string, std::size_t> by_address_;  // only addresses with open connections
};

/// Failed attempts (HELLOs, logins) per source address in a sliding minute:
/// past the limit the address is turned away until its window has passed.
class FailureLimiter {
 public:
  FailureLimiter(std::size_t failures_per_window, std::chrono::seconds window, std::size_t max_addresses = 4096)
      : limit_(failures_per_window), window_(window), max_addresses_(max_addresses) {}

  [[nodiscard]] bool blocked(const std::string& address, SteadyTime now);
  void record_failure(const std::string& address, SteadyTime now);
  [[nodiscard]] std::size_t tracked() const { return windows_.size(); }

 private:
  struct Window {
    SteadyTime started;
    std::size_t failures = 0;
  };
  std::size_t limit_;
  std::chrono::seconds window_;
  std::size_t max_addresses_;
  std::unordered_map<std::string, Window> windows_;
};

/// At most `burst` log lines per interval for one kind of event; the rest are
/// counted and reported with the next line let through.
class LogBudget {
 public:
  LogBudget(std::size_t burst, std::chrono::seconds interval) : burst_(burst), interval_(interval) {}
  /// True when a line may be written now; suppressed() then tells how many were not.
  [[nodiscard]] bool allow(SteadyTime now);
  /// Lines held back before the one just allowed (reset by the call).
  [[nodiscard]] std::size_t take_suppressed() { return std::exchange(suppressed_, 0); }

 private:
  std::size_t burst_;
  std::chrono::seconds interval_;
  SteadyTime interval_start_{};
  std::size_t used_ = 0;
  std::size_t suppressed_ = 0;
};

}  // namespace micstream::server

namespace micstream::server {

/// Failed device HELLOs. An address that keeps failing is turned away; an
/// id that keeps failing is checked only from the address it last proved
/// itself from, so guessing its secret stops without locking the device out.
struct HelloThrottle {
  FailureLimiter by_address{10, std::chrono::seconds(60)};
  FailureLimiter by_id{5, std::chrono::seconds(60)};
  std::unordered_map<std::string, std::string> proven_address;  // ids of the secrets file only: bounded by it
  LogBudget log{20, std::chrono::seconds(10)};
};

}  // namespace micstream::server
