// IO buffers, as ATS's IOBuffer.h: reference-counted memory (IOBufferData) viewed through chained,
// reference-counted windows (IOBufferBlock), written by one MIOBuffer and read by up to
// MAX_MIOBUFFER_READERS IOBufferReaders, each at its own position. Data moves between buffers by
// sharing blocks (MIOBuffer::write(IOBufferReader*)), not by copying. The net layer reads straight
// into the free space of the blocks (first_write_block() / end() / fill()) and writes straight from
// the readers' blocks (reader->block, start_offset, then consume()).
//
//   IOBufferData   [ ........................................................ ]  one size class, refcounted
//                    ^buf()       ^start()            ^end()            ^buf_end()
//   IOBufferBlock X  [  consumed   |  readable          |  writable (owner only) ]
//                                   <-- read_avail() --> <-- write_avail() -->
//        | next (Ptr)
//        v
//   IOBufferBlock Y  (a clone: shares another block's IOBufferData, buf_end == end, never writable)
//        | next
//        v
//   IOBufferBlock Z  <- MIOBuffer::writer_block() (the block still being written; may be full, with
//                       an empty spare after it: first_write_block() then returns the spare)
//
//   reader A: block = X, start_offset = 10       reader B: block = Z, start_offset = 0
//
// Ownership: the MIOBuffer holds the chain from its writer block on; each reader holds (a Ptr to) its current
// block and through it the rest of the chain. So a block is released as soon as every reader has
// consumed past it and the writer has moved on; nothing else frees blocks. Readers live inside
// their MIOBuffer (readers[]): a reader pointer is valid until dealloc_reader() or free_MIOBuffer().
// Threading: an MIOBuffer and its readers have no thread affinity (no EThread is needed) but are not
// thread-safe: one thread at a time, which for a buffer in use by a VIO means under that VIO's mutex.
// IOBufferData and IOBufferBlock refcounts are atomic, so blocks shared between buffers owned by
// different threads may be released on either.
#pragma once

#include "iocore/eventsystem/Ptr.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string_view>

namespace iocore {
/// @name Buffer size classes
/// A size index names a block size of 128 << index bytes (index_to_buffer_size()), as in ATS.
/// @{

/// 128 bytes.
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
/// @}
/// The most readers an MIOBuffer can have at once (ATS's name and value).
inline constexpr int MAX_MIOBUFFER_READERS = 5;

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
  /// Allocate one block of the size class (uninitialised).
  explicit IOBufferData(int64_t size_index);
  ~IOBufferData() override;
  IOBufferData(const IOBufferData &)            = delete;
  IOBufferData &operator=(const IOBufferData &) = delete;

  /// The memory.
  char *data() const { return _data; }
  /// Its size in bytes.
  int64_t block_size() const { return index_to_buffer_size(size_index); }
  /// Its size class.
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

  /// Point this block at new memory of the size class (dropping its old data), empty.
  void alloc(int64_t size_index);
  /// Drop the memory and the chain.
  void clear();
  /// Empty the window: start = end = buf().
  void reset();
  /// A new block (refcount 0) sharing the same data and window, never writable (buf_end = end):
  /// only the MIOBuffer that owns the original may append to that memory.
  IOBufferBlock *clone() const;

  /// The start of the memory (nullptr without data).
  char *buf() const { return data ? data->data() : nullptr; }
  /// The first readable byte.
  char *start() const { return _start; }
  /// One past the last readable byte: where the next byte is written.
  char *end() const { return _end; }
  /// The end of the writable room.
  char *buf_end() const { return _buf_end; }
  /// Readable bytes: end() - start().
  int64_t read_avail() const { return _end - _start; }
  /// The same as read_avail().
  int64_t size() const { return read_avail(); }
  /// Writable room: buf_end() - end().
  int64_t write_avail() const { return _buf_end - _end; }
  /// The size of the memory (0 without data).
  int64_t block_size() const { return data ? data->block_size() : 0; }
  /// Move start() on by n bytes (no check).
  void consume(int64_t n) { _start += n; }
  /// Move end() on by n bytes written there (no check).
  void fill(int64_t n) { _end += n; }

  /// The memory this block is a window on (shared with clones).
  Ptr<IOBufferData> data;
  /// The next block of the chain.
  Ptr<IOBufferBlock> next;

private:
  // The window (ATS's public _start, _end, _buf_end): read through start(), end() and buf_end(),
  // moved through consume() and fill(); MIOBuffer::write(IOBufferBlock*) trims the clones it makes.
  friend class MIOBuffer;
  char *_start   = nullptr;
  char *_end     = nullptr;
  char *_buf_end = nullptr;
};

