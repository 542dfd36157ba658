// A buffer's writer adds a block only while the data buffered is at or below the water mark
// (MIOBuffer::write_avail), so at most water_mark + one block is ever held.
#include "BoundedBuffer.h"

#include <algorithm>

namespace iocore_cli {
iocore::MIOBuffer *
new_bounded_MIOBuffer(int64_t bytes)
{
  int64_t idx = iocore::buffer_size_to_index(bytes);
  while (idx > iocore::BUFFER_SIZE_INDEX_128 && iocore::index_to_buffer_size(idx) > bytes) {
    --idx;
  }
  iocore::MIOBuffer *buf = iocore::new_empty_MIOBuffer(idx);
  buf->set_water_mark(std::max<int64_t>(0, bytes - iocore::index_to_buffer_size(idx)));
  buf->release_when_drained = true;
  return buf;
}
} // namespace iocore_cli
