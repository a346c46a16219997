// Which requests a browser may make on the listeners' port, whatever page
// sent it. Host must name this server (an IP address, localhost, the host's
// own names or --server-name), so a DNS-rebound name is refused; a request
// carrying an Origin must come from the origin it is sent to, so another
// web site's page can neither listen on /ws nor POST a change (CSRF).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace micstream::server {

class RequestGuard {
 public:
  /// extra_names: --server-name values (e.g. a reverse proxy's public name).
  explicit RequestGuard(std::vector<std::string> extra_names);

  /// A Host header naming this server (port ignored).
  [[nodiscard]] bool host_allowed(std::string_view host) const;
  /// A Host that only this machine reaches it by (localhost, 127.0.0.0/8, ::1):
  /// browsers treat such a page as a secure context over plain http.
  [[nodiscard]] static bool host_is_loopback(std::string_view host);
  /// An Origin header (absent: empty) allowed for a request sent to host.
  [[nodiscard]] static bool origin_allowed(std::string_view origin, std::string_view host);

  [[nodiscard]] const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;  // lower case, without port
};

}  // namespace micstream::server
