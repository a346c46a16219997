#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace micstream::itest {

namespace fs = std::filesystem;

std::int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t system_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool wait_until(const std::function<bool()>& pred, Millis timeout, Millis every) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(every);
  }
}

// ---- TempDir ----

TempDir::TempDir(std::string_view prefix) {
  const char* tmp = std::getenv("TMPDIR");
  fs::path base = tmp != nullptr && *tmp != '\0' ? fs::path(tmp) : fs::temp_directory_path();
  std::string templ = (base / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + templ + ": " + std::strerror(errno));
  }
  path_ = templ;
  keep_ = std::getenv("MICSTREAM_KEEP_TEST_DIRS") != nullptr;
}

TempDir::~TempDir() {
  if (keep_ || path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- ServerProcess ----

ServerProcess::ServerProcess(ServerOptions options) : options_(std::move(options)), dir_("micstream-server") {
  log_path_ = dir() / "server.log";
  const fs::path ports_path = dir() / "ports.json";
  fs::path web_root = options_.web_root;
  if (web_root.empty()) {
    web_root = dir() / "web";
    fs::create_directories(web_root);
    write_file(web_root / "index.html", "<!doctype html><title>micstream test</title>\n");
  }

  for (const auto& w : options_.wrapper) argv_.push_back(w);
  argv_.push_back(options_.binary.string());
  if (options_.pass_ports) {
    for (const char* a : {"--bind", "127.0.0.1", "--http-port", "0", "--ingest-port", "0"}) argv_.emplace_back(a);
    argv_.emplace_back("--ports-file");
    argv_.push_back(ports_path.string());
    argv_.emplace_back("--web-root");
    argv_.push_back(web_root.string());
  }
  if (!options_.secrets.empty()) {
    std::string toml = "# written by server_integration_test\n[devices]\n";
    for (const auto& [id, secret] : options_.secrets) {
      // Bare keys where TOML allows them (the contract's own example), quoted otherwise.
      const bool bare = id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") ==
                        std::string::npos;
      toml += (bare ? id : "\"" + id + "\"") + " = \"" + secret + "\"\n";
    }
    const fs::path secrets_path = dir() / "secrets.toml";
    write_file(secrets_path, toml);
    fs::permissions(secrets_path, fs::perms::owner_read | fs::perms::owner_write);  // the server refuses others' access
    argv_.emplace_back("--secrets");
    argv_.push_back(secrets_path.string());
  }
  if (options_.plain_devices) argv_.emplace_back("--allow-plain-devices");
  if (!options_.log_level.empty()) {
    argv_.emplace_back("--log-level");
    argv_.push_back(options_.log_level);
  }
  for (const auto& a : options_.args) argv_.push_back(a);

  // Everything the child needs is prepared before fork(): after it only
  // async-signal-safe calls are allowed.
  std::vector<char*> cargv;
  for (auto& a : argv_) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot open " + log_path_.string());
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();

  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid_ == 0) {
    // The server must not outlive a crashed test run.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(cargv[0], cargv.data());
    static const char msg[] = "server_integration_test: execv failed\n";
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);

  if (!options_.pass_ports) return;
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (true) {
    if (!running()) {
      throw std::runtime_error("the server exited (status " + std::to_string(exit_status_.value_or(-999)) +
                               ") before writing its ports file; log:\n" + log_tail());
    }
    const std::string text = read_file(ports_path);
    if (!text.empty()) {
      const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("http") && j.contains("ingest") && j["http"].is_number_integer() &&
          j["ingest"].is_number_integer() && j["http"].get<int>() > 0 && j["ingest"].get<int>() > 0) {
        http_port_ = static_cast<std::uint16_t>(j["http"].get<int>());
        ingest_port_ = static_cast<std::uint16_t>(j["ingest"].get<int>());
        return;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      wait_exit(2s);
      throw std::runtime_error("no valid ports file " + ports_path.string() + " after " +
                               std::to_string(options_.start_timeout.count()) + " ms (content: '" + text +
                               "'); log:\n" + log_tail());
    }
    std::this_thread::sleep_for(5ms);
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && running()) {
    ::kill(pid_, SIGKILL);
    wait_exit(5s);
  }
}

std::string ServerProcess::log() const { return read_file(log_path_); }

std::vector<std::string> ServerProcess::log_lines() const {
  std::vector<std::string> lines;
  std::istringstream in(log());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string ServerProcess::log_tail(std::size_t max_bytes) const {
  std::string l = log();
  if (l.size() > max_bytes) l = "[...]\n" + l.substr(l.size() - max_bytes);
  return l;
}

std::optional<std::string> ServerProcess::wait_for_log_line(const std::function<bool(std::string_view)>& pred,
                                                            Millis timeout) const {
  std::optional<std::string> found;
  wait_until(
      [&] {
        for (const auto& line : log_lines()) {
          if (pred(line)) {
            found = line;
            return true;
          }
        }
        return false;
      },
      timeout, 10ms);
  return found;
}

bool ServerProcess::running() {
  if (exit_status_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  if (r == pid_) {
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  } else {
    exit_status_ = -1000;  // waitpid failed: treat as gone
  }
  return false;
}

void ServerProcess::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> ServerProcess::wait_exit(Millis timeout) {
  wait_until([&] { return !running(); }, timeout, 2ms);
  return exit_status_;
}

std::optional<int> ServerProcess::terminate(Millis timeout) {
  if (!running()) return exit_status_;
  signal(SIGTERM);
  auto status = wait_exit(timeout);
  if (!status) {
    ::kill(pid_, SIGKILL);
    wait_exit(5s);
    return std::nullopt;
  }
  return status;
}

// ---- HTTP ----

HttpResponse http_request(std::uint16_t port, const HttpRequest& request, Millis timeout) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  namespace net = boost::asio;
  using tcp = net::ip::tcp;

  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(timeout);
  stream.connect(tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), port));
  http::request<http::string_body> req{http::string_to_verb(request.method), request.target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.set(http::field::user_agent, "micstream-integration-test");
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  req.body() = request.body;
  if (!request.body.empty() || request.method == "POST") req.prepare_payload();
  stream.expires_after(timeout);
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (request.method == "HEAD") parser.skip(true);
  stream.expires_after(timeout);
  http::read(stream, buffer, parser);
  auto& res = parser.get();
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  out.body = std::move(res.body());
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return out;
}

HttpResponse http_get(std::uint16_t port, std::string_view target, Millis timeout) {
  HttpRequest request;
  request.target = std::string(target);
  return http_request(port, request, timeout);
}

std::size_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

// ---- Metrics ----

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Metrics Metrics::parse(std::string_view text) {
  Metrics m;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (line.empty() || line.front() == '#') continue;
    MetricSample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ' && line[i] != '\t') ++i;
    s.name = std::string(line.substr(0, i));
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          throw std::runtime_error("bad metric labels: " + std::string(line));
        }
        std::string key(trim(line.substr(i, eq - i)));
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
        }
        if (j >= line.size()) throw std::runtime_error("unterminated label value: " + std::string(line));
        s.labels[key] = value;
        i = j + 1;
        while (i < line.size() && (line[i] == ',' || line[i] == ' ')) ++i;
      }
      if (i >= line.size()) throw std::runtime_error("unterminated labels: " + std::string(line));
      ++i;  // '}'
    }
    std::string_view rest = trim(line.substr(i));
    const std::size_t space = rest.find_first_of(" \t");
    std::string value_text(space == std::string_view::npos ? rest : rest.substr(0, space));
    if (s.name.empty() || value_text.empty()) throw std::runtime_error("bad metric line: " + std::string(line));
    try {
      std::size_t used = 0;
      s.value = std::stod(value_text, &used);
      if (used != value_text.size()) throw std::invalid_argument(value_text);
    } catch (const std::exception&) {
      throw std::runtime_error("bad metric value: " + std::string(line));
    }
    m.samples_.push_back(std::move(s));
  }
  return m;
}

std::optional<double> Metrics::get(std::string_view name, const std::map<std::string, std::string>& labels) const {
  const MetricSample* only = nullptr;
  int count = 0;
  for (const auto& s : samples_) {
    if (s.name != name) continue;
    ++count;
    only = &s;
    if (labels.empty()) {
      if (s.labels.empty()) return s.value;
      continue;
    }
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) {
        match = false;
        break;
      }
    }
    if (match) return s.value;
  }
  if (labels.empty() && count == 1) return only->value;
  return std::nullopt;
}

double Metrics::sum(std::string_view name) const {
  double total = 0;
  for (const auto& s : samples_) {
    if (s.name == name) total += s.value;
  }
  return total;
}

bool Metrics::has(std::string_view name) const {
  for (const auto& s : samples_) {
    if (s.name == name) return true;
  }
  return false;
}

// ---- strings ----

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

bool icontains(std::string_view haystack, std::string_view needle) {
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
  };
  return contains(lower(haystack), lower(needle));
}

}  // namespace micstream::itest
