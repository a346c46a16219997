#include "request_guard.h"

#include <unistd.h>

#include <algorithm>
#include <array>

#include <boost/asio/ip/address.hpp>

namespace micstream::server {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// "name:2000" -> "name", "[::1]:2000" -> "::1"; empty when malformed.
std::string host_without_port(std::string_view host) {
  if (host.starts_with('[')) {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return {};
    const std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return {};
    return lower(host.substr(1, close - 1));
  }
  const auto colon = host.find(':');
  return lower(host.substr(0, colon));
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

RequestGuard::RequestGuard(std::vector<std::string> extra_names) {
  names_.emplace_back("localhost");
  std::array<char, 256> hostname{};
  if (::gethostname(hostname.data(), hostname.size() - 1) == 0 && hostname[0] != '\0') {
    const std::string name = lower(hostname.data());
    names_.push_back(name);
    if (name.find('.') == std::string::npos) names_.push_back(name + ".local");  // its mDNS name
  }
  for (const auto& name : extra_names) names_.push_back(lower(name));
}

bool RequestGuard::host_allowed(std::string_view host) const {
  const std::string name = host_without_port(host);
  if (name.empty()) return false;
  // DNS rebinding needs a name: an address literal cannot be rebound.
  if (is_ip_literal(name)) return true;
  return std::find(names_.begin(), names_.end(), name) != names_.end();
}

bool RequestGuard::host_is_loopback(std::string_view host) {
  const std::string name = host_without_port(host);
  if (name == "localhost") return true;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(name, ec);
  return !ec && address.is_loopback();
}

bool RequestGuard::origin_allowed(std::string_view origin, std::string_view host) {
  if (origin.empty()) return true;  // not sent by a browser's cross-site request
  const std::string o = lower(origin);
  const std::string h = lower(host);
  return o == "http://" + h || o == "https://" + h;
}

}  // namespace micstream::server
