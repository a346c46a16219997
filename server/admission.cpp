#include "admission.h"

#include <algorithm>

namespace micstream::server {

std::string address_key(const boost::asio::ip::address& address) {
  if (address.is_v4()) return address.to_string();
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

ConnectionLimits::Slot& ConnectionLimits::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    limits_ = std::exchange(other.limits_, nullptr);
    address_ = other.address_;
  }
  return *this;
}

void ConnectionLimits::Slot::release() {
  if (limits_ != nullptr) std::exchange(limits_, nullptr)->release(address_);
}

std::optional<ConnectionLimits::Slot> ConnectionLimits::admit(const boost::asio::ip::address& address,
                                                              const char** why) {
  if (open_ >= total_) {
    *why = "the server's connection limit is reached";
    return std::nullopt;
  }
  std::size_t& mine = by_address_[address_key(address)];
  if (mine >= per_address_) {
    *why = "this address has as many connections as it may";
    return std::nullopt;
  }
  ++mine;
  ++open_;
  return Slot(this, address);
}

void ConnectionLimits::release(const boost::asio::ip::address& address) {
  --open_;
  const auto it = by_address_.find(address_key(address));
  if (it != by_address_.end() && --it->second == 0) by_address_.erase(it);
}

bool FailureLimiter::blocked(const std::string& address, SteadyTime now) {
  const auto it = windows_.find(address);
  if (it == windows_.end()) return false;
  if (now - it->second.started >= window_) {
    windows_.erase(it);
    return false;
  }
  return it->second.failures >= limit_;
}

void FailureLimiter::record_failure(const std::string& address, SteadyTime now) {
  auto it = windows_.find(address);
  if (it == windows_.end()) {
    if (windows_.size() >= max_addresses_) {
      // Full: forget expired windows first; if none expired, the oldest.
      std::erase_if(windows_, [&](const auto& entry) { return now - entry.second.started >= window_; });
      if (windows_.size() >= max_addresses_) {
        auto oldest = windows_.begin();
        for (auto w = windows_.begin(); w != windows_.end(); ++w) {
          if (w->second.started < oldest->second.started) oldest = w;
        }
        windows_.erase(oldest);
      }
    }
    it = windows_.emplace(address, Window{now, 0}).first;
  } else if (now - it->second.started >= window_) {
    it->second = Window{now, 0};
  }
  ++it->second.failures;
}

bool LogBudget::allow(SteadyTime now) {
  if (now - interval_start_ >= interval_) {
    interval_start_ = now;
    used_ = 0;
  }
  if (used_ < burst_) {
    ++used_;
    return true;
  }
  ++suppressed_;
  return false;
}

}  // namespace micstream::server
