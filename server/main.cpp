// micstream-server: relays every device's audio stream to any number of
// browsers. See docs/protocol.md for both protocols and README.md for use.
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "accounts.h"
#include "mdns_advertiser.h"
#include "options.h"
#include "server.h"

namespace fs = std::filesystem;
using namespace micstream::server;

namespace {

// The page ships next to the binary: in the build tree (build/<dir>/server/)
// it is the repository's web/, once installed it is ../share/micstream/web.
fs::path default_web_root() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (const fs::path& candidate : {exe.parent_path() / "../../../web", exe.parent_path() / "../share/micstream/web"}) {
    if (fs::exists(candidate / "index.html", ec)) return fs::weakly_canonical(candidate, ec);
  }
  return {};
}

void write_ports_file(const fs::path& file, std::uint16_t http, std::uint16_t ingest) {
  const fs::path temporary = file.string() + ".tmp";
  std::ofstream(temporary) << nlohmann::json{{"http", http}, {"ingest", ingest}}.dump() << '\n';
  fs::rename(temporary, file);  // atomic: a reader never sees half a file
}

// hash-password: read the password without echoing it when a person types it.
int hash_password_command(unsigned iterations) {
  bool typed = ::isatty(STDIN_FILENO) == 1;
  termios saved{};
  if (typed && ::tcgetattr(STDIN_FILENO, &saved) == 0) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    std::cerr << "Password: " << std::flush;
  } else {
    typed = false;
  }
  const int status = run_hash_password(std::cin, std::cout, std::cerr, iterations);
  if (typed) {
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::cerr << '\n';
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"micstream-server: relays ESP32 microphone streams to browsers.\n"
               "Devices connect to the ingest port (link protocol v1); browsers open http://<host>:<http-port>/."};
  app.set_config("--config", "", "TOML file with any of these options as keys, e.g. http-port = 2000");
  app.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key is an error, not ignored
  app.add_option("--bind", options.bind, "Address to listen on")->capture_default_str();
  app.add_option("--http-port", options.http_port, "Port for the page, the REST API, /metrics and /ws (0: any free port)")
      ->capture_default_str();
  app.add_option("--ingest-port", options.ingest_port, "Port devices stream to (0: any free port)")->capture_default_str();
  app.add_option("--web-root", options.web_root, "Folder of the page (default: web/ next to the binary)");
  app.add_option("--secrets", options.secrets_file, "TOML file of device secrets: [devices] id = \"secret\"")
      ->check(CLI::ExistingFile);
  app.add_option("--users", options.users_file,
                 "TOML file of the page's users (see docs/server.md, \"Accounts\"); without it only this machine "
                 "may listen")
      ->check(CLI::ExistingFile);
  auto* tls_dir = app.add_option("--tls-dir", options.tls_dir,
                                 "Serve https too, on the HTTP port, with a local CA kept in this folder (made on first "
                                 "start; install its /ca.crt once on each phone)");
  auto* tls_cert = app.add_option("--tls-cert", options.tls_cert,
                                  "Serve https with this certificate chain (PEM) instead of a local CA")
                       ->check(CLI::ExistingFile);
  auto* tls_key = app.add_option("--tls-key", options.tls_key, "The private key (PEM) of --tls-cert")
                      ->check(CLI::ExistingFile);
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
  tls_dir->excludes(tls_cert);
  app.add_flag("--allow-unknown-devices", options.allow_unknown_devices,
               "Accept devices that have no secret in --secrets, without proof, over plain links (for demos)");
  app.add_flag("--allow-plain-devices", options.allow_plain_devices,
               "Accept device links without TLS (firmware older than TLS links); their audio crosses the network in "
               "the clear and a rogue server can talk to them");
  app.add_option("--listener-queue-ms", options.listener_queue_ms,
                 "Audio a listener may have waiting before it skips to live")
      ->capture_default_str()
      ->check(CLI::Range(20, 10000));
  app.add_option("--listener-stall-ms", options.listener_stall_ms,
                 "A listener whose socket takes nothing for this long is disconnected")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));
  app.add_option("--stream-queue-ms", options.stream_queue_ms,
                 "Audio an HTTP stream's listener (/stream/<id>.wav, .opus) may have waiting before it skips to live")
      ->capture_default_str()
      ->check(CLI::Range(20, 10000));
  app.add_option("--opus-bitrate", options.opus_bitrate,
                 "Opus bitrate, bits per second: of /stream/<id>.opus and of the WebSocket listeners who ask for Opus")
      ->capture_default_str()
      ->check(CLI::Range(6000, 256000));
  app.add_option("--mp3-bitrate", options.mp3_bitrate_kbps,
                 "The MP3 stream's bitrate, kbit/s (the nearest one MP3 has at the device's rate)")
      ->capture_default_str()
      ->check(CLI::Range(8, 320));
  app.add_option("--hello-timeout-ms", options.hello_timeout_ms, "Time a device has to send HELLO")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));
  app.add_option("--device-idle-timeout-ms", options.device_idle_timeout_ms,
                 "A device link with no frame for this long is closed")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));
  app.add_option("--max-http-connections", options.max_http_connections,
                 "Connections on the HTTP port (page, API and WebSocket listeners together)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--max-http-per-address", options.max_http_per_address, "Of those, from one address")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--max-device-links", options.max_device_links, "Device links, authenticated or not")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--max-device-links-per-address", options.max_device_links_per_address, "Of those, from one address")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--max-unregistered-devices", options.max_unregistered_devices,
                 "With --allow-unknown-devices: ids without a secret kept at once (the oldest offline one is forgotten)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--ports-file", options.ports_file,
                 "Write the ports actually listened on as JSON {\"http\": N, \"ingest\": M} (for tests and scripts)");
  app.add_option("--server-name", options.server_names,
                 "A name browsers reach this server by, besides its addresses, localhost and its host name "
                 "(e.g. a reverse proxy's); requests with any other Host are refused. Repeatable");
  app.add_option("--firmware-dir", options.firmware_dir,
                 "Folder served at /firmware/ (e.g. micstream.bin) for devices' over-the-air updates")
      ->check(CLI::ExistingDirectory);
  app.add_flag("!--no-mdns", options.mdns, "Do not advertise _micstream._tcp through Avahi (mDNS)");
  app.add_option("--log-level", options.log_level, "trace, debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  CLI::App* hash_password = app.add_subcommand(
      "hash-password", "Read a password (one line on stdin) and print its hash for the users file (--users)");
  unsigned iterations = kDefaultIterations;
  hash_password
      ->add_option("--iterations", iterations,
                   "PBKDF2-SHA256 iterations: each login costs this many (~0.3 s at the default on a desktop core)")
      ->capture_default_str()
      ->check(CLI::Range(1000U, PasswordHash::kMaxIterations));
  CLI11_PARSE(app, argc, argv);
  if (hash_password->parsed()) return hash_password_command(iterations);

  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  spdlog::set_level(spdlog::level::from_str(options.log_level));
  spdlog::flush_on(spdlog::level::info);

  try {
    if (options.web_root.empty()) options.web_root = default_web_root();
    if (options.web_root.empty()) {
      spdlog::warn("no web root found next to the binary; the page is not served (set --web-root)");
    } else if (!fs::is_directory(options.web_root)) {
      throw std::runtime_error("--web-root " + options.web_root.string() + " is not a directory");
    }
    Secrets secrets = options.secrets_file.empty() ? Secrets() : Secrets::load(options.secrets_file);
    if (secrets.size() == 0 && !options.allow_unknown_devices) {
      spdlog::warn("no device secrets (--secrets) and --allow-unknown-devices not set: every device will be refused");
    }

    std::optional<Accounts> accounts;
    if (!options.users_file.empty()) {
      accounts = Accounts::load(options.users_file);
      spdlog::info("{} user account(s) from {}", accounts->size(), options.users_file.string());
    } else {
      spdlog::info("no --users: only this machine may listen and change settings (others are refused)");
    }

    boost::asio::io_context io;
    Server server(io, options, std::move(secrets), std::move(accounts));
    server.start();
    spdlog::info("micstream-server {} listening: devices on {}:{}, browsers on http://{}:{}/ (web root {})",
                 MICSTREAM_VERSION, options.bind, server.ingest_port(),
                 options.bind == "0.0.0.0" ? "localhost" : options.bind, server.http_port(),
                 options.web_root.empty() ? "none" : options.web_root.string());
    if (!options.ports_file.empty()) write_ports_file(options.ports_file, server.http_port(), server.ingest_port());
    std::optional<MdnsAdvertiser> mdns;
    if (options.mdns) mdns.emplace(server.ingest_port(), server.http_port());
    io.run();
    spdlog::info("stopped");
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