/// A read position in an MIOBuffer. Obtained from MIOBuffer::alloc_reader(); owned by the MIOBuffer.
class IOBufferReader
{
public:
  /// Walks the bytes a reader can see one contiguous piece (one block's part) at a time; see
  /// blocks(). A forward iterator whose value is a std::string_view.
  class BlockIterator
  {
  public:
    using value_type        = std::string_view;          ///< a piece of the reader's bytes
    using difference_type   = std::ptrdiff_t;            ///< as every iterator has
    using iterator_category = std::forward_iterator_tag; ///< several passes over the same bytes are fine
    /// The end of every walk.
    BlockIterator() = default;
    /// The current piece (never empty).
    std::string_view operator*() const { return {_block->start() + _offset, static_cast<std::size_t>(_len)}; }
    /// On to the next non-empty piece (or the end).
    BlockIterator &operator++();
    /// On to the next piece, returning where it was.
    BlockIterator operator++(int)
    {
      BlockIterator was = *this;
      ++*this;
      return was;
    }
    /// Same position (every end is equal).
    bool operator==(const BlockIterator &o) const { return _block == o._block && _offset == o._offset; }

  private:
    friend class IOBufferReader;
    BlockIterator(IOBufferBlock *b, int64_t offset, int64_t left);
    void settle(); // onto the first non-empty piece from _block/_offset, or the end

    IOBufferBlock *_block = nullptr;
    int64_t _offset       = 0; // into _block's window
    int64_t _left         = 0; // bytes the reader may still see (size_limit)
    int64_t _len          = 0; // of the current piece
  };
  /// What blocks() returns: begin() and end() for a range-for.
  struct BlockRange {
    BlockIterator first; ///< where the walk starts
    /// The first piece.
    BlockIterator begin() const { return first; }
    /// The end.
    BlockIterator end() const { return {}; }
  };

  /// The bytes this reader can see (read_avail() of them), as one std::string_view per block,
  /// first to last, empty blocks skipped; nothing is consumed. Use it to parse or checksum data
  /// in place, then consume() what was used:
  ///
  ///     int64_t used = 0;
  ///     for (std::string_view piece : reader->blocks()) { used += parse(piece); ... }
  ///     reader->consume(used);
  ///
  /// The views stay valid until this reader consumes, is reset or deallocated, or the buffer is
  /// freed; writes to the buffer never move bytes already there (they may add pieces at the end).
  BlockRange blocks() const { return {BlockIterator(block.get(), start_offset, size_limit)}; }

  /// Bytes this reader can see (from its position to the writer's end, capped by size_limit).
  int64_t read_avail();
  /// read_avail() > n, without walking further than needed.
  bool is_read_avail_more_than(int64_t n);
  /// Contiguous bytes at start().
  int64_t block_read_avail();
  /// The first byte this reader can see, in its current block.
  char *start();
  /// One past the last byte of the current block this reader can see.
  char *end();
  /// Advance by n bytes; aborts if n > read_avail(). Moves onto later blocks (dropping this
  /// reader's hold on the ones passed) but never onto an empty tail block, so a drained reader
  /// stays on the writer's block.
  void consume(int64_t n);
  /// Copy up to len bytes out and consume them.
  int64_t read(void *buf, int64_t len);
  /// Copy up to len bytes starting `offset` bytes in, without consuming.
  int64_t memcpy(void *buf, int64_t len, int64_t offset = 0) const;
  /// Offset of the first `c` within len bytes from `offset`, or -1.
  int64_t memchr(char c, int64_t len = INT64_MAX, int64_t offset = 0) const;
  /// Another reader at the same position.
  IOBufferReader *clone();
  /// Give the reader back to its buffer (MIOBuffer::dealloc_reader()).
  void dealloc();
  /// Back to the start of the writer's current block.
  void reset();
  /// Whether the reader belongs to a buffer (between alloc_reader() and dealloc).
  bool is_allocated() const { return mbuf != nullptr; }

  /// The buffer the reader belongs to (nullptr when free).
  MIOBuffer *mbuf = nullptr;
  /// The block the reader is in; it keeps that block and the rest of the chain alive.
  Ptr<IOBufferBlock> block;
  /// Bytes of `block` already consumed by this reader (past block->start()).
  int64_t start_offset = 0;
  /// Most bytes the reader may see (INT64_MAX: no limit).
  int64_t size_limit = INT64_MAX;
  /// The accessor that allocated the reader, if any (cleared with it on dealloc).
  MIOBufferAccessor *accessor = nullptr;

private:
  void skip_empty_blocks();
};

/// The writer side of a buffer: one writer, up to MAX_MIOBUFFER_READERS readers.
class MIOBuffer
{
public:
  /// A buffer with no block yet, whose blocks are of size class size_index. new_MIOBuffer() is
  /// the usual way to make one.
  explicit MIOBuffer(int64_t size_index = BUFFER_SIZE_INDEX_32K);
  ~MIOBuffer();
  MIOBuffer(const MIOBuffer &)            = delete;
  MIOBuffer &operator=(const MIOBuffer &) = delete;

