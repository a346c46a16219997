#include "listener_opus.h"

#include <cstring>

#include <opus/opusenc.h>

#include "listener_protocol.h"
#include "micstream/listener_audio.h"

namespace micstream::server {

namespace {
constexpr std::size_t kMaxFedFrames = 64;  // bounds the frames kept should the encoder stop making packets
constexpr std::string_view kOpusHead = "OpusHead";
constexpr std::string_view kOpusTags = "OpusTags";

bool starts_with(const unsigned char* packet, std::int32_t length, std::string_view magic) {
  return length >= static_cast<std::int32_t>(magic.size()) && std::memcmp(packet, magic.data(), magic.size()) == 0;
}
}  // namespace

std::unique_ptr<ListenerOpusEncoder> ListenerOpusEncoder::make(std::uint32_t sample_rate, unsigned channels,
                                                               std::uint32_t bitrate, std::string& error) {
  std::unique_ptr<ListenerOpusEncoder> self(new ListenerOpusEncoder(sample_rate, channels));
  OggOpusComments* comments = ope_comments_create();
  int code = OPE_ALLOC_FAIL;
  if (comments != nullptr) {
    self->encoder_ = ope_encoder_create_pull(comments, static_cast<opus_int32>(sample_rate),
                                             static_cast<int>(channels), 0, &code);
    ope_comments_destroy(comments);  // the encoder keeps its own copy
  }
  if (self->encoder_ == nullptr) {
    error = std::string("cannot start the Opus encoder: ") + ope_strerror(code);
    return nullptr;
  }
  const int results[] = {
      ope_encoder_ctl(self->encoder_, OPUS_SET_BITRATE(static_cast<opus_int32>(bitrate))),
      ope_encoder_ctl(self->encoder_, OPUS_SET_EXPERT_FRAME_DURATION(OPUS_FRAMESIZE_20_MS)),
      ope_encoder_ctl(self->encoder_, OPE_SET_DECISION_DELAY(0)),
      ope_encoder_ctl(self->encoder_, OPE_SET_PACKET_CALLBACK(&ListenerOpusEncoder::on_packet, self.get())),
      ope_encoder_flush_header(self->encoder_),  // OpusHead comes through on_packet: the pre-skip
  };
  for (const int result : results) {
    if (result != OPE_OK) {
      error = std::string("cannot set up the Opus encoder: ") + ope_strerror(result);
      return nullptr;
    }
  }
  return self;
}

ListenerOpusEncoder::~ListenerOpusEncoder() {
  if (encoder_ != nullptr) ope_encoder_destroy(encoder_);
}

void ListenerOpusEncoder::encode(std::span<const std::int16_t> interleaved, std::int64_t capture_server_us,
                                 std::uint64_t lost_samples, std::vector<std::shared_ptr<const std::string>>& out) {
  const std::size_t samples = interleaved.size() / channels_;
  // Lost audio shows as a jump of the messages' sample index, as it does in
  // the device's own frames; the packets themselves run on.
  gap48_ += lost_samples * listener::kOpusSampleRate / rate_;
  fed_.push_back({input_samples_, capture_server_us});
  if (fed_.size() > kMaxFedFrames) fed_.pop_front();
  input_samples_ += samples;
  out_ = &out;
  (void)ope_encoder_write(encoder_, interleaved.data(), static_cast<int>(samples));
  out_ = nullptr;
  // The pages are not wanted: take them so they do not pile up.
  unsigned char* page = nullptr;
  opus_int32 length = 0;
  while (ope_encoder_get_page(encoder_, &page, &length, 1) == 1) {
  }
  // Frames wholly before the next packet's first sample are done with.
  const auto next_start = static_cast<std::int64_t>(packets_ * listener::kOpusPacketSamples) - pre_skip_;
  while (fed_.size() > 1 &&
         static_cast<std::int64_t>(fed_[1].input_sample * listener::kOpusSampleRate / rate_) <= next_start) {
    fed_.pop_front();
  }
}

// The capture time of the input at sample48 (48 kHz, since the encoder
// started; negative: before its first sample), from the frame it falls in.
std::int64_t ListenerOpusEncoder::capture_of(std::int64_t sample48) {
  if (fed_.empty()) return 0;
  const Fed* frame = &fed_.front();
  for (const Fed& f : fed_) {
    if (static_cast<std::int64_t>(f.input_sample * listener::kOpusSampleRate) > sample48 * rate_) break;
    frame = &f;
  }
  // In 1/(48000·rate) s: small, as the sample lies in (or next to) the frame.
  const std::int64_t offset = sample48 * rate_ - static_cast<std::int64_t>(frame->input_sample * listener::kOpusSampleRate);
  return frame->capture_server_us + offset * 1'000'000 / (std::int64_t{listener::kOpusSampleRate} * rate_);
}

void ListenerOpusEncoder::on_packet(void* user, const unsigned char* packet, std::int32_t length,
                                    std::uint32_t /*flags*/) {
  auto& self = *static_cast<ListenerOpusEncoder*>(user);
  if (starts_with(packet, length, kOpusHead)) {
    if (length >= 12) self.pre_skip_ = static_cast<std::uint32_t>(packet[10] | (packet[11] << 8));  // RFC 7845 5.1
    return;
  }
  if (starts_with(packet, length, kOpusTags) || self.out_ == nullptr) return;
  const auto start = static_cast<std::int64_t>(self.packets_ * listener::kOpusPacketSamples) - self.pre_skip_;
  listener::Audio a;
  a.codec = listener::ListenerCodec::opus;
  a.channels = static_cast<std::uint8_t>(self.channels_);
  a.sequence = static_cast<std::uint32_t>(self.packets_);
  a.first_sample = self.packets_ * listener::kOpusPacketSamples + self.gap48_;
  a.capture_server_us = self.capture_of(start);
  a.sample_rate = listener::kOpusSampleRate;
  a.sample_count = listener::kOpusPacketSamples;
  a.payload = {packet, static_cast<std::size_t>(length)};
  ++self.packets_;
  if (auto frame = build_audio_frame(a)) self.out_->push_back(std::move(frame));
}

}  // namespace micstream::server
