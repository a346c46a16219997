#include "device_stream.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "http_stream_session.h"
#include "listener_protocol.h"
#include "listener_session.h"
#include "metrics.h"

namespace micstream::server {

namespace {
constexpr std::uint32_t kOpusPacketUs = listener::kOpusPacketSamples * 1'000'000 / listener::kOpusSampleRate;
}

void DeviceStream::connected(const proto::Hello& hello, std::string address, bool tls, std::uint64_t now_us) {
  const bool continues = connections_ > 0 && params_.sample_rate == hello.sample_rate &&
                         params_.channels == hello.channels;
  if (!continues) {
    expected_sample_.reset();
    rate_ = RateEstimator(hello.sample_rate);
    // A WAV or Ogg header cannot change mid-response: their listeners' responses end.
    for (auto& standard : standard_) {
      if (!standard) continue;
      const auto listeners = standard->sessions();
      standard.reset();
      for (HttpStreamSession* listener : listeners) listener->end("the device's sample rate or channels changed");
    }
  }
  opus_.reset();  // a new connection, a new Opus stream
  opus_failed_ = false;
  params_ = {hello.codec, hello.channels, hello.sample_rate, hello.samples_per_frame,
             std::string(hello.firmware_version.view()), tls};
  address_ = std::move(address);
  connected_since_us_ = now_us;
  online_ = true;
  ++connections_;
}

void DeviceStream::disconnected() { online_ = false; }

void DeviceStream::on_audio(const proto::Audio& audio, std::size_t frame_bytes, std::int64_t capture_server_us,
                            std::uint64_t arrival_us, std::chrono::steady_clock::time_point arrived,
                            std::uint32_t opus_bitrate, Metrics& metrics) {
  const proto::AudioHeader& h = audio.header;
  std::uint64_t lost = 0;
  if (expected_sample_) {
    if (h.first_sample > *expected_sample_) {
      lost = h.first_sample - *expected_sample_;
      ++gaps_;
      lost_samples_ += lost;
      metrics.dropped_device_gap += (lost + h.sample_count - 1) / h.sample_count;
    } else if (h.first_sample < *expected_sample_) {
      ++restarts_;  // the rate estimator starts over by itself
    }
  }
  expected_sample_ = h.first_sample + h.sample_count;
  params_.codec = h.codec;  // CONFIG can switch it mid-stream
  ++frames_;
  bytes_ += frame_bytes;
  ++metrics.frames_in;
  rate_.add(arrival_us, h.first_sample);

  // Encode once, send many: one buffer for every listener of each kind.
  const std::size_t opus_listeners = opus_listener_count();
  std::span<const std::int16_t> pcm;
  if (stream_listener_count() > 0 || opus_listeners > 0) pcm = decode_pcm(audio);
  for (auto& standard : standard_) {
    if (standard) standard->encode(pcm, arrived);
  }
  if (opus_listeners == 0) opus_.reset();
  const bool opus = opus_listeners > 0 && encode_opus(pcm, capture_server_us, lost, opus_bitrate);
  if (listeners_.empty()) return;
  std::shared_ptr<const std::string> frame;
  if (std::any_of(listeners_.begin(), listeners_.end(), [opus](const ListenerSession* l) {
        return l->wanted_codec() == WantedCodec::device || (!opus && l->wanted_codec() == WantedCodec::opus);
      })) {
    frame = build_audio_frame(h, audio.payload, capture_server_us, params_.sample_rate);
  }
  const auto duration_us = static_cast<std::uint32_t>(std::uint64_t{h.sample_count} * 1000000 / params_.sample_rate);
  for (ListenerSession* listener : listeners_) {
    if (listener->wanted_codec() == WantedCodec::none) continue;
    if (opus && listener->wanted_codec() == WantedCodec::opus) {
      for (const auto& packet : opus_frames_) listener->deliver_audio(packet, kOpusPacketUs, arrived);
    } else if (frame) {
      listener->deliver_audio(frame, duration_us, arrived);
    }
  }
}

std::span<const std::int16_t> DeviceStream::decode_pcm(const proto::Audio& audio) {
  const proto::AudioHeader& h = audio.header;
  pcm_.resize(std::size_t{h.sample_count} * params_.channels);
  const auto decoded = decode_frame(h.codec, params_.channels, h.sample_count, audio.payload, pcm_);
  if (!decoded) return {};  // (validated before: cannot happen)
  return {pcm_.data(), decoded.value};
}

bool DeviceStream::encode_opus(std::span<const std::int16_t> pcm, std::int64_t capture_server_us, std::uint64_t lost,
                               std::uint32_t bitrate) {
  if (!opus_ && !opus_failed_) {
    std::string error;
    opus_ = ListenerOpusEncoder::make(params_.sample_rate, params_.channels, bitrate, error);
    if (!opus_) {
      opus_failed_ = true;
      spdlog::error("device {}: {}; its Opus listeners get the device's frames", id_, error);
    }
  }
  opus_frames_.clear();
  if (!opus_) return false;
  opus_->encode(pcm, capture_server_us, lost, opus_frames_);
  return true;
}

std::size_t DeviceStream::audio_listener_count() const {
  return static_cast<std::size_t>(std::count_if(listeners_.begin(), listeners_.end(), [](const ListenerSession* l) {
    return l->wanted_codec() != WantedCodec::none;
  }));
}

std::size_t DeviceStream::opus_listener_count() const {
  return static_cast<std::size_t>(std::count_if(listeners_.begin(), listeners_.end(), [](const ListenerSession* l) {
    return l->wanted_codec() == WantedCodec::opus;
  }));
}

void DeviceStream::on_stats(const proto::Stats& stats, Metrics& metrics) {
  if (stats.frames_dropped < last_stats_dropped_) last_stats_dropped_ = 0;  // the device restarted its counters
  metrics.dropped_device_queue += stats.frames_dropped - last_stats_dropped_;
  last_stats_dropped_ = stats.frames_dropped;
  last_stats_ = stats;
}

StandardStream* DeviceStream::standard_stream(StreamFormat format, const StreamEncoderSettings& settings,
                                              std::string& error) {
  auto& standard = standard_[static_cast<std::size_t>(format)];
  if (!standard) {
    auto encoder = make_stream_encoder(format, params_.sample_rate, params_.channels, settings, error);
    if (!encoder) return nullptr;
    standard = std::make_unique<StandardStream>(format, std::move(encoder));
  }
  return standard.get();
}

void DeviceStream::remove_stream_listener(HttpStreamSession* listener) {
  auto& standard = standard_[static_cast<std::size_t>(listener->format())];
  if (!standard) return;
  standard->remove_listener(listener);
  if (standard->listener_count() == 0) standard.reset();
}

std::size_t DeviceStream::standard_stream_count() const {
  return static_cast<std::size_t>(std::count_if(standard_.begin(), standard_.end(), [](const auto& s) { return s != nullptr; }));
}

std::size_t DeviceStream::stream_listener_count() const {
  std::size_t count = 0;
  for (const auto& standard : standard_) count += standard ? standard->listener_count() : 0;
  return count;
}

void DeviceStream::add_listener(ListenerSession* listener) { listeners_.push_back(listener); }

void DeviceStream::remove_listener(ListenerSession* listener) { std::erase(listeners_, listener); }

nlohmann::json DeviceStream::stream_json() const {
  if (connections_ == 0) {  // never connected: its shape is unknown, not pcm16 at 0 Hz
    return {{"type", "stream"}, {"device", id_},         {"online", false},          {"codec", nullptr},
            {"sample_rate", nullptr}, {"channels", nullptr}, {"samples_per_frame", nullptr}};
  }
  return {{"type", "stream"},
          {"device", id_},
          {"online", online_},
          {"codec", codec_name(params_.codec)},
          {"sample_rate", params_.sample_rate},
          {"channels", params_.channels},
          {"samples_per_frame", params_.samples_per_frame}};
}

nlohmann::json DeviceStream::api_json() const {
  nlohmann::json stats = nullptr;
  if (last_stats_) {
    const proto::Stats& s = *last_stats_;
    stats = {{"uptime_s", s.uptime_s},
             {"frames_captured", s.frames_captured},
             {"frames_dropped", s.frames_dropped},
             {"frames_sent", s.frames_sent},
             {"reconnects", s.reconnects},
             {"free_heap_bytes", s.free_heap_bytes},
             {"min_free_heap_bytes", s.min_free_heap_bytes},
             {"wifi_rssi_dbm", s.wifi_rssi_dbm == proto::kRssiUnknown ? nlohmann::json() : nlohmann::json(s.wifi_rssi_dbm)},
             {"queue_depth", s.queue_depth}};
  }
  const bool measured = rate_.has_estimate();
  return {{"id", id_},
          {"online", online_},
          {"address", address_},
          {"codec", codec_name(params_.codec)},
          {"sample_rate", params_.sample_rate},
          {"channels", params_.channels},
          {"samples_per_frame", params_.samples_per_frame},
          {"firmware", params_.firmware},
          {"link", params_.tls ? "tls" : "plain"},
          {"connected_since_us", connected_since_us_},
          {"connections", connections_},
          {"frames", frames_},
          {"bytes", bytes_},
          {"gaps", gaps_},
          {"lost_samples", lost_samples_},
          {"restarts", restarts_},
          {"listeners", audio_listener_count()},
          {"opus_listeners", opus_listener_count()},
          {"stream_listeners", stream_listener_count()},
          {"measured_sample_rate", measured ? nlohmann::json(rate_.rate_hz()) : nlohmann::json()},
          {"drift_ppm", measured ? nlohmann::json(rate_.drift_ppm()) : nlohmann::json()},
          {"stats", stats}};
}

}  // namespace micstream::server