  /// A new reader at offset 0 of the current writer block: it sees all data in that block (even
  /// bytes other readers have consumed) and after it, none in earlier blocks. With no block yet it
  /// starts at the first block appended. Aborts with a message if MAX_MIOBUFFER_READERS are in use.
  IOBufferReader *alloc_reader();
  /// alloc_reader() on behalf of an accessor (MIOBufferAccessor::reader_for(MIOBuffer*)):
  /// dealloc_reader() then also clears the accessor.
  IOBufferReader *alloc_accessor(MIOBufferAccessor *accessor);
  /// A new reader at r's position (same block, offset and size limit, no accessor).
  IOBufferReader *clone_reader(IOBufferReader *r);
  /// Give reader r back (it must belong to this buffer); its slot can be allocated again.
  void dealloc_reader(IOBufferReader *r);
  /// dealloc_reader() for every allocated reader.
  void dealloc_all_readers();

  /// Copy len bytes in (ignores the water mark; adds blocks as needed). Returns len.
  int64_t write(const void *buf, int64_t len);
  /// Append what `r` can see, from `offset` for `len` bytes, by sharing its blocks. Returns the
  /// bytes appended.
  int64_t write(IOBufferReader *r, int64_t len = INT64_MAX, int64_t offset = 0);
  /// Append len bytes of the chain starting at b, from offset, by sharing (clones of) its blocks.
  /// Returns the bytes appended.
  int64_t write(IOBufferBlock *b, int64_t len = INT64_MAX, int64_t offset = 0);

  /// Room to write now. Adds a block only when !high_water() (no reader has more than water_mark
  /// unread bytes) and current_low_water() (free space <= water_mark), and only if the writer has
  /// no spare yet. So with water mark 0 a full buffer that still has unread data reports 0 and does
  /// not grow (backpressure: the net read path sizes its reads with this).
  int64_t write_avail();
  /// Free space in the write block and the blocks after it; never adds a block.
  int64_t current_write_avail();
  /// Free space in first_write_block().
  int64_t block_write_avail();
  /// Where the next byte goes (in first_write_block()); nullptr with no block yet.
  char *end();
  /// The end of the room in first_write_block(); nullptr with no block yet.
  char *buf_end();
  /// Commit n bytes written at end() and on into the following blocks' free space (the net read
  /// path fills first_write_block() -> next -> ... with readv, then calls fill()). Aborts if the
  /// chain has less than n bytes of room (size it with write_avail() / current_write_avail()).
  void fill(int64_t n);
  /// The block the next byte goes into: writer_block(), or the block after it when that is full
  /// (nullptr if the buffer has no block yet).
  IOBufferBlock *first_write_block();

  /// Hand b (which must hold data) to the buffer: link it after the writer block, replacing an
  /// empty spare, and make it the writer block, so later writes go on into b's free space. Takes a
  /// reference. To share a block without letting this buffer write into it, pass a clone() (or
  /// use write(IOBufferBlock*)).
  void append_block(IOBufferBlock *b);
  /// Link a new empty block of that size class after the writer block.
  void append_block(int64_t size_index);
  /// Append an empty block of the buffer's size class (if the writer has no next block).
  void add_block();

  /// The largest read_avail() among the readers (with none: the write block's data).
  int64_t max_read_avail();
  /// max_read_avail() > n.
  bool is_max_read_avail_more_than(int64_t n);
  /// The longest chain of blocks any reader holds.
  int max_block_count();
  /// Unread data above the water mark.
  bool high_water();
  /// write_avail() <= water_mark (may add a block).
  bool low_water();
  /// current_write_avail() <= water_mark (never adds a block).
  bool current_low_water();
  /// Set water_mark.
  void set_water_mark(int64_t w) { water_mark = w; }
  /// The size of the blocks the buffer adds.
  int64_t block_size() const { return index_to_buffer_size(size_index); }

