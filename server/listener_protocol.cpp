#include "listener_protocol.h"

#include <algorithm>

#include "json_text.h"
#include "micstream/listener_audio.h"
#include "websocket_frame.h"

namespace micstream::server {

std::shared_ptr<const std::string> build_audio_frame(const proto::AudioHeader& header,
                                                     std::span<const std::uint8_t> payload,
                                                     std::int64_t capture_server_us, std::uint32_t sample_rate) {
  listener::Audio audio;
  audio.codec = listener::listener_codec(header.codec);
  audio.channels = header.channels;
  audio.sequence = header.sequence;
  audio.first_sample = header.first_sample;
  audio.capture_server_us = capture_server_us;
  audio.sample_rate = sample_rate;
  audio.sample_count = header.sample_count;
  audio.payload = payload;
  return build_audio_frame(audio);
}

std::shared_ptr<const std::string> build_audio_frame(const listener::Audio& audio) {
  const std::span<const std::uint8_t> payload = audio.payload;
  const std::size_t message_size = listener::kAudioHeaderSize + payload.size();
  auto frame = std::make_shared<std::string>(make_ws_header(WsOpcode::binary, message_size));
  const std::size_t offset = frame->size();
  frame->resize(offset + message_size);
  auto* bytes = reinterpret_cast<std::uint8_t*>(frame->data() + offset);
  if (listener::encode_audio_header(audio, std::span<std::uint8_t, listener::kAudioHeaderSize>(
                                               bytes, listener::kAudioHeaderSize)) != Errc::ok) {
    return nullptr;
  }
  std::copy(payload.begin(), payload.end(), bytes + listener::kAudioHeaderSize);
  return frame;
}

std::optional<WantedCodec> wanted_codec_from_name(std::string_view name) {
  if (name == "device") return WantedCodec::device;
  if (name == "opus") return WantedCodec::opus;
  if (name == "none") return WantedCodec::none;
  return std::nullopt;
}

std::shared_ptr<const std::string> build_text_frame(const nlohmann::json& json) {
  return std::make_shared<const std::string>(make_ws_frame(WsOpcode::text, json_text(json)));
}

}  // namespace micstream::server
