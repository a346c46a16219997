// micstream-rtsp: every device of a micstream-server as an RTSP stream,
// rtsp://<host>:8554/<id>, Opus over RTP, for the tools that take RTSP only
// (Frigate, BirdNET-Go, go2rtc). GStreamer's RTSP server does the protocol; a
// device's media is one shared pipeline that reads the server's Ogg Opus
// stream (/stream/<id>.opus) and payloads its packets as they come, however
// many RTSP clients listen. The device list is read from the server's
// /api/devices every few seconds, and each new id gets its mount point.
//
// Rights: it reads the server as a listener on the server's machine, which
// needs no account on a server without --users; with --users it logs in as
// the listen account of --server-account (HTTP Basic). Its own clients: on
// the loopback interface anyone on this machine; on any other address only
// those who give a user and password of --credentials (RTSP Basic), which
// such a --bind requires.
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "micstream/protocol.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct Settings {
  std::string server_host = "127.0.0.1";
  std::uint16_t server_port = 2000;
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8554;
  std::string credentials_file;
  std::string server_user;  // --server-account: how it logs in to a server with --users (empty: it does not)
  std::string server_password;
  std::string ports_file;
  unsigned poll_seconds = 5;
};

/// The ids /api/devices lists, or the reason it could not be read.
struct DeviceList {
  std::vector<std::string> ids;
  std::string error;
};

DeviceList fetch_devices(const Settings& s) {
  DeviceList list;
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(3));
    stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address(s.server_host), s.server_port));
    http::request<http::empty_body> req{http::verb::get, "/api/devices", 11};
    req.set(http::field::host, s.server_host + ":" + std::to_string(s.server_port));
    req.set(http::field::user_agent, "micstream-rtsp " MICSTREAM_VERSION);
    if (!s.server_user.empty()) {
      gchar* basic = gst_rtsp_auth_make_basic(s.server_user.c_str(), s.server_password.c_str());  // base64 of user:password
      req.set(http::field::authorization, std::string("Basic ") + basic);
      g_free(basic);
    }
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    if (res.result_int() == 401 || res.result_int() == 403) {
      list.error = "the server refuses the device list (" + std::to_string(res.result_int()) + "): " +
                   (s.server_user.empty()
                        ? std::string("it has accounts (--users): give micstream-rtsp one with --server-account")
                        : "the account " + s.server_user + " of --server-account is refused, or has no listen right");
      return list;
    }
    if (res.result() != http::status::ok) {
      list.error = "GET /api/devices answered " + std::to_string(res.result_int());
      return list;
    }
    const auto devices = nlohmann::json::parse(res.body(), nullptr, /*allow_exceptions=*/false);
    if (!devices.is_array()) {
      list.error = "GET /api/devices did not answer a JSON array";
      return list;
    }
    for (const auto& device : devices) {
      if (device.is_object() && device.contains("id") && device["id"].is_string()) {
        list.ids.push_back(device["id"].get<std::string>());
      }
    }
  } catch (const boost::system::system_error& e) {
    list.error = "cannot read the device list from " + s.server_host + ":" + std::to_string(s.server_port) + ": " +
                 e.code().message();
  } catch (const std::exception& e) {
    list.error = std::string("cannot read the device list: ") + e.what();
  }
  return list;
}

// The pipeline of one device: the server's Ogg Opus stream, live, its
// packets payloaded as they are (no decoding, no encoding).
std::string launch_line(const Settings& s, const std::string& id) {
  return "( souphttpsrc name=src location=http://" + s.server_host + ":" + std::to_string(s.server_port) + "/stream/" + id +
         ".opus is-live=true do-timestamp=true ! oggdemux ! opusparse ! rtpopuspay name=pay0 pt=96 )";
}

struct Credential {
  std::string user;
  std::string password;
};

/// The credentials file: `user:password` a line, '#' comments; readable by its owner only, as the server's secrets.
std::vector<Credential> read_credentials(const std::string& path, std::string& error) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    error = "cannot read " + path;
    return {};
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    error = path + " may be read by others: chmod 600 it";
    return {};
  }
  std::vector<Credential> credentials;
  std::ifstream in(path);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    const auto colon = line.find(':');
    if (colon == 0 || colon == std::string::npos || colon + 1 == line.size()) {
      error = path + ":" + std::to_string(number) + ": expected user:password";
      return {};
    }
    credentials.push_back({line.substr(0, colon), line.substr(colon + 1)});
  }
  if (credentials.empty()) error = path + " holds no user:password line";
  return credentials;
}