  /// Drop every block when no reader has unread data; readers keep their slots and start at the
  /// next block written. The buffer then holds no memory until a write (or a net read) adds a block.
  /// Returns whether blocks were dropped. (Not in ATS.)
  bool release_blocks_if_drained();
  /// release_blocks_if_drained() if release_when_drained is set, else nothing: what the net paths
  /// call when the socket had nothing more to read or everything buffered was sent.
  bool release_if_at_rest() { return release_when_drained && release_blocks_if_drained(); }
  /// When the buffer is a single block whose data starts at the block's start and fills at most a
  /// quarter of it, move the data into the smallest size class that holds it and drop the big block
  /// (readers stay on the same bytes). Returns whether it moved. (Not in ATS.)
  bool shrink_sparse_block();
  /// Undo what a shrink costs in capacity: when the write block is smaller than the buffer's size
  /// class and nothing follows it, append an empty block of the size class (ignoring the water
  /// mark), so the buffer can again take a whole block's worth. The net read path calls it before
  /// each read into a release_when_drained buffer. Returns whether a block was added.
  bool restore_block_size();
  /// When set, a net read that finds nothing to read (EAGAIN) and a net write that sends the last
  /// buffered byte call release_blocks_if_drained() on this buffer, so a connection at rest holds no
  /// buffer memory; its next read or write allocates a block again. A net read into such a buffer
  /// that had no block also calls shrink_sparse_block(), so a small message does not hold a
  /// buffer-sized block while it waits to be consumed. Off by default (ATS keeps the blocks).
  bool release_when_drained = false;

  /// Unread bytes the buffer is allowed to hold before it stops growing: write_avail() adds a block
  /// only while no reader has more than this unread. A write VIO's WRITE_READY comes when its
  /// buffer is at or below it. 0 (the default): one block's worth, refilled when drained.
  int64_t water_mark = 0;
  /// The size class of the blocks the buffer adds.
  int64_t size_index;

  /// The block being written (ATS's _writer; nullptr before the first block). It may be full with
  /// an empty spare after it, which first_write_block() returns. For tests and diagnostics: write
  /// through write(), or end() and fill().
  IOBufferBlock *writer_block() const { return _writer.get(); }

private:
  /// The block being written; the buffer holds the chain from here on (see the top of this file).
  Ptr<IOBufferBlock> _writer;

  /// Reader slot i (0 <= i < reader_slots()). Slot 0 is in the buffer; the others come with the
  /// second reader, in one allocation that stays until the buffer is freed (so reader pointers
  /// stay valid). Almost every buffer has one reader: an idle connection's buffers then cost
  /// 4 x sizeof(IOBufferReader) less than ATS's fixed array of readers.
  IOBufferReader &reader_slot(int i) { return i == 0 ? _first_reader : (*_more_readers)[static_cast<std::size_t>(i - 1)]; }
  int reader_slots() const { return _more_readers ? MAX_MIOBUFFER_READERS : 1; }

  void append_block_internal(Ptr<IOBufferBlock> b);
  void init_readers();

  IOBufferReader _first_reader;
  std::unique_ptr<std::array<IOBufferReader, MAX_MIOBUFFER_READERS - 1>> _more_readers;
};

inline IOBufferBlock *
MIOBuffer::first_write_block()
{
  if (_writer && _writer->next && _writer->write_avail() == 0) {
    return _writer->next.get();
  }
  return _writer.get();
}

inline int64_t
MIOBuffer::block_write_avail()
{
  IOBufferBlock *b = first_write_block();
  return b ? b->write_avail() : 0;
}

inline char *
MIOBuffer::end()
{
  IOBufferBlock *b = first_write_block();
  return b ? b->end() : nullptr;
}

inline char *
MIOBuffer::buf_end()
{
  IOBufferBlock *b = first_write_block();
  return b ? b->buf_end() : nullptr;
}

/// A new buffer with one empty block.
MIOBuffer *new_MIOBuffer(int64_t size_index = BUFFER_SIZE_INDEX_32K);
/// A new buffer with no block until the first write.
MIOBuffer *new_empty_MIOBuffer(int64_t size_index = BUFFER_SIZE_INDEX_32K);
/// Free a buffer made by new_MIOBuffer() / new_empty_MIOBuffer(): its readers go with it; blocks
/// shared with other buffers live on there. Not while a VIO still uses it (close or stop the VIO
/// first: after do_io_close() returns, the connection no longer refers to it).
void free_MIOBuffer(MIOBuffer *b);

/// How a VIO refers to its buffer: a read VIO to the MIOBuffer it fills, a write VIO to the reader it
/// drains.
struct MIOBufferAccessor {
  /// The buffer (a read VIO's).
  MIOBuffer *writer() const { return mbuf; }
  /// The reader (a write VIO's).
  IOBufferReader *reader() const { return entry; }
  /// Refer to m as a writer (no reader).
  void writer_for(MIOBuffer *m)
  {
    mbuf  = m;
    entry = nullptr;
  }
  /// Refer to r and its buffer.
  void reader_for(IOBufferReader *r)
  {
    mbuf  = r ? r->mbuf : nullptr;
    entry = r;
  }
  /// An accessor-owned reader of m.
  void reader_for(MIOBuffer *m);
  /// Refer to nothing.
  void clear()
  {
    mbuf  = nullptr;
    entry = nullptr;
  }

  /// The buffer.
  MIOBuffer *mbuf = nullptr;
  /// The reader (nullptr for a writer).
  IOBufferReader *entry = nullptr;
};
} // namespace iocore
