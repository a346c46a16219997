#include "micstream/error.h"

namespace micstream {

const char* error_message(Errc e) {
  switch (e) {
    case Errc::ok: return "no error";
    case Errc::bad_magic: return "bad magic: the frame does not start with \"MS\"";
    case Errc::unsupported_version: return "unsupported protocol version";
    case Errc::unknown_frame_type: return "unknown frame type";
    case Errc::frame_too_large: return "frame length exceeds the maximum";
    case Errc::bad_length_for_type: return "frame length is invalid for its type";
    case Errc::truncated_field: return "a field runs past the end of the frame";
    case Errc::trailing_bytes: return "unexpected bytes after the last field";
    case Errc::invalid_string: return "a string field is empty, too long or has a forbidden character";
    case Errc::invalid_codec: return "unknown codec";
    case Errc::invalid_value: return "a field is outside its valid range";
    case Errc::payload_size_mismatch: return "audio payload size does not match codec, channels and sample count";
    case Errc::buffer_too_small: return "output buffer too small";
    case Errc::auth_failed: return "authentication failed: wrong secret";
    case Errc::unknown_device: return "unknown device id";
    case Errc::unexpected_frame: return "frame not allowed in this state";
    case Errc::timeout: return "peer silent for too long";
    case Errc::shutting_down: return "server shutting down";
    case Errc::replaced: return "replaced by a newer connection of the same device";
    case Errc::crypto_failure: return "crypto library failure";
    case Errc::tls_required: return "this server takes TLS links only";
  }
  return "unknown error code";
}

const char* error_name(Errc e) {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::bad_magic: return "bad_magic";
    case Errc::unsupported_version: return "unsupported_version";
    case Errc::unknown_frame_type: return "unknown_frame_type";
    case Errc::frame_too_large: return "frame_too_large";
    case Errc::bad_length_for_type: return "bad_length_for_type";
    case Errc::truncated_field: return "truncated_field";
    case Errc::trailing_bytes: return "trailing_bytes";
    case Errc::invalid_string: return "invalid_string";
    case Errc::invalid_codec: return "invalid_codec";
    case Errc::invalid_value: return "invalid_value";
    case Errc::payload_size_mismatch: return "payload_size_mismatch";
    case Errc::buffer_too_small: return "buffer_too_small";
    case Errc::auth_failed: return "auth_failed";
    case Errc::unknown_device: return "unknown_device";
    case Errc::unexpected_frame: return "unexpected_frame";
    case Errc::timeout: return "timeout";
    case Errc::shutting_down: return "shutting_down";
    case Errc::replaced: return "replaced";
    case Errc::crypto_failure: return "crypto_failure";
    case Errc::tls_required: return "tls_required";
  }
  return "unknown";
}

bool is_known_errc(std::uint16_t value) {
  // error_name() returns this exact pointer only for values outside the enum.
  return error_name(static_cast<Errc>(value)) != error_name(static_cast<Errc>(0xFFFF));
}

}  // namespace micstream