constexpr const char* kListenRole = "listen";

class Mounts {
 public:
  Mounts(GstRTSPMountPoints* mounts, const Settings& settings, bool with_credentials)
      : mounts_(mounts), settings_(settings), with_credentials_(with_credentials) {}
  /// Gives each id not seen before its mount point /<id>.
  void add(const std::vector<std::string>& ids) {
    for (const std::string& id : ids) {
      if (!micstream::proto::is_valid_device_id(id) || !known_.insert(id).second) continue;
      GstRTSPMediaFactory* factory = gst_rtsp_media_factory_new();
      gst_rtsp_media_factory_set_launch(factory, launch_line(settings_, id).c_str());
      gst_rtsp_media_factory_set_shared(factory, TRUE);  // one pipeline, one server stream, for all its clients
      if (!settings_.server_user.empty()) {
        g_signal_connect(factory, "media-configure", G_CALLBACK(&Mounts::log_in), const_cast<Settings*>(&settings_));
      }
      if (with_credentials_) {
        gst_rtsp_media_factory_add_role(factory, kListenRole, GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
                                        GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE, nullptr);
      }
      gst_rtsp_mount_points_add_factory(mounts_, ("/" + id).c_str(), factory);  // takes the factory
      std::cout << "micstream-rtsp: rtsp://" << settings_.bind << ":" << settings_.port << "/" << id << std::endl;
    }
  }

 private:
  // The pipeline's HTTP source logs in to the server (set here, not in the
  // launch line, which a password could break).
  static void log_in(GstRTSPMediaFactory*, GstRTSPMedia* media, gpointer settings) {
    const auto& s = *static_cast<const Settings*>(settings);
    GstElement* bin = gst_rtsp_media_get_element(media);
    GstElement* src = gst_bin_get_by_name_recurse_up(GST_BIN(bin), "src");
    if (src != nullptr) {
      g_object_set(src, "user-id", s.server_user.c_str(), "user-pw", s.server_password.c_str(), nullptr);
      gst_object_unref(src);
    }
    gst_object_unref(bin);
  }

  GstRTSPMountPoints* mounts_;
  const Settings& settings_;
  bool with_credentials_;
  std::set<std::string> known_;
};

