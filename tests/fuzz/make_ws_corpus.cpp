// Writes the seed corpus of websocket_reader_fuzz: masked client frames of
// every kind the reader takes (text, binary in each length form, ping, pong,
// close), fragmented messages with control frames between the fragments, a
// listener's session as the page speaks it, and one seed for each way a
// stream is refused, each with the control prefix of websocket_fuzz_input.h.
// Most use the all-zero mask so the fuzzer's mutations land on the payload
// as the reader sees it.
//
//   make_ws_fuzz_corpus <output-dir>
//
// The files have fixed names; files the fuzzer merged in (named by their
// SHA-1) are left alone. Deterministic: the same files on every run.
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "corpus_writer.h"
#include "websocket_fuzz_input.h"

namespace {

using micstream::server::WsOpcode;
using micstream::fuzz::Bytes;
using micstream::fuzz::cat;
using Mask = std::array<std::uint8_t, 4>;

constexpr Mask kZeroMask = {0, 0, 0, 0};
constexpr Mask kRfcMask = {0x37, 0xfa, 0x21, 0x3d};  // RFC 6455 5.7's example
constexpr bool kFinal = true;
constexpr bool kMore = false;
enum class LengthForm { shortest, always_64_bit };

Bytes client_frame(bool fin, WsOpcode opcode, std::string_view payload, const Mask& mask = kZeroMask,
                   LengthForm form = LengthForm::shortest) {
  Bytes f{static_cast<std::uint8_t>((fin ? 0x80 : 0x00) | static_cast<std::uint8_t>(opcode))};
  const std::uint64_t size = payload.size();
  if (form == LengthForm::shortest && size < 126) {
    f.push_back(static_cast<std::uint8_t>(0x80 | size));
  } else if (form == LengthForm::shortest && size <= 0xFFFF) {
    f.insert(f.end(), {0x80 | 126, static_cast<std::uint8_t>(size >> 8), static_cast<std::uint8_t>(size)});
  } else {
    f.push_back(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) f.push_back(static_cast<std::uint8_t>(size >> shift));
  }
  f.insert(f.end(), mask.begin(), mask.end());
  for (std::size_t i = 0; i < payload.size(); ++i) f.push_back(static_cast<std::uint8_t>(payload[i]) ^ mask[i % 4]);
  return f;
}

std::string close_body(std::uint16_t code, std::string_view reason = {}) {
  return std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)} + std::string(reason);
}

// The control prefix of websocket_fuzz_input.h: max_payload selector, then chunk sizes.
constexpr auto* prefix = &micstream::fuzz::control_prefix;

}  // namespace

