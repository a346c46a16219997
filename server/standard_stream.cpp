#include "standard_stream.h"

#include <fmt/format.h>

#include "http_stream_session.h"
#include "ogg_page.h"

namespace micstream::server {

std::string http_chunk(std::string_view bytes) { return fmt::format("{:x}\r\n{}\r\n", bytes.size(), bytes); }

StandardStream::StandardStream(StreamFormat format, std::unique_ptr<StreamEncoder> encoder)
    : format_(format),
      encoder_(std::move(encoder)),
      header_chunk_(encoder_->header().empty() ? nullptr
                                               : std::make_shared<const std::string>(http_chunk(encoder_->header()))) {}

void StandardStream::remove_listener(HttpStreamSession* listener) {
  std::erase_if(listeners_, [listener](const Listener& l) { return l.session == listener; });
}

std::vector<HttpStreamSession*> StandardStream::sessions() const {
  std::vector<HttpStreamSession*> sessions;
  for (const Listener& l : listeners_) sessions.push_back(l.session);
  return sessions;
}

void StandardStream::encode(std::span<const std::int16_t> interleaved, std::chrono::steady_clock::time_point arrived) {
  encoded_.clear();
  encoder_->encode(interleaved, encoded_);
  const bool ogg = format_ == StreamFormat::ogg_opus;
  for (const EncodedChunk& piece : encoded_) {
    if (piece.bytes.empty()) continue;  // an empty chunk ends the body
    const auto chunk = std::make_shared<const std::string>(http_chunk(piece.bytes));
    const std::uint64_t granule = ogg ? ogg_granule(piece.bytes) : kNoGranule;
    rebased_.clear();
    for (Listener& listener : listeners_) {
      if (granule == kNoGranule) {
        listener.session->deliver(chunk, piece.audio_us, arrived);
        continue;
      }
      if (!listener.granule_base) listener.granule_base = last_granule_;  // its first audio page
      listener.session->deliver(chunk_for(piece.bytes, *listener.granule_base, chunk), piece.audio_us, arrived);
    }
    if (granule != kNoGranule) last_granule_ = granule;
  }
}

std::shared_ptr<const std::string> StandardStream::chunk_for(const std::string& page, std::uint64_t base,
                                                             const std::shared_ptr<const std::string>& original) {
  if (base == 0) return original;
  for (const auto& [b, chunk] : rebased_) {
    if (b == base) return chunk;
  }
  return rebased_.emplace_back(base, std::make_shared<const std::string>(http_chunk(ogg_rebased(page, base)))).second;
}

}  // namespace micstream::server
