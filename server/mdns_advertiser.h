// Advertises the ingest port as _micstream._tcp through the Avahi daemon, so
// devices on the LAN find the server by mDNS without a configured address.
// Where no avahi-daemon runs it says so in the log and the server goes on.
#pragma once

#include <cstdint>
#include <string>

struct AvahiThreadedPoll;
struct AvahiClient;
struct AvahiEntryGroup;

namespace micstream::server {

class MdnsAdvertiser {
 public:
  MdnsAdvertiser(std::uint16_t ingest_port, std::uint16_t http_port);
  ~MdnsAdvertiser();
  MdnsAdvertiser(const MdnsAdvertiser&) = delete;
  MdnsAdvertiser& operator=(const MdnsAdvertiser&) = delete;

 private:
  static void on_client(AvahiClient* client, int state, void* self);
  static void on_group(AvahiEntryGroup* group, int state, void* self);
  void publish(AvahiClient* client);

  std::uint16_t ingest_port_;
  std::uint16_t http_port_;
  AvahiThreadedPoll* poll_ = nullptr;
  AvahiClient* client_ = nullptr;
  AvahiEntryGroup* group_ = nullptr;
};

}  // namespace micstream::server
