// Feeding the HTTP parser from an iocore buffer: the one way the responder and the metrics
// endpoint hand a connection's input to HttpParser, parsed in place, block by block.
#pragma once

#include "HttpParser.h"

#include <iocore/iocore.h>

#include <cstdint>

namespace iocore_cli {
/// Feed `parser` what `reader` can see, piece by piece, until the parser completes a request, finds
/// an error or has taken every byte; consume() what it used and return that count. So afterwards
/// either parser.status() != kNeedMore or the reader is drained.
int64_t feed_from_reader(HttpParser &parser, iocore::IOBufferReader *reader);
} // namespace iocore_cli