std::atomic<bool> stopping{false};
GMainLoop* main_loop = nullptr;

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  std::string server = "127.0.0.1:2000";
  CLI::App app{"micstream-rtsp: the devices of a micstream-server as RTSP streams, rtsp://<bind>:<port>/<id>"};
  app.add_option("--server", server, "the micstream-server's HTTP port, host:port, on this machine")->capture_default_str();
  app.add_option("--bind", settings.bind, "the address RTSP clients reach (another than loopback needs --credentials)")
      ->capture_default_str();
  app.add_option("--port", settings.port, "the RTSP port (0: any free one)")->capture_default_str();
  app.add_option("--credentials", settings.credentials_file,
                 "file of user:password lines (chmod 600): RTSP clients must give one (Basic)");
  std::string server_account_file;
  app.add_option("--server-account", server_account_file,
                 "file of one user:password line (chmod 600): the listen account it logs in to a server with --users as");
  app.add_option("--ports-file", settings.ports_file, "write {\"rtsp\": N} once listening (for scripts and tests)");
  app.add_option("--poll-seconds", settings.poll_seconds, "how often the device list is read")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  CLI11_PARSE(app, argc, argv);
  const auto colon = server.rfind(':');
  try {
    if (colon == std::string::npos) throw std::invalid_argument("no port");
    settings.server_host = server.substr(0, colon);
    settings.server_port = static_cast<std::uint16_t>(std::stoul(server.substr(colon + 1)));
    if (!asio::ip::make_address(settings.server_host).is_loopback()) throw std::invalid_argument("not loopback");
  } catch (const std::exception&) {
    std::cerr << "micstream-rtsp: --server must be a loopback address and port, e.g. 127.0.0.1:2000 (got " << server
              << ")\n";
    return 2;
  }

  std::vector<Credential> credentials;
  if (!settings.credentials_file.empty()) {
    std::string error;
    credentials = read_credentials(settings.credentials_file, error);
    if (!error.empty()) {
      std::cerr << "micstream-rtsp: " << error << "\n";
      return 2;
    }
  }
  if (!server_account_file.empty()) {
    std::string error;
    const auto account = read_credentials(server_account_file, error);
    if (!error.empty()) {
      std::cerr << "micstream-rtsp: " << error << "\n";
      return 2;
    }
    settings.server_user = account.front().user;
    settings.server_password = account.front().password;
  }
  boost::system::error_code bind_ec;
  const auto bind_address = asio::ip::make_address(settings.bind, bind_ec);
  if (bind_ec) {
    std::cerr << "micstream-rtsp: --bind " << settings.bind << " is not an address\n";
    return 2;
  }
  if (!bind_address.is_loopback() && credentials.empty()) {
    std::cerr << "micstream-rtsp: refusing to serve " << settings.bind
              << " without --credentials: anyone who reaches it could listen\n";
    return 2;
  }

  gst_init(nullptr, nullptr);
  main_loop = g_main_loop_new(nullptr, FALSE);
  GstRTSPServer* rtsp = gst_rtsp_server_new();
  gst_rtsp_server_set_address(rtsp, settings.bind.c_str());
  if (!credentials.empty()) {
    GstRTSPAuth* auth = gst_rtsp_auth_new();
    GstRTSPToken* token = gst_rtsp_token_new(GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, kListenRole, nullptr);
    for (const Credential& c : credentials) {
      gchar* basic = gst_rtsp_auth_make_basic(c.user.c_str(), c.password.c_str());
      gst_rtsp_auth_add_basic(auth, basic, token);
      g_free(basic);
    }
    gst_rtsp_token_unref(token);
    gst_rtsp_server_set_auth(rtsp, auth);
    g_object_unref(auth);
  }
  gst_rtsp_server_set_service(rtsp, std::to_string(settings.port).c_str());
  GstRTSPMountPoints* mount_points = gst_rtsp_server_get_mount_points(rtsp);
  if (gst_rtsp_server_attach(rtsp, nullptr) == 0) {
    std::cerr << "micstream-rtsp: cannot listen on " << settings.bind << ":" << settings.port << " (is it taken?)\n";
    return 1;
  }
  settings.port = static_cast<std::uint16_t>(gst_rtsp_server_get_bound_port(rtsp));
  if (!settings.ports_file.empty()) {
    const std::string temporary = settings.ports_file + ".tmp";
    std::ofstream(temporary) << "{\"rtsp\": " << settings.port << "}\n";
    std::rename(temporary.c_str(), settings.ports_file.c_str());
  }
  std::cout << "micstream-rtsp " MICSTREAM_VERSION " listening on rtsp://" << settings.bind << ":" << settings.port
            << "/<device id>" << (credentials.empty() ? "" : " (Basic credentials required)") << ", fed by http://"
            << server << std::endl;

  Mounts mounts(mount_points, settings, !credentials.empty());
  std::mutex wake_mutex;
  std::condition_variable wake;
  std::thread poller([&] {
    std::string last_error;
    while (!stopping) {
      const DeviceList list = fetch_devices(settings);
      if (list.error != last_error && !list.error.empty()) std::cerr << "micstream-rtsp: " << list.error << std::endl;
      last_error = list.error;
      mounts.add(list.ids);  // mount points take their own lock
      std::unique_lock lock(wake_mutex);
      wake.wait_for(lock, std::chrono::seconds(settings.poll_seconds), [] { return stopping.load(); });
    }
  });
  std::signal(SIGINT, [](int) { stopping = true; });
  std::signal(SIGTERM, [](int) { stopping = true; });
  g_timeout_add(100, [](gpointer) -> gboolean {
    if (stopping) g_main_loop_quit(main_loop);
    return stopping ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
  }, nullptr);
  g_main_loop_run(main_loop);
  wake.notify_all();
  poller.join();
  g_object_unref(mount_points);
  g_object_unref(rtsp);
  g_main_loop_unref(main_loop);
  std::cout << "micstream-rtsp: stopped" << std::endl;
  return 0;
}
