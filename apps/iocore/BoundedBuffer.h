// Sizing of the MIOBuffers that bound how much the `iocore` command holds per connection and
// direction (--buffer-size): the block size and water mark that cap a buffer at about N bytes.
#pragma once

#include <iocore/iocore.h>

#include <cstdint>

namespace iocore_cli {
/// A buffer whose writer stops being offered room (write_avail() == 0, which stops a read VIO)
/// once about `bytes` are buffered: blocks of the largest size index not above `bytes`, and a
/// water mark of the remainder. It starts without a block (the first read or write adds one), and
/// its blocks are dropped whenever it is drained and the connection is at rest
/// (MIOBuffer::release_when_drained), so idle connections hold no buffer memory, not even before
/// their first byte.
iocore::MIOBuffer *new_bounded_MIOBuffer(int64_t bytes);
} // namespace iocore_cli
