#include "mdns_advertiser.h"

#include <avahi-client/client.h>
#include <avahi-client/publish.h>
#include <avahi-common/error.h>
#include <avahi-common/thread-watch.h>
#include <spdlog/spdlog.h>

namespace micstream::server {

namespace {
constexpr const char* kServiceType = "_micstream._tcp";
}

MdnsAdvertiser::MdnsAdvertiser(std::uint16_t ingest_port, std::uint16_t http_port)
    : ingest_port_(ingest_port), http_port_(http_port) {
  poll_ = avahi_threaded_poll_new();
  if (poll_ == nullptr) {
    spdlog::warn("mDNS: cannot advertise {}: no Avahi event loop", kServiceType);
    return;
  }
  int error = 0;
  // The callback may run inside avahi_client_new, before client_ is set: it uses its argument.
  client_ = avahi_client_new(
      avahi_threaded_poll_get(poll_), AvahiClientFlags(0),
      [](AvahiClient* c, AvahiClientState state, void* self) { on_client(c, state, self); }, this, &error);
  if (client_ == nullptr) {
    spdlog::warn("mDNS: cannot advertise {} (devices need the server's address configured): {}", kServiceType,
                 avahi_strerror(error));
    return;
  }
  avahi_threaded_poll_start(poll_);
}

MdnsAdvertiser::~MdnsAdvertiser() {
  if (poll_ != nullptr) avahi_threaded_poll_stop(poll_);
  if (client_ != nullptr) avahi_client_free(client_);  // frees the entry group too
  if (poll_ != nullptr) avahi_threaded_poll_free(poll_);
}

void MdnsAdvertiser::on_client(AvahiClient* client, int state, void* self) {
  auto* me = static_cast<MdnsAdvertiser*>(self);
  if (state == AVAHI_CLIENT_S_RUNNING) {
    me->publish(client);
  } else if (state == AVAHI_CLIENT_FAILURE) {
    spdlog::warn("mDNS: the Avahi daemon went away: {}", avahi_strerror(avahi_client_errno(client)));
  }
}

void MdnsAdvertiser::on_group(AvahiEntryGroup* /*group*/, int state, void* self) {
  auto* me = static_cast<MdnsAdvertiser*>(self);
  if (state == AVAHI_ENTRY_GROUP_ESTABLISHED) {
    spdlog::info("mDNS: advertising {} on port {}", kServiceType, me->ingest_port_);
  } else if (state == AVAHI_ENTRY_GROUP_COLLISION || state == AVAHI_ENTRY_GROUP_FAILURE) {
    spdlog::warn("mDNS: advertising {} failed (name collision or daemon error)", kServiceType);
  }
}

void MdnsAdvertiser::publish(AvahiClient* client) {
  if (group_ == nullptr) {
    group_ = avahi_entry_group_new(
        client, [](AvahiEntryGroup* g, AvahiEntryGroupState state, void* self) { on_group(g, state, self); }, this);
    if (group_ == nullptr) {
      spdlog::warn("mDNS: cannot create an entry group: {}", avahi_strerror(avahi_client_errno(client)));
      return;
    }
  }
  if (!avahi_entry_group_is_empty(group_)) return;
  const std::string name = std::string("micstream on ") + avahi_client_get_host_name(client);
  const std::string http = "http=" + std::to_string(http_port_);
  const int error = avahi_entry_group_add_service(group_, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, AvahiPublishFlags(0),
                                                  name.c_str(), kServiceType, nullptr, nullptr, ingest_port_,
                                                  http.c_str(), "protocol=1", nullptr);
  if (error < 0 || avahi_entry_group_commit(group_) < 0) {
    spdlog::warn("mDNS: cannot advertise {}: {}", kServiceType, avahi_strerror(error < 0 ? error : avahi_client_errno(client)));
  }
}

}  // namespace micstream::server
