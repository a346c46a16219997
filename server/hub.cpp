#include "hub.h"

#include <vector>

#include <spdlog/spdlog.h>

#include "device_session.h"
#include "http_stream_session.h"
#include "listener_protocol.h"
#include "listener_session.h"
#include "micstream/protocol.h"
#include "secrets.h"

namespace micstream::server {

Hub::~Hub() {
  devices_timer_.cancel();
  for (DeviceSession* device : device_sessions_) device->detach_from_hub();
  for (ListenerSession* listener : listeners_) listener->detach_from_hub();
  for (HttpStreamSession* listener : http_streams_) listener->detach_from_hub();
}

DeviceStream& Hub::stream(const std::string& id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) it = streams_.emplace(id, std::make_unique<DeviceStream>(id)).first;
  return *it->second;
}

void Hub::device_connected(DeviceSession& session, DeviceStream& stream) {
  auto [it, inserted] = sessions_.try_emplace(stream.id(), &session);
  if (!inserted && it->second != &session) {
    DeviceSession* old = it->second;
    it->second = &session;
    old->fail(Errc::replaced, "a newer connection of device " + stream.id() + " took over");
  }
  const std::vector<ListenerSession*> waiting(waiting_for_first_.begin(), waiting_for_first_.end());
  for (ListenerSession* listener : waiting) {
    if (listener->user().may_hear(stream.id())) subscribe(*listener, stream.id());
  }
  stream_changed(stream);
}

void Hub::device_disconnected(DeviceSession& session, DeviceStream& stream) {
  const auto it = sessions_.find(stream.id());
  if (it == sessions_.end() || it->second != &session) return;  // replaced: the stream lives on
  sessions_.erase(it);
  stream.disconnected();
  stream_changed(stream);
}

void Hub::add_listener(ListenerSession& listener) {
  listeners_.insert(&listener);
  ++metrics_.listener_connections;
}

void Hub::remove_listener(ListenerSession& listener) {
  listeners_.erase(&listener);
  waiting_for_first_.erase(&listener);
  if (DeviceStream* stream = listener.stream()) {
    stream->remove_listener(&listener);
    listener.set_stream(nullptr);
    // A stream only listeners ever asked for, with no listener left, is forgotten.
    if (!stream->has_listeners() && !stream->online() && stream->params().sample_rate == 0) {
      streams_.erase(stream->id());
    }
  }
}

std::optional<Hub::StreamRefusal> Hub::check_stream_request(const User& user, const std::string& device_id) const {
  const auto it = streams_.find(device_id);
  const bool known = it != streams_.end() || secrets_.find(device_id) != nullptr;
  if (!proto::is_valid_device_id(device_id) || !known || !user.may_hear(device_id)) {
    return StreamRefusal{404, "no device " + device_id.substr(0, 40) + " is known to this server"};
  }
  if (it == streams_.end() || it->second->params().sample_rate == 0) {
    return StreamRefusal{503, "device " + device_id + " has not connected since the server started: its format is not known yet"};
  }
  return std::nullopt;
}

bool Hub::add_http_stream(HttpStreamSession& listener, const std::string& device_id, std::string& error) {
  http_streams_.insert(&listener);
  ++metrics_.stream_connections;
  const auto it = streams_.find(device_id);  // (it may have been forgotten while the response's header was written)
  if (it == streams_.end()) {
    error = "device " + device_id + " is no longer known";
    return false;
  }
  DeviceStream& stream = *it->second;
  StandardStream* standard = stream.standard_stream(listener.format(), {options_.opus_bitrate, options_.mp3_bitrate_kbps}, error);
  if (standard == nullptr) return false;
  standard->add_listener(&listener);
  listener.set_stream(&stream);
  if (standard->header_chunk()) listener.deliver(standard->header_chunk(), 0, {});
  return true;
}

void Hub::remove_http_stream(HttpStreamSession& listener) {
  http_streams_.erase(&listener);
  if (DeviceStream* stream = listener.stream()) {
    stream->remove_stream_listener(&listener);
    listener.set_stream(nullptr);
  }
}

void Hub::subscribe(ListenerSession& listener, const std::string& device_id) {
  if (!device_id.empty() && !proto::is_valid_device_id(device_id)) {
    listener.send_json({{"type", "error"}, {"message", "not a device id: " + device_id.substr(0, 40)}});
    return;
  }
  if (DeviceStream* old = listener.stream()) old->remove_listener(&listener);
  listener.set_stream(nullptr);
  waiting_for_first_.erase(&listener);

  // Devices the user may not hear are answered as unknown: their names are
  // not the user's to learn either.
  const bool may_hear = device_id.empty() || listener.user().may_hear(device_id);
  // A listener may wait for a device that has not connected yet, but only for
  // an id the server knows: made-up ids leave no state behind.
  const bool may_wait = may_hear && ( streams_.contains(device_id) || secrets_.find(device_id) != nullptr ||
                        (options_.allow_unknown_devices && make_room_for_unregistered(device_id)));
  if (!device_id.empty() && !may_wait) {
    listener.send_json({{"type", "error"}, {"message", "no device " + device_id + " is known to this server"}});
    return;
  }
  DeviceStream* target = device_id.empty() ? first_online(listener.user()) : &stream(device_id);
  if (target == nullptr) {
    waiting_for_first_.insert(&listener);
    listener.send_json({{"type", "stream"}, {"device", nullptr}, {"online", false}});
    return;
  }
  target->add_listener(&listener);
  listener.set_stream(target);
  listener.send_json(target->stream_json());
}

