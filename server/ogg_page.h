// The two things the server reads or changes in an Ogg page (RFC 3533) its
// Opus encoder made: the granule position, and a copy of the page with it
// rebased for a listener who joined the stream late.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace micstream::server {

/// No packet ends on the page (RFC 3533: a granule position of all ones).
inline constexpr std::uint64_t kNoGranule = ~std::uint64_t{0};

/// The page's granule position (bytes 6 to 13, little-endian); kNoGranule for a page too short.
[[nodiscard]] std::uint64_t ogg_granule(std::string_view page);

/// A copy of the page whose granule position is base lower, with its CRC made
/// anew (libogg's). A page without a granule position is copied as it is.
[[nodiscard]] std::string ogg_rebased(std::string_view page, std::uint64_t base);

}  // namespace micstream::server
