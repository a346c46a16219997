#include "http_request_loop.h"

namespace micstream::server {

boost::asio::awaitable<void> serve_requests(TlsStream& stream, boost::beast::flat_buffer& buffer,
                                            ConnectionLimits::Slot slot, HttpServices& services, const Peer& peer) {
  return detail::request_loop(stream, buffer, std::move(slot), services, peer);
}

}  // namespace micstream::server
