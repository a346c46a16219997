// Every device stream and every listener, and who listens to whom. The server
// runs on one thread, so the hub needs no lock; sessions register themselves
// on start and remove themselves when they end.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "accounts.h"
#include "device_stream.h"
#include "metrics.h"
#include "options.h"

namespace micstream::server {

class DeviceSession;
class Secrets;
class ListenerSession;
class HttpStreamSession;

class Hub {
 public:
  /// executor: where the coalesced devices broadcast is scheduled.
  Hub(boost::asio::any_io_executor executor, const Options& options, Metrics& metrics, const Secrets& secrets)
      : options_(options), metrics_(metrics), secrets_(secrets), devices_timer_(std::move(executor)) {}
  /// Sessions still alive (their handlers wait in a stopped io_context) stop referring to the hub.
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] Metrics& metrics() { return metrics_; }

  /// The stream of a device id, created on first use (a listener may wait for
  /// a device that has not connected yet).
  DeviceStream& stream(const std::string& id);

  void add_device_session(DeviceSession& session) { device_sessions_.insert(&session); }
  void remove_device_session(DeviceSession& session) { device_sessions_.erase(&session); }

  /// A device link authenticated as stream.id(). An earlier link of the same
  /// id is told it was replaced and closed: the newest connection wins.
  void device_connected(DeviceSession& session, DeviceStream& stream);
  void device_disconnected(DeviceSession& session, DeviceStream& stream);

  /// Whether user may open device_id's standard stream now: nullopt when so,
  /// else the refusal's HTTP status and reason (an id the user may not hear is
  /// answered as unknown; one never connected has no shape yet).
  struct StreamRefusal {
    unsigned status;
    std::string reason;
  };
  [[nodiscard]] std::optional<StreamRefusal> check_stream_request(const User& user, const std::string& device_id) const;
  /// A standard stream's listener joins device_id's stream in its format
  /// (check_stream_request passed); the header chunk is queued to it. false,
  /// with the reason, when the stream cannot be had (then the listener ends).
  bool add_http_stream(HttpStreamSession& listener, const std::string& device_id, std::string& error);
  void remove_http_stream(HttpStreamSession& listener);
  [[nodiscard]] std::size_t stream_listener_count() const { return http_streams_.size(); }

  void add_listener(ListenerSession& listener);
  void remove_listener(ListenerSession& listener);
  /// Subscribes to device_id, or to the first online device when empty
  /// (waiting for one when none is online); only to devices the listener's
  /// user may hear.
  void subscribe(ListenerSession& listener, const std::string& device_id);

  /// With --allow-unknown-devices: true when id may have a stream, forgetting
  /// the oldest offline id without a secret (and without listeners) to stay
  /// within --max-unregistered-devices; false when all of them are in use.
  [[nodiscard]] bool make_room_for_unregistered(const std::string& id);

  /// Sends CONFIG to the connected device id; false when it is not connected.
  bool send_config(const std::string& device_id, const proto::Config& config);

  /// Whether a link of device id is online now.
  [[nodiscard]] bool has_live_link(std::string_view id) const { return sessions_.find(id) != sessions_.end(); }

  /// The stream's parameters changed (codec): its listeners are told, and every listener's device list.
  void stream_changed(DeviceStream& stream);

  /// The devices message and /api/devices, listing what user may hear.
  [[nodiscard]] nlohmann::json devices_message(const User& user) const;
  [[nodiscard]] nlohmann::json api_devices(const User& user) const;
  [[nodiscard]] std::size_t devices_online() const;
  [[nodiscard]] std::size_t devices_known() const { return streams_.size(); }
  [[nodiscard]] std::size_t listener_count() const { return listeners_.size(); }
  [[nodiscard]] Gauges gauges() const;

  /// Tells every device and listener the server is stopping and closes them.
  void shut_down();
  [[nodiscard]] bool idle() const { return device_sessions_.empty() && listeners_.empty() && http_streams_.empty(); }

 private:
  /// The devices list changed: every listener gets it, at most once per
  /// kDevicesCoalescing, so a burst of connects costs one message each.
  void devices_changed();
  void broadcast_devices();
  [[nodiscard]] DeviceStream* first_online(const User& user);

  const Options& options_;
  Metrics& metrics_;
  const Secrets& secrets_;
  std::map<std::string, std::unique_ptr<DeviceStream>, std::less<>> streams_;
  std::unordered_set<DeviceSession*> device_sessions_;           // every link, authenticated or not
  std::map<std::string, DeviceSession*, std::less<>> sessions_;  // the live link of each device id
  std::unordered_set<ListenerSession*> listeners_;
  std::unordered_set<ListenerSession*> waiting_for_first_;  // subscribed to "the first device", none online yet
  std::unordered_set<HttpStreamSession*> http_streams_;
  boost::asio::steady_timer devices_timer_;
  bool devices_broadcast_pending_ = false;
};

}  // namespace micstream::server
