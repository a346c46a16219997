// Who is calling the HTTP port. A request proves a user with the session
// cookie the login endpoint set, or with Basic credentials (tools: curl -u,
// Prometheus, players); a server without a users file (--users) has no
// accounts and trusts only this machine: loopback peers get every right,
// others none. Passwords are checked off the event loop, a few at a time,
// and failures are limited per address, so logins cannot starve the audio.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio.hpp>

#include "accounts.h"
#include "admission.h"

namespace micstream::server {

/// What an endpoint asks of its caller (docs/server.md, "Who may call what").
enum class Need { anyone, listen, admin };

/// The outcome of identifying a caller.
struct Identity {
  enum class Status {
    ok,                   ///< user holds who it is
    anonymous,            ///< no cookie or credentials: log in
    unknown_session,      ///< a cookie that is not (or no longer) a session
    wrong_credentials,    ///< Basic credentials that do not verify
    throttled,            ///< this address failed too often: wait
    busy,                 ///< too many password checks under way: retry
    remote_without_accounts,  ///< no --users, and the peer is not this machine
  };
  Status status = Status::anonymous;
  User user;

  [[nodiscard]] bool ok() const { return status == Status::ok; }
  /// Whether user may do what need asks (false unless ok()).
  [[nodiscard]] bool allows(Need need) const;
};

/// What POST /api/login came to.
struct LoginResult {
  Identity identity;  ///< ok, wrong_credentials, throttled, busy or remote_without_accounts
  std::string token;  ///< the new session's, when ok
};

class Access {
 public:
  static constexpr const char* kCookieName = "micstream_session";
  /// Password checks waiting or running at once; more are refused as busy.
  static constexpr std::size_t kMaxPendingChecks = 8;

  /// accounts: nullopt for a server without a users file.
  explicit Access(std::optional<Accounts> accounts);
  Access(const Access&) = delete;
  Access& operator=(const Access&) = delete;
  ~Access();

  [[nodiscard]] bool has_accounts() const { return accounts_.has_value(); }

  /// The caller of a request with these Cookie and Authorization headers from peer.
  boost::asio::awaitable<Identity> identify(std::string_view cookie_header, std::string_view authorization,
                                            const boost::asio::ip::address& peer);
  /// Checks a password and, when it is right, starts a session.
  boost::asio::awaitable<LoginResult> login(std::string name, std::string password,
                                            const boost::asio::ip::address& peer);
  /// Ends the session of a Cookie header, if it names one.
  void logout(std::string_view cookie_header);

  /// The value of one cookie in a Cookie header ("" when absent).
  [[nodiscard]] static std::string_view cookie_value(std::string_view cookie_header, std::string_view name);
  /// The user name and password of "Basic <base64>", nullopt for anything else.
  [[nodiscard]] static std::optional<std::pair<std::string, std::string>> basic_credentials(
      std::string_view authorization);

 private:
  /// One PBKDF2 on the checking thread; the coroutine resumes on the caller's executor.
  boost::asio::awaitable<Identity> check_password(std::string name, std::string password,
                                                  const boost::asio::ip::address& peer);

  std::optional<Accounts> accounts_;
  SessionStore sessions_;
  CredentialCache verified_;
  FailureLimiter failures_{10, std::chrono::seconds(60)};
  LogBudget failure_log_{20, std::chrono::seconds(10)};
  // Shared with the checks in flight: a coroutine frame destroyed after the
  // server (at shutdown, mid-check) still counts down a live counter.
  std::shared_ptr<std::size_t> pending_checks_ = std::make_shared<std::size_t>(0);
  boost::asio::thread_pool checker_{1};  // one core at most for hashing: the other relays audio
};

}  // namespace micstream::server
