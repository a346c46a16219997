// The device port's TLS: TLS 1.2 with a key derived from the device's secret
// as the pre-shared key (core's derive_link_psk) and its id as the PSK identity, TLS_PSK_WITH_AES_128_GCM_SHA256 only
// (docs/protocol.md, "TLS"). A server that does not know a device's secret
// cannot complete the handshake, so a device never talks to a rogue one.
#pragma once

#include <string>

#include <boost/asio/ssl/context.hpp>

#include "secrets.h"
#include "transport.h"

namespace micstream::server {

/// secrets must outlive the context (its PSK callback looks keys up there).
[[nodiscard]] boost::asio::ssl::context make_device_tls_context(const Secrets& secrets);

/// The identity (device id) the peer's handshake used; empty before one.
[[nodiscard]] std::string psk_identity(TlsStream& stream);

/// The first byte of a TLS link: a handshake record.
inline constexpr unsigned char kTlsHandshakeRecord = 0x16;

}  // namespace micstream::server
