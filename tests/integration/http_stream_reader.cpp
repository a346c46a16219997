#include "http_stream_reader.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace micstream::itest {

HttpStreamReader::HttpStreamReader(std::uint16_t port, const std::string& target,
                                   const std::map<std::string, std::string>& headers, int receive_buffer,
                                   Millis timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) throw std::runtime_error("socket() failed");
  if (receive_buffer > 0) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    ::setsockopt(fd_, IPPROTO_TCP, TCP_MAXSEG, &kStallMaxSegment, sizeof kStallMaxSegment);
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  }
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  request += "\r\n";
  if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    throw std::runtime_error("cannot send the request");
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t end = std::string::npos;
  while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !read_some(left)) throw std::runtime_error("no response header; got: " + raw_.substr(0, 200));
  }
  const std::string head = raw_.substr(0, end);
  raw_.erase(0, end + 4);
  if (head.rfind("HTTP/1.1 ", 0) != 0) throw std::runtime_error("not an HTTP/1.1 response: " + head.substr(0, 80));
  status_ = std::stoi(head.substr(9, 3));
  std::size_t line = head.find("\r\n");
  while (line != std::string::npos) {
    const std::size_t next = head.find("\r\n", line + 2);
    const std::string field = head.substr(line + 2, next == std::string::npos ? std::string::npos : next - line - 2);
    const auto colon = field.find(':');
    if (colon != std::string::npos) {
      std::string name = field.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      headers_[name] = field.substr(field.find_first_not_of(' ', colon + 1));
    }
    line = next;
  }
  const auto te = headers_.find("transfer-encoding");
  chunked_ = te != headers_.end() && te->second == "chunked";
  parse_chunks();
}

HttpStreamReader::~HttpStreamReader() {
  if (fd_ >= 0) ::close(fd_);
}

bool HttpStreamReader::read_some(Millis timeout) {
  if (closed_) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char buffer[16384];
  const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
  if (n <= 0) {
    closed_ = true;
    return false;
  }
  raw_.append(buffer, static_cast<std::size_t>(n));
  return true;
}

void HttpStreamReader::parse_chunks() {
  if (!chunked_) {
    body_ += raw_;
    raw_.clear();
    return;
  }
  while (!ended_) {
    const auto line_end = raw_.find("\r\n");
    if (line_end == std::string::npos) return;
    const std::size_t size = std::stoul(raw_.substr(0, line_end), nullptr, 16);
    if (raw_.size() < line_end + 2 + size + 2) return;
    if (raw_.compare(line_end + 2 + size, 2, "\r\n") != 0) throw std::runtime_error("a chunk does not end in CRLF");
    body_.append(raw_, line_end + 2, size);
    raw_.erase(0, line_end + 2 + size + 2);
    if (size == 0) ended_ = true;
  }
}

bool HttpStreamReader::read_body(std::size_t bytes, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (body_.size() < bytes && !ended_) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !read_some(left)) break;
    parse_chunks();
  }
  return body_.size() >= bytes;
}

void HttpStreamReader::read_for(Millis duration) {
  const auto deadline = std::chrono::steady_clock::now() + duration;
  for (;;) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    if (read_some(left)) {
      parse_chunks();
    } else if (closed_) {
      return;
    }
  }
}

bool HttpStreamReader::wait_closed(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!closed_) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (read_some(left)) parse_chunks();
  }
  return true;
}

}  // namespace micstream::itest
