#include "listener_protocol.h"

#include "json_text.h"
#include "micstream/byte_io.h"
#include "websocket_frame.h"

namespace micstream::server {

std::shared_ptr<const std::string> build_audio_frame(const proto::AudioHeader& header,
                                                     std::span<const std::uint8_t> payload,
                                                     std::int64_t capture_server_us, std::uint32_t sample_rate) {
  const std::size_t message_size = kAudioMessageHeaderSize + payload.size();
  auto frame = std::make_shared<std::string>(make_ws_header(WsOpcode::binary, message_size));
  const std::size_t offset = frame->size();
  frame->resize(offset + message_size);
  auto* bytes = reinterpret_cast<std::uint8_t*>(frame->data() + offset);
  ByteWriter w({bytes, message_size});
  w.u8(kAudioMessageKind);
  w.u8(static_cast<std::uint8_t>(header.codec));
  w.u8(header.channels);
  w.u8(0);
  w.u32(header.sequence);
  w.u64(header.first_sample);
  w.u64(static_cast<std::uint64_t>(capture_server_us));
  w.u32(sample_rate);
  w.u16(header.sample_count);
  w.u16(0);
  w.bytes(payload);
  return frame;
}

std::shared_ptr<const std::string> build_text_frame(const nlohmann::json& json) {
  return std::make_shared<const std::string>(make_ws_frame(WsOpcode::text, json_text(json)));
}

}  // namespace micstream::server
