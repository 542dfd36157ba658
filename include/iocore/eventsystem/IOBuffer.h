// IO buffers, as ATS's IOBuffer.h: reference-counted memory (IOBufferData) viewed through chained,
// reference-counted windows (IOBufferBlock), written by one MIOBuffer and read by up to
// kMaxMIOBufferReaders IOBufferReaders, each at its own position. Data moves between buffers by
// sharing blocks (MIOBuffer::write(IOBufferReader*)), not by copying. The net layer reads straight
// into the free space of the blocks (first_write_block() / end() / fill()) and writes straight from
// the readers' blocks.
//
//   IOBufferData [ .......................................... ]   refcounted memory, one size class
//                  ^start      ^end             ^buf_end
//   IOBufferBlock  [  readable  |  writable (only the owner)  ] -> next block -> ...
//   reader A: block = X, start_offset = 10      reader B: block = Y, start_offset = 0
//
// Ownership: the MIOBuffer holds the chain from its current write block (_writer) on; each reader
// holds its current block, so a block is released as soon as every reader has consumed past it and
// the writer has moved on. A clone of a block shares its data but is never writable.
// Threading: an MIOBuffer and its readers may be created and filled on any thread, but are not
// thread-safe: a buffer in use by a VIO is touched only under that VIO's mutex.
#pragma once

#include "iocore/eventsystem/Ptr.h"

#include <array>
#include <cstdint>

namespace iocore {
inline constexpr int64_t BUFFER_SIZE_INDEX_128  = 0;
inline constexpr int64_t BUFFER_SIZE_INDEX_256  = 1;
inline constexpr int64_t BUFFER_SIZE_INDEX_512  = 2;
inline constexpr int64_t BUFFER_SIZE_INDEX_1K   = 3;
inline constexpr int64_t BUFFER_SIZE_INDEX_2K   = 4;
inline constexpr int64_t BUFFER_SIZE_INDEX_4K   = 5;
inline constexpr int64_t BUFFER_SIZE_INDEX_8K   = 6;
inline constexpr int64_t BUFFER_SIZE_INDEX_16K  = 7;
inline constexpr int64_t BUFFER_SIZE_INDEX_32K  = 8;
inline constexpr int64_t BUFFER_SIZE_INDEX_64K  = 9;
inline constexpr int64_t BUFFER_SIZE_INDEX_128K = 10;
inline constexpr int64_t BUFFER_SIZE_INDEX_256K = 11;
inline constexpr int64_t BUFFER_SIZE_INDEX_512K = 12;
inline constexpr int64_t BUFFER_SIZE_INDEX_1M   = 13;
inline constexpr int64_t BUFFER_SIZE_INDEX_2M   = 14;
inline constexpr int64_t MAX_BUFFER_SIZE_INDEX  = BUFFER_SIZE_INDEX_2M;
inline constexpr int64_t DEFAULT_BUFFER_SIZES   = MAX_BUFFER_SIZE_INDEX + 1;
/// Readers per MIOBuffer (ATS: MAX_MIOBUFFER_READERS).
inline constexpr int kMaxMIOBufferReaders  = 5;
inline constexpr int MAX_MIOBUFFER_READERS = kMaxMIOBufferReaders;

/// 128 << idx bytes.
constexpr int64_t
index_to_buffer_size(int64_t idx)
{
  return int64_t{128} << idx;
}
/// The smallest index whose size is at least `size`, capped at `max`.
int64_t buffer_size_to_index(int64_t size, int64_t max = BUFFER_SIZE_INDEX_2M);

class MIOBuffer;
class IOBufferReader;
struct MIOBufferAccessor;

/// Reference-counted memory of one size class.
class IOBufferData : public RefCountObj
{
public:
  explicit IOBufferData(int64_t size_index);
  ~IOBufferData() override;
  IOBufferData(const IOBufferData &)            = delete;
  IOBufferData &operator=(const IOBufferData &) = delete;

  char *data() const { return _data; }
  int64_t block_size() const { return index_to_buffer_size(size_index); }
  const int64_t size_index;

private:
  char *_data;
};

/// A window [start, end) on an IOBufferData, with room up to buf_end, chained by `next`.
class IOBufferBlock : public RefCountObj
{
public:
  IOBufferBlock() = default;
  /// Frees the rest of a chain iteratively (a long chain must not recurse).
  void free() override;

  /// A fresh block owning new memory of the size class, empty.
  void alloc(int64_t size_index);
  /// Drop the memory and the chain.
  void clear();
  /// Empty the window: start = end = buf().
  void reset();
  /// A block sharing the same data and window, never writable (buf_end = end).
  IOBufferBlock *clone() const;

  char *buf() const { return data ? data->data() : nullptr; }
  char *start() const { return _start; }
  char *end() const { return _end; }
  char *buf_end() const { return _buf_end; }
  int64_t read_avail() const { return _end - _start; }
  int64_t size() const { return read_avail(); }
  int64_t write_avail() const { return _buf_end - _end; }
  int64_t block_size() const { return data ? data->block_size() : 0; }
  void consume(int64_t n) { _start += n; }
  void fill(int64_t n) { _end += n; }

