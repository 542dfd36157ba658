// libFuzzer target for HttpParser (apps/iocore/HttpParser.cc). Differential: the same bytes fed
// at once and in pieces (split points taken from the input) must give the same requests at the
// same offsets and the same final status, and feed() must never claim more bytes than it was given.
#include "HttpParser.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {
using iocore_cli::HttpParser;
using iocore_cli::HttpParseStatus;

struct Outcome {
  std::vector<size_t> message_ends;
  std::vector<std::string> methods;
  std::vector<bool> keep_alive;
  HttpParseStatus final_status = HttpParseStatus::kNeedMore;

  bool operator==(const Outcome &o) const
  {
    return message_ends == o.message_ends && methods == o.methods && keep_alive == o.keep_alive && final_status == o.final_status;
  }
};

/// Feed `input` in pieces whose sizes come from `sizes` (cycled); 0 entries mean "the rest".
Outcome
run(const std::string &input, const std::vector<size_t> &sizes)
{
  HttpParser parser(512, 4096); // small limits so the fuzzer reaches the 431 and 413 paths
  Outcome out;
  size_t pos = 0;
  size_t k   = 0;
  int stuck  = 0;
  while (pos < input.size()) {
    size_t piece = sizes.empty() ? input.size() - pos : sizes[k++ % sizes.size()];
    if (piece == 0 || piece > input.size() - pos) {
      piece = input.size() - pos;
    }
    size_t used = parser.feed(input.data() + pos, piece);
    if (used > piece) {
      std::abort();
    }
    pos += used;
    if (parser.status() == HttpParseStatus::kMessageComplete) {
      out.message_ends.push_back(pos);
      out.methods.push_back(parser.request().method);
      out.keep_alive.push_back(parser.request().keep_alive);
    } else if (is_error(parser.status())) {
      if (parser.feed(input.data() + pos, input.size() - pos) != 0) {
        std::abort(); // an error is final
      }
      break;
    } else if (used < piece) {
      std::abort(); // kNeedMore must consume everything
    }
    stuck = used == 0 ? stuck + 1 : 0;
    if (stuck > 2) {
      break; // a complete message followed by a zero-length piece cannot loop forever
    }
  }
  out.final_status = parser.status();
  if (out.final_status == HttpParseStatus::kMessageComplete) {
    out.final_status = HttpParseStatus::kNeedMore; // "complete at the very end" is not an error state
  }
  return out;
}
} // namespace

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1) {
    return 0;
  }
  // The first bytes choose the split sizes; the rest is the stream.
  size_t n_sizes = data[0] % 8;
  if (size < 1 + n_sizes) {
    return 0;
  }
  std::vector<size_t> sizes;
  for (size_t i = 0; i < n_sizes; ++i) {
    sizes.push_back(data[1 + i] % 64 + 1);
  }
  std::string input(reinterpret_cast<const char *>(data) + 1 + n_sizes, size - 1 - n_sizes);
  Outcome whole  = run(input, {});
  Outcome pieces = run(input, sizes);
  Outcome bytes  = run(input, {1});
  if (!(whole == pieces) || !(whole == bytes)) {
    std::abort();
  }
  return 0;
}
