// Buffers owned by a unit test (freed when it ends) and the bytes put through them: a known
// pattern, writing it, reading everything back, and bare blocks of a size class.
#pragma once

#include "iocore/eventsystem/IOBuffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

namespace iocore::test {
struct BufferDeleter {
  void operator()(MIOBuffer *b) const { free_MIOBuffer(b); }
};
using Buffer = std::unique_ptr<MIOBuffer, BufferDeleter>;

inline Buffer
make(int64_t index)
{
  return Buffer(new_MIOBuffer(index));
}

inline std::string
pattern(std::size_t n)
{
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + i % 26);
  }
  return s;
}

inline std::string
read_all(IOBufferReader *r)
{
  std::string s(static_cast<std::size_t>(r->read_avail()), '\0');
  r->read(s.data(), static_cast<int64_t>(s.size()));
  return s;
}

inline void
write(MIOBuffer *b, const std::string &s)
{
  ASSERT_EQ(b->write(s.data(), static_cast<int64_t>(s.size())), static_cast<int64_t>(s.size()));
}

inline Ptr<IOBufferBlock>
new_block(int64_t index)
{
  Ptr<IOBufferBlock> b(new IOBufferBlock);
  b->alloc(index);
  return b;
}
} // namespace iocore::test
