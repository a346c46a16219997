// The messages of the listener WebSocket (docs/protocol.md, "The listener
// WebSocket") as WebSocket frames: the binary audio message (its bytes
// defined in core's listener_audio.h) and the JSON text messages, each built
// here and nowhere else.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "micstream/listener_audio.h"
#include "micstream/protocol.h"

namespace micstream::server {

/// What a listener asked for (`codec` in /ws's query or in `subscribe`): the
/// device's frames as the device sent them, Opus made by the server, or no
/// audio at all (a page's connection kept for the device list).
enum class WantedCodec : std::uint8_t { device, opus, none };
/// "device", "opus" or "none"; nullopt for anything else.
[[nodiscard]] std::optional<WantedCodec> wanted_codec_from_name(std::string_view name);

/// The whole WebSocket frame (header included) of one audio message; null
/// when its fields break the message's limits.
[[nodiscard]] std::shared_ptr<const std::string> build_audio_frame(const listener::Audio& audio);

/// The whole WebSocket frame (header included) of one audio message (core's
/// listener_audio.h), built once per device frame and written as is to every
/// listener; null for a frame no listener may get (it cannot happen for a
/// frame the link's parser accepted, whose limits are the same).
[[nodiscard]] std::shared_ptr<const std::string> build_audio_frame(const proto::AudioHeader& header,
                                                                   std::span<const std::uint8_t> payload,
                                                                   std::int64_t capture_server_us,
                                                                   std::uint32_t sample_rate);

/// A WebSocket text frame carrying json.
[[nodiscard]] std::shared_ptr<const std::string> build_text_frame(const nlohmann::json& json);

}  // namespace micstream::server