  Ptr<IOBufferData> data;
  Ptr<IOBufferBlock> next;
  char *_start   = nullptr;
  char *_end     = nullptr;
  char *_buf_end = nullptr;
};

/// A read position in an MIOBuffer. Obtained from MIOBuffer::alloc_reader(); owned by the MIOBuffer.
class IOBufferReader
{
public:
  /// Bytes this reader can see (from its position to the writer's end, capped by size_limit).
  int64_t read_avail();
  /// read_avail() > n, without walking further than needed.
  bool is_read_avail_more_than(int64_t n);
  /// Contiguous bytes at start().
  int64_t block_read_avail();
  char *start();
  char *end();
  /// Advance by n bytes (n <= read_avail()).
  void consume(int64_t n);
  /// Copy up to len bytes out and consume them.
  int64_t read(void *buf, int64_t len);
  /// Copy up to len bytes starting `offset` bytes in, without consuming.
  int64_t memcpy(void *buf, int64_t len, int64_t offset = 0) const;
  /// Offset of the first `c` within len bytes from `offset`, or -1.
  int64_t memchr(char c, int64_t len = INT64_MAX, int64_t offset = 0) const;
  /// Another reader at the same position.
  IOBufferReader *clone();
  void dealloc();
  /// Back to the start of the writer's current block.
  void reset();
  bool is_allocated() const { return mbuf != nullptr; }

  MIOBuffer *mbuf = nullptr;
  Ptr<IOBufferBlock> block;
  int64_t start_offset        = 0;
  int64_t size_limit          = INT64_MAX;
  MIOBufferAccessor *accessor = nullptr;

private:
  void skip_empty_blocks();
};

/// The writer side of a buffer: one writer, up to kMaxMIOBufferReaders readers.
class MIOBuffer
{
public:
  explicit MIOBuffer(int64_t size_index = BUFFER_SIZE_INDEX_32K);
  ~MIOBuffer();
  MIOBuffer(const MIOBuffer &)            = delete;
  MIOBuffer &operator=(const MIOBuffer &) = delete;

  /// A new reader at the start of the current write block. Aborts if all readers are in use.
  IOBufferReader *alloc_reader();
  IOBufferReader *alloc_accessor(MIOBufferAccessor *accessor);
  IOBufferReader *clone_reader(IOBufferReader *r);
  void dealloc_reader(IOBufferReader *r);
  void dealloc_all_readers();

  /// Copy len bytes in (ignores the water mark; adds blocks as needed). Returns len.
  int64_t write(const void *buf, int64_t len);
  /// Append what `r` can see, from `offset` for `len` bytes, by sharing its blocks. Returns the
  /// bytes appended.
  int64_t write(IOBufferReader *r, int64_t len = INT64_MAX, int64_t offset = 0);
  int64_t write(IOBufferBlock *b, int64_t len = INT64_MAX, int64_t offset = 0);

  /// Room to write now. Adds a block when unread data is at or below the water mark and the free
  /// space is too; so with water mark 0 a full buffer with unread data reports 0 (backpressure).
  int64_t write_avail();
  /// Free space in the write block and the blocks after it; never adds a block.
  int64_t current_write_avail();
  /// Free space in first_write_block().
  int64_t block_write_avail();
  /// Where the next byte goes (in first_write_block()).
  char *end();
  char *buf_end();
  /// Commit n bytes written at end() and beyond (spilling into following blocks).
  void fill(int64_t n);
  /// The block the next byte goes into (nullptr if the buffer has no block yet).
  IOBufferBlock *first_write_block();

  void append_block(IOBufferBlock *b);
  void append_block(int64_t size_index);
  /// Append an empty block of the buffer's size class (if the writer has no next block).
  void add_block();

  /// The largest read_avail() among the readers (with none: the write block's data).
  int64_t max_read_avail();
  bool is_max_read_avail_more_than(int64_t n);
  int max_block_count();
  /// Unread data above the water mark.
  bool high_water();
  /// write_avail() <= water_mark (may add a block).
  bool low_water();
  bool current_low_water();
  void set_water_mark(int64_t w) { water_mark = w; }
  int64_t block_size() const { return index_to_buffer_size(size_index); }

  int64_t water_mark = 0;
  int64_t size_index;
  Ptr<IOBufferBlock> _writer;
  std::array<IOBufferReader, kMaxMIOBufferReaders> readers;

private:
  void append_block_internal(IOBufferBlock *b);
  void init_readers();
};

/// A new buffer with one empty block.
MIOBuffer *new_MIOBuffer(int64_t size_index = BUFFER_SIZE_INDEX_32K);
/// A new buffer with no block until the first write.
MIOBuffer *new_empty_MIOBuffer(int64_t size_index = BUFFER_SIZE_INDEX_32K);
void free_MIOBuffer(MIOBuffer *b);

/// How a VIO refers to its buffer: a read VIO to the MIOBuffer it fills, a write VIO to the reader it
/// drains.
struct MIOBufferAccessor {
  MIOBuffer *writer() const { return mbuf; }
  IOBufferReader *reader() const { return entry; }
  void writer_for(MIOBuffer *m)
  {
    mbuf  = m;
    entry = nullptr;
  }
  void reader_for(IOBufferReader *r)
  {
    mbuf  = r ? r->mbuf : nullptr;
    entry = r;
  }
  /// An accessor-owned reader of m.
  void reader_for(MIOBuffer *m);
  void clear()
  {
    mbuf  = nullptr;
    entry = nullptr;
  }

  MIOBuffer *mbuf       = nullptr;
  IOBufferReader *entry = nullptr;
};
} // namespace iocore
