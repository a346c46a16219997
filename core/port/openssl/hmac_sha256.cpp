// hmac_sha256() for Linux hosts, from OpenSSL.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "micstream/auth.h"

namespace micstream {

bool hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> message,
                 std::span<std::uint8_t, kHmacSha256Size> mac) {
  unsigned int size = 0;
  const unsigned char* result = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), message.data(),
                                     message.size(), mac.data(), &size);
  return result != nullptr && size == kHmacSha256Size;
}

}  // namespace micstream
