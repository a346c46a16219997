// A client of the server's standard streams (GET /stream/<id>.wav, .opus):
// one blocking connection that reads the response's header, then the chunked
// body as it arrives, de-chunked. It can stop reading (a stalled player) with
// a small receive buffer, so the server's queue fills soon.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "harness.h"
#include "ws_listener.h"

namespace micstream::itest {

class HttpStreamReader {
 public:
  /// Connects to 127.0.0.1:port and sends GET target (HTTP/1.1); reads the
  /// status and header within timeout. receive_buffer > 0 sets SO_RCVBUF and
  /// the smallest segments first (ws_listener.h's kStallReceiveBuffer: a
  /// stalled reader the server can hand only ~60 KB).
  /// Throws on a transport error or a malformed header.
  HttpStreamReader(std::uint16_t port, const std::string& target, const std::map<std::string, std::string>& headers = {},
                   int receive_buffer = 0, Millis timeout = 3s);
  ~HttpStreamReader();
  HttpStreamReader(const HttpStreamReader&) = delete;
  HttpStreamReader& operator=(const HttpStreamReader&) = delete;

  [[nodiscard]] int status() const { return status_; }
  /// Header fields, names in lower case.
  [[nodiscard]] const std::map<std::string, std::string>& headers() const { return headers_; }

  /// Reads until the body holds at least `bytes` bytes, the body ends or the
  /// connection closes, or timeout passes; true when it holds that many.
  bool read_body(std::size_t bytes, Millis timeout);
  /// Reads whatever arrives within `duration`.
  void read_for(Millis duration);
  /// The de-chunked body so far.
  [[nodiscard]] const std::string& body() const { return body_; }
  /// The last chunk (size 0) arrived: the server ended the body.
  [[nodiscard]] bool ended() const { return ended_; }
  /// The connection is closed (EOF or reset).
  [[nodiscard]] bool closed() const { return closed_; }
  /// Waits for the connection to close (the server's end); true when it did.
  bool wait_closed(Millis timeout);

 private:
  bool read_some(Millis timeout);  // false on timeout or close
  void parse_chunks();

  int fd_ = -1;
  int status_ = 0;
  std::map<std::string, std::string> headers_;
  bool chunked_ = false;
  std::string raw_;   // bytes read, not yet de-chunked
  std::string body_;
  bool ended_ = false;
  bool closed_ = false;
};

}  // namespace micstream::itest