bool Hub::make_room_for_unregistered(const std::string& id) {
  if (streams_.contains(id)) return true;
  std::size_t unregistered = 0;
  auto forgettable = streams_.end();
  for (auto it = streams_.begin(); it != streams_.end(); ++it) {
    if (secrets_.find(it->first) != nullptr) continue;
    ++unregistered;
    if (!it->second->online() && !it->second->has_listeners()) forgettable = it;
  }
  if (unregistered < options_.max_unregistered_devices) return true;
  if (forgettable == streams_.end()) return false;
  spdlog::info("forgetting offline device {} to make room for {} (--max-unregistered-devices {})", forgettable->first,
               id, options_.max_unregistered_devices);
  streams_.erase(forgettable);
  devices_changed();
  return true;
}

bool Hub::send_config(const std::string& device_id, const proto::Config& config) {
  const auto it = sessions_.find(device_id);
  if (it == sessions_.end()) return false;
  it->second->send_config(config);
  return true;
}

void Hub::stream_changed(DeviceStream& stream) {
  const auto frame = build_text_frame(stream.stream_json());
  for (ListenerSession* listener : stream.listeners()) listener->send(frame);
  devices_changed();  // the list carries each device's codec and state too
}

namespace {
constexpr auto kDevicesCoalescing = std::chrono::milliseconds(100);
}

void Hub::devices_changed() {
  if (devices_broadcast_pending_) return;
  devices_broadcast_pending_ = true;
  devices_timer_.expires_after(kDevicesCoalescing);
  devices_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the hub is going away
    devices_broadcast_pending_ = false;
    broadcast_devices();
  });
}

DeviceStream* Hub::first_online(const User& user) {
  for (auto& [id, stream] : streams_) {
    if (stream->online() && user.may_hear(id)) return stream.get();
  }
  return nullptr;
}

std::size_t Hub::devices_online() const { return sessions_.size(); }

Gauges Hub::gauges() const {
  Gauges g{devices_online(), devices_known(), listener_count(), stream_listener_count(), 0, 0};
  for (const auto& [id, stream] : streams_) {
    g.stream_encoders += stream->standard_stream_count();
    g.opus_encoders += stream->has_opus_encoder() ? 1 : 0;
  }
  return g;
}

nlohmann::json Hub::devices_message(const User& user) const {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& [id, stream] : streams_) {
    if (stream->params().sample_rate == 0 || !user.may_hear(id)) continue;  // never connected, or not theirs
    const StreamParams& p = stream->params();
    devices.push_back({{"id", id},
                       {"online", stream->online()},
                       {"codec", codec_name(p.codec)},
                       {"sample_rate", p.sample_rate},
                       {"channels", p.channels},
                       {"samples_per_frame", p.samples_per_frame},
                       {"firmware", p.firmware}});
  }
  return {{"type", "devices"}, {"devices", devices}};
}

nlohmann::json Hub::api_devices(const User& user) const {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& [id, stream] : streams_) {
    if (stream->params().sample_rate != 0 && user.may_hear(id)) devices.push_back(stream->api_json());
  }
  return devices;
}

void Hub::broadcast_devices() {
  // One frame for every listener who may hear all devices; the few limited
  // to some get their own list.
  std::shared_ptr<const std::string> everything;
  for (ListenerSession* listener : listeners_) {
    if (listener->user().devices) {
      listener->send(build_text_frame(devices_message(listener->user())));
      continue;
    }
    if (!everything) everything = build_text_frame(devices_message(listener->user()));
    listener->send(everything);
  }
}

void Hub::shut_down() {
  const std::vector<DeviceSession*> devices(device_sessions_.begin(), device_sessions_.end());
  for (DeviceSession* device : devices) device->fail(Errc::shutting_down, "server shutting down");
  const std::vector<ListenerSession*> listeners(listeners_.begin(), listeners_.end());
  for (ListenerSession* listener : listeners) listener->close(WsCloseCode::going_away, "server shutting down");
  const std::vector<HttpStreamSession*> streams(http_streams_.begin(), http_streams_.end());
  for (HttpStreamSession* listener : streams) listener->end("server shutting down");
}

}  // namespace micstream::server
