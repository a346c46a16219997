// Error codes of the whole project. The values travel on the wire in ERROR
// frames (docs/protocol.md lists them), so they never change meaning.
#pragma once

#include <cstdint>

namespace micstream {

enum class Errc : std::uint16_t {
  ok = 0,

  // Framing and field decoding (a peer sent bytes that are not protocol v1).
  bad_magic = 1,              ///< The first two bytes of a frame are not "MS".
  unsupported_version = 2,    ///< The frame's version byte is not one this side speaks.
  unknown_frame_type = 3,     ///< The type byte names no frame type.
  frame_too_large = 4,        ///< The length field exceeds the hard maximum (or this parser's buffer).
  bad_length_for_type = 5,    ///< The length is outside the bounds of the frame's type.
  truncated_field = 6,        ///< A field runs past the end of the payload.
  trailing_bytes = 7,         ///< Bytes are left over after the last field.
  invalid_string = 8,         ///< A string is empty where it must not be, too long, or has a forbidden character.
  invalid_codec = 9,          ///< The codec byte names no codec.
  invalid_value = 10,         ///< A numeric field is outside its documented range.
  payload_size_mismatch = 11, ///< An audio payload's size does not match its codec, channels and sample count.

  // Local, never sent: the caller's buffer cannot hold the result.
  buffer_too_small = 16,

  // Session errors, sent in ERROR frames before a peer closes the link.
  auth_failed = 32,           ///< The HELLO proof does not match the device's secret.
  unknown_device = 33,        ///< No secret is configured for this device id.
  unexpected_frame = 34,      ///< A valid frame arrived in a state where it is not allowed.
  timeout = 35,               ///< The peer said nothing for too long.
  shutting_down = 36,         ///< The server is stopping.
  replaced = 37,              ///< Another connection with the same device id took over.
  crypto_failure = 38,        ///< The platform's crypto library failed.
  tls_required = 39,          ///< The server takes TLS links only; this one is plain.
};

/// The code's name as written in the enum ("auth_failed"), for logs and JSON; never null.
[[nodiscard]] const char* error_name(Errc e);

/// A short English sentence for an error code; never null.
[[nodiscard]] const char* error_message(Errc e);

/// True when the value names a defined error code (for codes read off the wire).
[[nodiscard]] bool is_known_errc(std::uint16_t value);

/// A value or an error, for code that cannot throw.
template <class T>
struct [[nodiscard]] Result {
  T value{};
  Errc error = Errc::ok;

  constexpr Result(T v) : value(v) {}  // NOLINT(google-explicit-constructor): implicit by design
  constexpr Result(Errc e) : error(e) {}  // NOLINT(google-explicit-constructor)
  [[nodiscard]] constexpr bool ok() const { return error == Errc::ok; }
  constexpr explicit operator bool() const { return ok(); }
};

}  // namespace micstream
