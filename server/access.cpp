#include "access.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

namespace micstream::server {

namespace asio = boost::asio;

namespace {

// The server without accounts gives this machine every right.
User local_user() {
  User user;
  user.name = "(this machine)";
  user.can_listen = true;
  user.can_admin = true;
  return user;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Printable and short, for a name a stranger typed into a log line.
std::string loggable(std::string_view name) {
  std::string out;
  for (const char c : name.substr(0, 40)) out.push_back(c >= 0x20 && c <= 0x7E ? c : '?');
  return out;
}

}  // namespace

bool Identity::allows(Need need) const {
  switch (need) {
    case Need::anyone: return true;
    case Need::listen: return ok() && user.can_listen;
    case Need::admin: return ok() && user.can_admin;
  }
  return false;
}

Access::Access(std::optional<Accounts> accounts) : accounts_(std::move(accounts)) {}

Access::~Access() { checker_.join(); }

std::string_view Access::cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semicolon = header.find(';');
    const std::string_view pair = trim(header.substr(0, semicolon));
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) return trim(pair.substr(eq + 1));
    if (semicolon == std::string_view::npos) break;
    header.remove_prefix(semicolon + 1);
  }
  return {};
}

std::optional<std::pair<std::string, std::string>> Access::basic_credentials(std::string_view authorization) {
  authorization = trim(authorization);
  constexpr std::string_view kScheme = "basic ";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {  // the scheme is case-insensitive (RFC 9110 11.1)
    const char c = authorization[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != kScheme[i]) return std::nullopt;
  }
  auto decoded = decode_base64(trim(authorization.substr(kScheme.size())));
  if (!decoded) return std::nullopt;
  std::string text(decoded->begin(), decoded->end());
  OPENSSL_cleanse(decoded->data(), decoded->size());
  const auto colon = text.find(':');
  if (colon == std::string::npos) return std::nullopt;
  std::pair<std::string, std::string> out{text.substr(0, colon), text.substr(colon + 1)};
  OPENSSL_cleanse(text.data(), text.size());
  return out;
}

asio::awaitable<Identity> Access::identify(std::string_view cookie_header, std::string_view authorization,
                                           const asio::ip::address& peer) {
  if (!accounts_) {
    if (peer.is_loopback() || (peer.is_v6() && peer.to_v6().is_v4_mapped() &&
                               asio::ip::make_address_v4(asio::ip::v4_mapped, peer.to_v6()).is_loopback())) {
      co_return Identity{Identity::Status::ok, local_user()};
    }
    co_return Identity{Identity::Status::remote_without_accounts, {}};
  }
  if (const std::string_view token = cookie_value(cookie_header, kCookieName); !token.empty()) {
    if (const User* user = sessions_.find(token)) co_return Identity{Identity::Status::ok, *user};
    co_return Identity{Identity::Status::unknown_session, {}};
  }
  if (authorization.empty()) co_return Identity{Identity::Status::anonymous, {}};
  auto credentials = basic_credentials(authorization);
  if (!credentials) co_return Identity{Identity::Status::wrong_credentials, {}};
  auto& [name, password] = *credentials;
  if (const User* user = verified_.find(name, password)) {
    OPENSSL_cleanse(password.data(), password.size());
    co_return Identity{Identity::Status::ok, *user};
  }
  const std::string remembered_name = name;
  std::string remembered_password = password;
  Identity identity = co_await check_password(std::move(name), std::move(password), peer);
  if (identity.ok()) verified_.remember(remembered_name, remembered_password, identity.user);
  OPENSSL_cleanse(remembered_password.data(), remembered_password.size());
  co_return identity;
}

asio::awaitable<LoginResult> Access::login(std::string name, std::string password, const asio::ip::address& peer) {
  if (!accounts_) {
    OPENSSL_cleanse(password.data(), password.size());
    co_return LoginResult{Identity{Identity::Status::remote_without_accounts, {}}, {}};
  }
  Identity identity = co_await check_password(std::move(name), std::move(password), peer);
  LoginResult result{std::move(identity), {}};
  if (result.identity.ok()) {
    result.token = sessions_.create(result.identity.user);
    spdlog::info("login: {} from {}", result.identity.user.name, peer.to_string());
  }
  co_return result;
}

void Access::logout(std::string_view cookie_header) {
  if (const std::string_view token = cookie_value(cookie_header, kCookieName); !token.empty()) sessions_.remove(token);
}

asio::awaitable<Identity> Access::check_password(std::string name, std::string password,
                                                 const asio::ip::address& peer) {
  const std::string key = address_key(peer);
  const auto now = SteadyClock::now();
  if (failures_.blocked(key, now)) co_return Identity{Identity::Status::throttled, {}};
  if (*pending_checks_ >= kMaxPendingChecks) co_return Identity{Identity::Status::busy, {}};

  ++*pending_checks_;
  struct Done {
    std::shared_ptr<std::size_t> pending;
    std::string& password;
    ~Done() {
      --*pending;
      OPENSSL_cleanse(password.data(), password.size());
    }
  } done{pending_checks_, password};
  const std::string logged_name = loggable(name);
  // The checking thread works on this frame's strings while the coroutine
  // waits; the result (or the exception) comes back through the caller's executor.
  std::optional<User> user =
      co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, std::optional<User>)>(
          [this, &name, &password](auto handler) {
            asio::post(checker_, [this, &name, &password, handler = std::move(handler)]() mutable {
              std::exception_ptr error;
              std::optional<User> checked;
              try {
                checked = accounts_->check_password(name, password);
              } catch (...) {
                error = std::current_exception();
              }
              const auto back = asio::get_associated_executor(handler);
              asio::post(back, [handler = std::move(handler), error, checked = std::move(checked)]() mutable {
                std::move(handler)(error, std::move(checked));
              });
            });
          },
          asio::use_awaitable);
  if (user) co_return Identity{Identity::Status::ok, std::move(*user)};

  failures_.record_failure(key, SteadyClock::now());
  if (failure_log_.allow(SteadyClock::now())) {
    const std::size_t held_back = failure_log_.take_suppressed();
    spdlog::warn("wrong password for user '{}' from {}{}", logged_name, peer.to_string(),
                 held_back == 0 ? std::string() : fmt::format(" ({} more failures not logged)", held_back));
  }
  co_return Identity{Identity::Status::wrong_credentials, {}};
}

}  // namespace micstream::server
