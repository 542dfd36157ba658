// Feeding the HTTP parser from an iocore buffer (see HttpParserFeed.h).
#include "HttpParserFeed.h"

#include <string_view>

namespace iocore_cli {
int64_t
feed_from_reader(HttpParser &parser, iocore::IOBufferReader *reader)
{
  // The views stay valid while nothing consumes: consume once, after the walk.
  int64_t used = 0;
  for (std::string_view piece : reader->blocks()) {
    size_t n = parser.feed(piece.data(), piece.size());
    used += static_cast<int64_t>(n);
    if (n < piece.size() || parser.status() != HttpParseStatus::kNeedMore) {
      break;
    }
  }
  reader->consume(used);
  return used;
}
} // namespace iocore_cli