int main(int argc, char** argv) {
  micstream::fuzz::CorpusWriter corpus("make_ws_fuzz_corpus", argc, argv);
  const auto write = [&](const std::string& name, const Bytes& prefix_bytes, const Bytes& stream) {
    corpus.write(name, prefix_bytes, stream);
  };

  constexpr std::uint8_t kDefault = 0x00;  // the listener's max_payload
  const auto small_max = [](std::size_t bytes) {
    return static_cast<std::uint8_t>(micstream::fuzz::ws::kSmallMaxPayloadBase + bytes / micstream::fuzz::ws::kSmallMaxPayloadStep);
  };
  const Bytes whole = prefix(kDefault, 0, {255});
  const Bytes bytewise = prefix(kDefault, 0, {});
  const Bytes odd_chunks = prefix(kDefault, 0, {1, 7, 100, 3});
  const Bytes empty_feeds = prefix(kDefault, 0, {0, 3});

  const std::string subscribe = R"({"type":"subscribe","device":"esp32-kitchen"})";
  const std::string ping_json = R"({"type":"ping","id":7,"t0":1700000000123.5})";

  // Each kind of frame.
  write("01-text-hello-rfc-mask", bytewise, client_frame(kFinal, WsOpcode::text, "Hello", kRfcMask));
  write("02-text-subscribe", whole, client_frame(kFinal, WsOpcode::text, subscribe));
  write("03-text-utf8", bytewise,
        client_frame(kFinal, WsOpcode::text, "caf\xc3\xa9 \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xf0\x9f\x8e\xa4"));
  write("04-binary-16-bit-length", prefix(kDefault, 0, {7, 100}),
        client_frame(kFinal, WsOpcode::binary, std::string(300, '\xa5')));
  write("05-binary-64-bit-length", whole,
        client_frame(kFinal, WsOpcode::binary, std::string(200, 'b'), kRfcMask, LengthForm::always_64_bit));
  write("06-ping-pong-close", odd_chunks,
        cat({client_frame(kFinal, WsOpcode::ping, "p1"), client_frame(kFinal, WsOpcode::pong, ""),
             client_frame(kFinal, WsOpcode::close, close_body(1000, "bye"))}));

  // Fragmented messages.
  write("07-fragmented-text-with-control-frames", odd_chunks,
        cat({client_frame(kMore, WsOpcode::text, R"({"type":)"), client_frame(kFinal, WsOpcode::ping, "x"),
             client_frame(kMore, WsOpcode::continuation, R"("ping",)"), client_frame(kFinal, WsOpcode::pong, "y"),
             client_frame(kFinal, WsOpcode::continuation, R"("id":1})")}));
  write("08-fragmented-binary-empty-fragments", bytewise,
        cat({client_frame(kMore, WsOpcode::binary, ""), client_frame(kMore, WsOpcode::continuation, "\x01\x02"),
             client_frame(kMore, WsOpcode::continuation, ""), client_frame(kFinal, WsOpcode::continuation, "\x03")}));
  write("09-emoji-split-across-fragments", empty_feeds,
        cat({client_frame(kMore, WsOpcode::text, "hi \xf0\x9f"), client_frame(kFinal, WsOpcode::continuation, "\x98\x80")}));

  // A listener's session: subscribe, pings, a masked one, then close.
  write("10-listener-session", prefix(kDefault, 1, {1, 20, 3}),
        cat({client_frame(kFinal, WsOpcode::text, subscribe, kRfcMask), client_frame(kFinal, WsOpcode::text, ping_json),
             client_frame(kFinal, WsOpcode::ping, ""), client_frame(kFinal, WsOpcode::text, ping_json, kRfcMask),
             client_frame(kFinal, WsOpcode::close, close_body(1001))}));

  // At the max_payload bound: control frames are not bounded by it, a
  // message of exactly max_payload is fine, one more byte is 1009.
  write("11-small-max-payload", prefix(small_max(16), 0, {5}),
        cat({client_frame(kFinal, WsOpcode::ping, std::string(100, 'p')), client_frame(kMore, WsOpcode::text, "0123456789"),
             client_frame(kFinal, WsOpcode::continuation, "abcdef"), client_frame(kMore, WsOpcode::binary, "0123456789"),
             client_frame(kFinal, WsOpcode::continuation, "abcdefg")}));

  // Refused streams, one way each.
  write("12-text-not-utf8", bytewise,
        cat({client_frame(kFinal, WsOpcode::text, "ok"), client_frame(kFinal, WsOpcode::text, "\xed\xa0\x80 \xc0\xaf")}));
  write("13-close-bad-code", bytewise, client_frame(kFinal, WsOpcode::close, close_body(1005, "reserved")));
  write("14-close-one-byte", bytewise, client_frame(kFinal, WsOpcode::close, "\x03"));
  write("15-continuation-without-message", bytewise, client_frame(kFinal, WsOpcode::continuation, "lo"));
  write("16-new-message-inside-fragmented", bytewise,
        cat({client_frame(kMore, WsOpcode::text, "Hel"), client_frame(kFinal, WsOpcode::text, "lo")}));

  return corpus.finish();
}
