#include "access.h"

#include <chrono>

#include <boost/asio.hpp>
#include <gtest/gtest.h>

namespace micstream::server {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

Identity identify(Access& access, std::string_view cookie, std::string_view authorization, std::string_view peer) {
  asio::io_context io;
  std::optional<Identity> out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        Identity identity = co_await access.identify(cookie, authorization, asio::ip::make_address(peer));
        out = std::move(identity);
      },
      asio::detached);
  io.run();
  return out.value();
}

TEST(Access, WithoutAccountsOnlyThisMachineHasRights) {
  Access access(std::nullopt);
  for (const char* local : {"127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"}) {
    const Identity id = identify(access, "", "", local);
    EXPECT_TRUE(id.allows(Need::admin)) << local;
    EXPECT_TRUE(id.allows(Need::listen)) << local;
  }
  for (const char* remote : {"192.168.1.20", "10.0.0.1", "fd00::2", "::ffff:192.168.1.20", "0.0.0.0", "::"}) {
    const Identity id = identify(access, "", "", remote);
    EXPECT_EQ(id.status, Identity::Status::remote_without_accounts) << remote;
    EXPECT_FALSE(id.allows(Need::listen)) << remote;
    EXPECT_TRUE(id.allows(Need::anyone)) << remote;
  }
}

TEST(Access, ReadsTheSessionCookieAmongOthers) {
  EXPECT_EQ(Access::cookie_value("micstream_session=abc", "micstream_session"), "abc");
  EXPECT_EQ(Access::cookie_value("theme=dark; micstream_session=abc ; x=1", "micstream_session"), "abc");
  EXPECT_EQ(Access::cookie_value("xmicstream_session=abc", "micstream_session"), "");
  EXPECT_EQ(Access::cookie_value("micstream_session", "micstream_session"), "");
  EXPECT_EQ(Access::cookie_value("", "micstream_session"), "");
}

TEST(Access, ParsesBasicCredentialsStrictly) {
  const auto ok = Access::basic_credentials("Basic YWxpY2U6czNjcjN0OndpdGg6Y29sb25z");  // alice:s3cr3t:with:colons
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->first, "alice");
  EXPECT_EQ(ok->second, "s3cr3t:with:colons");
  EXPECT_TRUE(Access::basic_credentials("basic YWxpY2U6eA=="));  // the scheme in any case
  EXPECT_FALSE(Access::basic_credentials("Bearer YWxpY2U6eA=="));
  EXPECT_FALSE(Access::basic_credentials("Basic YWxpY2U"));        // no padding
  EXPECT_FALSE(Access::basic_credentials("Basic YWxpY2U="));       // "alice": no colon
  EXPECT_FALSE(Access::basic_credentials("Basic YWxp Y2U6eA=="));  // whitespace inside
  EXPECT_FALSE(Access::basic_credentials("Basic " + std::string(400, 'A')));  // longer than any credentials
  EXPECT_FALSE(Access::basic_credentials("Basic "));
}

TEST(AddressKey, CountsIpv6ByItsSlash64AndMappedIpv4AsIpv4) {
  const auto key = [](const char* a) { return address_key(asio::ip::make_address(a)); };
  EXPECT_EQ(key("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(key("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
  EXPECT_NE(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
  EXPECT_EQ(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
}

TEST(ConnectionLimits, CountAnIpv6Slash64AsOneAddress) {
  ConnectionLimits limits(100, 2);
  const char* why = nullptr;
  auto a = limits.admit(asio::ip::make_address("2001:db8::1"), &why);
  auto b = limits.admit(asio::ip::make_address("2001:db8::2"), &why);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(limits.admit(asio::ip::make_address("2001:db8::3"), &why));
  EXPECT_TRUE(limits.admit(asio::ip::make_address("2001:db8:0:1::3"), &why));
}

TEST(CredentialCache, RemembersForItsLifetimeWithinItsBound) {
  auto now = SteadyClock::time_point{} + 1h;
  CredentialCache cache([&] { return now; });
  User alice;
  alice.name = "alice";
  cache.remember("alice", "pw", alice);
  ASSERT_NE(cache.find("alice", "pw"), nullptr);
  EXPECT_EQ(cache.find("alice", "pw")->name, "alice");
  EXPECT_EQ(cache.find("alice", "pw2"), nullptr);
  EXPECT_EQ(cache.find("alic", "epw"), nullptr);
  now += CredentialCache::kLifetime;
  EXPECT_EQ(cache.find("alice", "pw"), nullptr) << "expired";
  for (std::size_t i = 0; i < CredentialCache::kMaxEntries + 50; ++i) {
    now += 1ms;
    cache.remember("user" + std::to_string(i), "pw", alice);
  }
  EXPECT_EQ(cache.size(), CredentialCache::kMaxEntries);
  EXPECT_EQ(cache.find("user0", "pw"), nullptr) << "the oldest went";
  EXPECT_NE(cache.find("user" + std::to_string(CredentialCache::kMaxEntries + 49), "pw"), nullptr);
}

}  // namespace
}  // namespace micstream::server
