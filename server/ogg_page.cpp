#include "ogg_page.h"

#include <ogg/ogg.h>

#include "micstream/byte_io.h"

namespace micstream::server {

namespace {
constexpr std::size_t kGranuleAt = 6;
constexpr std::size_t kSegmentCountAt = 26;
constexpr std::size_t kFixedHeader = 27;
}  // namespace

std::uint64_t ogg_granule(std::string_view page) {
  if (page.size() < kFixedHeader) return kNoGranule;
  ByteReader r({reinterpret_cast<const std::uint8_t*>(page.data()) + kGranuleAt, 8});
  return r.u64();
}

std::string ogg_rebased(std::string_view page, std::uint64_t base) {
  std::string copy(page);
  const std::uint64_t granule = ogg_granule(page);
  if (granule == kNoGranule) return copy;
  auto* bytes = reinterpret_cast<unsigned char*>(copy.data());
  ByteWriter w({bytes + kGranuleAt, 8});
  w.u64(granule - base);
  const std::size_t header = kFixedHeader + bytes[kSegmentCountAt];
  if (header > copy.size()) return copy;
  ogg_page og{bytes, static_cast<long>(header), bytes + header, static_cast<long>(copy.size() - header)};
  ogg_page_checksum_set(&og);
  return copy;
}

}  // namespace micstream::server
