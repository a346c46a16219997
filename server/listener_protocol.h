// The messages of the listener WebSocket (docs/protocol.md, "The listener
// WebSocket"): the binary audio message and the JSON text messages, each
// built here and nowhere else.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "micstream/protocol.h"

namespace micstream::server {

inline constexpr std::size_t kAudioMessageHeaderSize = 32;
inline constexpr std::uint8_t kAudioMessageKind = 1;

/// The whole WebSocket frame (header included) of one audio message, built
/// once per device frame and written as is to every listener.
[[nodiscard]] std::shared_ptr<const std::string> build_audio_frame(const proto::AudioHeader& header,
                                                                   std::span<const std::uint8_t> payload,
                                                                   std::int64_t capture_server_us,
                                                                   std::uint32_t sample_rate);

/// A WebSocket text frame carrying json.
[[nodiscard]] std::shared_ptr<const std::string> build_text_frame(const nlohmann::json& json);

}  // namespace micstream::server
