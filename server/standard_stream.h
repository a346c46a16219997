// One device's stream in one standard format (WAV, Ogg Opus, MP3): its
// encoder and its HTTP listeners. Each piece of audio is encoded and framed as
// an HTTP chunk once, then shared read-only by every listener, as the
// WebSocket frames are: a listener costs a send, never an encoder. An Ogg
// listener who joins a running stream gets the pages with their granule
// positions rebased to its own start (players such as VLC take a large first
// granule position for a clock far ahead and play almost nothing): one
// rewritten copy of each page for all who joined between the same two pages.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stream_encoder.h"

namespace micstream::server {

class HttpStreamSession;

class StandardStream {
 public:
  StandardStream(StreamFormat format, std::unique_ptr<StreamEncoder> encoder);

  [[nodiscard]] StreamFormat format() const { return format_; }
  /// The encoder's header as an HTTP chunk: what a new listener gets first
  /// (null for a format without one: an empty chunk would end the body).
  [[nodiscard]] const std::shared_ptr<const std::string>& header_chunk() const { return header_chunk_; }

  /// Interleaved PCM16 read off the device's socket at `arrived`: encoded once, sent to every listener.
  void encode(std::span<const std::int16_t> interleaved, std::chrono::steady_clock::time_point arrived);

  void add_listener(HttpStreamSession* listener) { listeners_.push_back({listener, std::nullopt}); }
  void remove_listener(HttpStreamSession* listener);
  [[nodiscard]] std::size_t listener_count() const { return listeners_.size(); }
  [[nodiscard]] std::vector<HttpStreamSession*> sessions() const;

 private:
  struct Listener {
    HttpStreamSession* session;
    std::optional<std::uint64_t> granule_base;  // Ogg: set at its first audio page (0: the stream's own)
  };
  /// The chunk of this page for a listener whose granule positions start at base.
  std::shared_ptr<const std::string> chunk_for(const std::string& page, std::uint64_t base,
                                               const std::shared_ptr<const std::string>& original);

  StreamFormat format_;
  std::unique_ptr<StreamEncoder> encoder_;
  std::shared_ptr<const std::string> header_chunk_;
  std::vector<EncodedChunk> encoded_;  // reused from frame to frame
  std::vector<Listener> listeners_;
  std::uint64_t last_granule_ = 0;  // Ogg: of the last audio page sent
  std::vector<std::pair<std::uint64_t, std::shared_ptr<const std::string>>> rebased_;  // this page's, by base
};

/// bytes framed as one chunk of a chunked HTTP/1.1 body.
[[nodiscard]] std::string http_chunk(std::string_view bytes);
/// The chunk that ends a chunked body.
inline constexpr std::string_view kLastHttpChunk = "0\r\n\r\n";

}  // namespace micstream::server
