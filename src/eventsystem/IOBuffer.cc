// IO buffers: block chains, readers and the MIOBuffer writer, with ATS's water-mark rules (see
// MIOBuffer::write_avail() in IOBuffer.h). Buffer memory comes from one place, allocate_buffer_memory(), so the allocation
// strategy can change without touching the rest.
#include "iocore/eventsystem/IOBuffer.h"

#include "eventsystem/MemoryReclaimer.h"
#include "eventsystem/ThreadFreeList.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace iocore {
namespace {
  [[noreturn]] void fatal(const char *what)
  {
    std::fprintf(stderr, "iocore: %s\n", what);
    std::abort();
  }

  // The one place buffer memory comes from (ATS: ioBufAllocator[index]), and free_buffer_memory() the
  // one place it goes back: operator new per block (page aligned from 4 KiB up, for the kernel's
  // copies), behind a small per-thread free list per size class. Connections that drop their
  // blocks at rest (MIOBuffer::release_when_drained) allocate and free a block per message; the
  // list makes that a pop and a push instead of an allocation and its page faults. The list links
  // through the free blocks themselves, so a free never allocates (it runs in ~IOBufferData).
  // Sanitizer builds skip the list so that AddressSanitizer still sees every use after free. The
  // list is a ThreadFreeList: blocks it keeps but the thread does not use go back (MemoryReclaimer).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(__SANITIZE_HWADDRESS__)
#define IOCORE_BUFFER_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer) ||                      \
    __has_feature(hwaddress_sanitizer)
#define IOCORE_BUFFER_CACHE 0 // clang defines no __SANITIZE_* macros
#endif
#endif
#ifndef IOCORE_BUFFER_CACHE
#define IOCORE_BUFFER_CACHE 1
#endif
  constexpr bool kCacheBufferMemory = IOCORE_BUFFER_CACHE != 0;
  /// Per thread and size class, the list holds at most this many bytes: blocks of 1 MiB and more
  /// are never kept.
  constexpr int64_t kBufferCacheBytesPerClass = int64_t{512} * 1024;

  // Blocks of a page or more are page aligned; smaller ones keep operator new's own alignment, so
  // they come from the allocator's fast per-thread bins rather than its memalign path.
  std::align_val_t buffer_alignment(int64_t size_index)
  {
    int64_t size = index_to_buffer_size(size_index);
    return std::align_val_t{size >= 4096 ? std::size_t{4096} : std::size_t{__STDCPP_DEFAULT_NEW_ALIGNMENT__}};
  }

  struct FreeBlocks {
    char *head        = nullptr; ///< each free block's first bytes hold the next one's address
    std::size_t count = 0;
    /// The fewest blocks the list held since the last release_unused(): those were not needed.
    std::size_t low = 0;
  };

  char *next_free(char *p)
  {
    char *n;
    std::memcpy(&n, p, sizeof(n));
    return n;
  }

  /// Frees up to n blocks of list (of size class i); returns the bytes.
  std::size_t release_blocks(FreeBlocks &list, std::size_t i, std::size_t n)
  {
    auto idx          = static_cast<int64_t>(i);
    std::size_t freed = 0;
    for (; freed < n && list.head != nullptr; ++freed) {
      char *next = next_free(list.head);
      ::operator delete(list.head, buffer_alignment(idx));
      list.head = next;
      --list.count;
    }
    std::size_t bytes = freed * static_cast<std::size_t>(index_to_buffer_size(idx));
    MemoryReclaimer::note_released(bytes);
    return bytes;
  }

  class BufferCache final : public ThreadFreeList
  {
  public:
    BufferCache() = default;
    ~BufferCache() override;

    std::size_t release_unused() override
    {
      std::size_t bytes = 0;
      for (std::size_t i = 0; i < free.size(); ++i) {
        bytes += release_blocks(free[i], i, free[i].low);
        free[i].low = free[i].count;
      }
      return bytes;
    }
    std::size_t release_all() override
    {
      std::size_t bytes = 0;
      for (std::size_t i = 0; i < free.size(); ++i) {
        bytes += release_blocks(free[i], i, free[i].count);
        free[i].low = 0;
      }
      return bytes;
    }
    std::size_t held_bytes() const override
    {
      std::size_t bytes = 0;
      for (std::size_t i = 0; i < free.size(); ++i) {
        bytes += free[i].count * static_cast<std::size_t>(index_to_buffer_size(static_cast<int64_t>(i)));
      }
      return bytes;
    }

    std::array<FreeBlocks, MAX_BUFFER_SIZE_INDEX + 1> free{};
  };
  // Set once this thread's cache is destroyed (thread exit): later frees go straight back.
  thread_local bool t_buffer_cache_gone = false;
  thread_local BufferCache t_buffer_cache;

  BufferCache::~BufferCache()
  {
    release_all();
    t_buffer_cache_gone = true;
  }

  std::size_t buffer_cache_limit(int64_t size_index)
  {
    return static_cast<std::size_t>(kBufferCacheBytesPerClass / index_to_buffer_size(size_index));
  }

  char *allocate_buffer_memory(int64_t size_index)
  {
    if (size_index < 0 || size_index > MAX_BUFFER_SIZE_INDEX) {
      fatal("IOBufferData: buffer size index out of range");
    }
    if (kCacheBufferMemory && !t_buffer_cache_gone) {
      FreeBlocks &list = t_buffer_cache.free[static_cast<std::size_t>(size_index)];
      if (list.head != nullptr) {
        char *p   = list.head;
        list.head = next_free(p);
        if (--list.count < list.low) {
          list.low = list.count;
        }
        return p;
      }
    }
    auto size = static_cast<std::size_t>(index_to_buffer_size(size_index));
    MemoryReclaimer::note_obtained(size);
    return static_cast<char *>(::operator new(size, buffer_alignment(size_index)));
  }

  void free_buffer_memory(char *p, int64_t size_index)
  {
    if (kCacheBufferMemory && !t_buffer_cache_gone) {
      FreeBlocks &list = t_buffer_cache.free[static_cast<std::size_t>(size_index)];
      if (list.count < buffer_cache_limit(size_index)) {
        std::memcpy(p, &list.head, sizeof(list.head));
        list.head = p;
        ++list.count;
        return;
      }
    }
    MemoryReclaimer::note_released(static_cast<std::size_t>(index_to_buffer_size(size_index)));
    ::operator delete(p, buffer_alignment(size_index));
  }
} // namespace

int64_t
buffer_size_to_index(int64_t size, int64_t max)
{
  int64_t i = 0;
  while (i < max && index_to_buffer_size(i) < size) {
    ++i;
  }
  return i;
}

// --- IOBufferData / IOBufferBlock --------------------------------------------------------------------

IOBufferData::IOBufferData(int64_t size_index) : size_index(size_index), _data(allocate_buffer_memory(size_index)) {}

IOBufferData::~IOBufferData()
{
  free_buffer_memory(_data, size_index);
}

void
IOBufferBlock::free()
{
  // Release the rest of the chain without recursion: each block holds the next one.
  IOBufferBlock *b = this;
  while (b != nullptr) {
    IOBufferBlock *n = b->next.detach();
    delete b;
    b = (n != nullptr && n->refcount_dec() == 0) ? n : nullptr;
  }
}

void
IOBufferBlock::alloc(int64_t size_index)
{
  data = Ptr<IOBufferData>(new IOBufferData(size_index));
  reset();
}

void
IOBufferBlock::clear()
{
  data.clear();
  next.clear();
  _start = _end = _buf_end = nullptr;
}

void
IOBufferBlock::reset()
{
  _start = _end = buf();
  _buf_end      = buf() + block_size();
}

IOBufferBlock *
IOBufferBlock::clone() const
{
  auto *b     = new IOBufferBlock;
  b->data     = data;
  b->_start   = _start;
  b->_end     = _end;
  b->_buf_end = _end;
  return b;
}

// --- IOBufferReader ---------------------------------------------------------------------------------------

void
IOBufferReader::skip_empty_blocks()
{
  while (block && block->next && block->next->read_avail() > 0 && start_offset >= block->read_avail()) {
    start_offset -= block->read_avail();
    block = block->next;
  }
}

IOBufferReader::BlockIterator::BlockIterator(IOBufferBlock *b, int64_t offset, int64_t left)
    : _block(b), _offset(offset), _left(left)
{
  settle();
}

void
IOBufferReader::BlockIterator::settle()
{
  // As memcpy(): an offset past a block's bytes carries into the next blocks.
  while (_block != nullptr && _left > 0) {
    int64_t avail = _block->read_avail();
    if (_offset < avail) {
      _len = std::min(avail - _offset, _left);
      return;
    }
    _offset -= avail;
    _block = _block->next.get();
  }
  *this = BlockIterator();
}

IOBufferReader::BlockIterator &
IOBufferReader::BlockIterator::operator++()
{
  _left -= _len;
  _offset = 0;
  _block  = _block->next.get();
  settle();
  return *this;
}

int64_t
IOBufferReader::read_avail()
{
  int64_t t = -start_offset;
  for (IOBufferBlock *b = block.get(); b; b = b->next.get()) {
    t += b->read_avail();
  }
  t = std::max<int64_t>(t, 0);
  return std::min(t, size_limit);
}

bool
IOBufferReader::is_read_avail_more_than(int64_t n)
{
  int64_t t = -start_offset;
  for (IOBufferBlock *b = block.get(); b; b = b->next.get()) {
    t += b->read_avail();
    if (t > n) {
      return size_limit > n;
    }
  }
  return false;
}

int64_t
IOBufferReader::block_read_avail()
{
  if (!block) {
    return 0;
  }
  skip_empty_blocks();
  return std::min(std::max<int64_t>(block->read_avail() - start_offset, 0), size_limit);
}

char *
IOBufferReader::start()
{
  if (!block) {
    return nullptr;
  }
  skip_empty_blocks();
  return block->start() + start_offset;
}

char *
IOBufferReader::end()
{
  if (!block) {
    return nullptr;
  }
  skip_empty_blocks();
  return block->end();
}

void
IOBufferReader::consume(int64_t n)
{
  if (n < 0 || (n > 0 && !is_read_avail_more_than(n - 1))) {
    fatal("IOBufferReader::consume past the available data");
  }
  start_offset += n;
  if (size_limit != INT64_MAX) {
    size_limit -= n;
  }
  if (!block) {
    return;
  }
  // Walk onto later blocks, but never onto an empty tail: the reader stays pinned to the writer.
  while (block->read_avail() <= start_offset && block->next && block->next->read_avail() > 0) {
    start_offset -= block->read_avail();
    block = block->next;
  }
}

int64_t
IOBufferReader::memcpy(void *buf, int64_t len, int64_t offset) const
{
  char *p        = static_cast<char *>(buf);
  int64_t copied = 0;
  len            = std::min(len, size_limit - offset);
  offset += start_offset;
  for (IOBufferBlock *b = block.get(); b && copied < len; b = b->next.get()) {
    int64_t avail = b->read_avail();
    if (offset >= avail) {
      offset -= avail;
      continue;
    }
    int64_t n = std::min(avail - offset, len - copied);
    std::memcpy(p + copied, b->start() + offset, static_cast<std::size_t>(n));
    copied += n;
    offset = 0;
  }
  return std::max<int64_t>(copied, 0);
}

int64_t
IOBufferReader::read(void *buf, int64_t len)
{
  int64_t n = memcpy(buf, len, 0);
  consume(n);
  return n;
}

int64_t
IOBufferReader::memchr(char c, int64_t len, int64_t offset) const
{
  int64_t pos  = 0;
  int64_t skip = start_offset + offset;
  len          = std::min(len, size_limit - offset);
  for (IOBufferBlock *b = block.get(); b && pos < len; b = b->next.get()) {
    int64_t avail = b->read_avail();
    if (skip >= avail) {
      skip -= avail;
      continue;
    }
    int64_t n     = std::min(avail - skip, len - pos);
    const void *f = std::memchr(b->start() + skip, c, static_cast<std::size_t>(n));
    if (f) {
      return offset + pos + (static_cast<const char *>(f) - (b->start() + skip));
    }
    pos += n;
    skip = 0;
  }
  return -1;
}

IOBufferReader *
IOBufferReader::clone()
{
  return mbuf->clone_reader(this);
}

void
IOBufferReader::dealloc()
{
  mbuf->dealloc_reader(this);
}

void
IOBufferReader::reset()
{
  block        = mbuf->writer_block();
  start_offset = 0;
  size_limit   = INT64_MAX;
}

// --- MIOBuffer ----------------------------------------------------------------------------------------------

MIOBuffer::MIOBuffer(int64_t size_index) : size_index(size_index) {}

MIOBuffer::~MIOBuffer()
{
  _writer.clear();
  dealloc_all_readers();
}

IOBufferReader *
MIOBuffer::alloc_accessor(MIOBufferAccessor *acc)
{
  if (reader_slots() == 1 && _first_reader.mbuf != nullptr) {
    _more_readers = std::make_unique<std::array<IOBufferReader, MAX_MIOBUFFER_READERS - 1>>();
  }
  for (int i = 0; i < reader_slots(); ++i) {
    IOBufferReader &r = reader_slot(i);
    if (r.mbuf == nullptr) {
      r.mbuf     = this;
      r.accessor = acc;
      r.reset();
      return &r;
    }
  }
  fatal("MIOBuffer: more than MAX_MIOBUFFER_READERS (5) readers allocated");
}

IOBufferReader *
MIOBuffer::alloc_reader()
{
  return alloc_accessor(nullptr);
}

IOBufferReader *
MIOBuffer::clone_reader(IOBufferReader *other)
{
  if (other->mbuf != this) {
    fatal("MIOBuffer::clone_reader of a reader of another buffer");
  }
  IOBufferReader *r = alloc_reader();
  r->block          = other->block;
  r->start_offset   = other->start_offset;
  r->size_limit     = other->size_limit;
  return r;
}

void
MIOBuffer::dealloc_reader(IOBufferReader *r)
{
  if (r->mbuf != this) {
    fatal("MIOBuffer::dealloc_reader of a reader not allocated from this buffer");
  }
  if (r->accessor) {
    if (r->accessor->entry == r) {
      r->accessor->clear();
    }
    r->accessor = nullptr;
  }
  r->block.clear();
  r->mbuf         = nullptr;
  r->start_offset = 0;
  r->size_limit   = INT64_MAX;
}

void
MIOBuffer::dealloc_all_readers()
{
  for (int i = 0; i < reader_slots(); ++i) {
    IOBufferReader &r = reader_slot(i);
    if (r.mbuf == this) {
      dealloc_reader(&r);
    }
  }
}

bool
MIOBuffer::release_blocks_if_drained()
{
  if (!_writer) {
    return false;
  }
  bool any_reader = false;
  for (int i = 0; i < reader_slots(); ++i) {
    IOBufferReader &r = reader_slot(i);
    if (r.mbuf != this) {
      continue;
    }
    any_reader = true;
    // Unread bytes regardless of size_limit: a limited reader may still be handed more later.
    int64_t unread = -r.start_offset;
    for (IOBufferBlock *b = r.block.get(); b && unread <= 0; b = b->next.get()) {
      unread += b->read_avail();
    }
    if (unread > 0) {
      return false;
    }
  }
  if (!any_reader && max_read_avail() > 0) {
    return false; // nobody has read the data yet: a reader allocated later must still see it
  }
  for (int i = 0; i < reader_slots(); ++i) {
    IOBufferReader &r = reader_slot(i);
    if (r.mbuf == this) {
      r.block.clear();
      r.start_offset = 0;
    }
  }
  _writer.clear();
  return true;
}

bool
MIOBuffer::restore_block_size()
{
  if (!_writer || _writer->next || _writer->block_size() >= block_size()) {
    return false;
  }
  append_block(size_index);
  return true;
}

bool
MIOBuffer::shrink_sparse_block()
{
  IOBufferBlock *b = _writer.get();
  if (b == nullptr || b->next || !b->data || b->start() != b->buf() || b->data->refcount() != 1) {
    return false;
  }
  int64_t n   = b->read_avail();
  int64_t idx = buffer_size_to_index(std::max<int64_t>(n, 1));
  if (n <= 0 || n * 4 > b->block_size() || idx >= b->data->size_index) {
    return false;
  }
  for (int i = 0; i < reader_slots(); ++i) {
    IOBufferReader &r = reader_slot(i);
    if (r.mbuf == this && r.block && r.block.get() != b) {
      return false; // a reader still on an earlier (drained) block: leave the chain alone
    }
  }
  Ptr<IOBufferBlock> small(new IOBufferBlock);
  small->alloc(idx);
  std::memcpy(small->end(), b->start(), static_cast<std::size_t>(n));
  small->fill(n);
  for (int i = 0; i < reader_slots(); ++i) {
    IOBufferReader &r = reader_slot(i);
    if (r.mbuf == this && r.block.get() == b) {
      r.block = small; // same offset: the bytes are at the same distance from the block's start
    }
  }
  _writer = std::move(small);
  return true;
}

void
MIOBuffer::init_readers()
{
  for (int i = 0; i < reader_slots(); ++i) {
    IOBufferReader &r = reader_slot(i);
    if (r.mbuf == this && !r.block) {
      r.block = _writer;
    }
  }
}

void
MIOBuffer::append_block_internal(Ptr<IOBufferBlock> b)
{
  if (!_writer) {
    _writer = std::move(b);
    init_readers();
  } else {
    if (_writer->next && _writer->next->read_avail() > 0) {
      fatal("MIOBuffer::append_block would drop data after the writer block");
    }
    _writer->next = std::move(b); // replaces an empty spare block, if any
  }
  // Move the writer over blocks that already hold data (appended clones), but not onto an empty
  // block: a new reader starts at _writer and must still see the data of the last full block.
  while (_writer->next && _writer->next->read_avail() > 0) {
    _writer = _writer->next;
  }
}

void
MIOBuffer::append_block(IOBufferBlock *b)
{
  if (b->read_avail() <= 0) {
    fatal("MIOBuffer::append_block(IOBufferBlock*) of a block without data");
  }
  append_block_internal(Ptr<IOBufferBlock>(b));
}

void
MIOBuffer::append_block(int64_t size_index)
{
  Ptr<IOBufferBlock> b(new IOBufferBlock);
  b->alloc(size_index);
  append_block_internal(std::move(b));
}

void
MIOBuffer::add_block()
{
  if (!_writer || !_writer->next) {
    append_block(size_index);
  }
}

int64_t
MIOBuffer::write(const void *buf, int64_t len)
{
  const char *p = static_cast<const char *>(buf);
  int64_t left  = len;
  while (left > 0) {
    if (!_writer) {
      add_block();
    }
    if (_writer->write_avail() == 0) {
      if (_writer->next) {
        _writer = _writer->next;
      } else {
        add_block(); // appends and moves the writer onto the new block
      }
      continue;
    }
    int64_t n = std::min(_writer->write_avail(), left);
    std::memcpy(_writer->end(), p, static_cast<std::size_t>(n));
    _writer->fill(n);
    p += n;
    left -= n;
  }
  return len;
}

int64_t
MIOBuffer::write(IOBufferBlock *b, int64_t len, int64_t offset)
{
  offset           = std::max<int64_t>(offset, 0);
  int64_t appended = 0;
  while (b && len > 0) {
    int64_t max_bytes = b->read_avail() - offset;
    if (max_bytes <= 0) {
      offset = -max_bytes;
      b      = b->next.get();
      continue;
    }
    int64_t bytes = std::min(len, max_bytes);
    Ptr<IOBufferBlock> bb(b->clone());
    bb->_start += offset;
    bb->_end     = bb->_start + bytes;
    bb->_buf_end = bb->_end;
    append_block_internal(std::move(bb));
    appended += bytes;
    len -= bytes;
    offset = 0;
    b      = b->next.get();
  }
  return appended;
}

int64_t
MIOBuffer::write(IOBufferReader *r, int64_t len, int64_t offset)
{
  offset = std::max<int64_t>(offset, 0);
  len    = std::min(len, r->read_avail() - offset);
  if (len <= 0) {
    return 0;
  }
  return write(r->block.get(), len, r->start_offset + offset);
}

int64_t
MIOBuffer::current_write_avail()
{
  int64_t t = 0;
  for (IOBufferBlock *b = _writer.get(); b; b = b->next.get()) {
    t += b->write_avail();
  }
  return t;
}

int64_t
MIOBuffer::write_avail()
{
  if (!high_water() && current_low_water()) {
    add_block();
  }
  return current_write_avail();
}

void
MIOBuffer::fill(int64_t n)
{
  if (n < 0) {
    fatal("MIOBuffer::fill of a negative count");
  }
  while (n > 0) {
    if (!_writer) {
      fatal("MIOBuffer::fill on a buffer without blocks");
    }
    int64_t f = _writer->write_avail();
    if (f >= n) {
      _writer->fill(n);
      return;
    }
    _writer->fill(f);
    n -= f;
    if (!_writer->next) {
      fatal("MIOBuffer::fill past the end of the buffer's blocks");
    }
    _writer = _writer->next;
  }
}

int64_t
MIOBuffer::max_read_avail()
{
  int64_t m          = 0;
  bool readers_found = false;
  for (int i = 0; i < reader_slots(); ++i) {
    IOBufferReader &r = reader_slot(i);
    if (r.mbuf == this) {
      readers_found = true;
      m             = std::max(m, r.read_avail());
    }
  }
  if (!readers_found && _writer) {
    return _writer->read_avail();
  }
  return m;
}

bool
MIOBuffer::is_max_read_avail_more_than(int64_t n)
{
  bool readers_found = false;
  for (int i = 0; i < reader_slots(); ++i) {
    IOBufferReader &r = reader_slot(i);
    if (r.mbuf == this) {
      readers_found = true;
      if (r.is_read_avail_more_than(n)) {
        return true;
      }
    }
  }
  return !readers_found && _writer && _writer->read_avail() > n;
}

int
MIOBuffer::max_block_count()
{
  int m = 0;
  for (int i = 0; i < reader_slots(); ++i) {
    IOBufferReader &r = reader_slot(i);
    if (r.mbuf == this) {
      int c = 0;
      for (IOBufferBlock *b = r.block.get(); b; b = b->next.get()) {
        ++c;
      }
      m = std::max(m, c);
    }
  }
  return m;
}

bool
MIOBuffer::high_water()
{
  return is_max_read_avail_more_than(water_mark);
}

bool
MIOBuffer::low_water()
{
  return write_avail() <= water_mark;
}

bool
MIOBuffer::current_low_water()
{
  return current_write_avail() <= water_mark;
}

MIOBuffer *
new_MIOBuffer(int64_t size_index)
{
  auto *m = new MIOBuffer(size_index);
  m->add_block();
  return m;
}

MIOBuffer *
new_empty_MIOBuffer(int64_t size_index)
{
  return new MIOBuffer(size_index);
}

void
free_MIOBuffer(MIOBuffer *b)
{
  delete b;
}

void
MIOBufferAccessor::reader_for(MIOBuffer *m)
{
  mbuf  = m;
  entry = m ? m->alloc_accessor(this) : nullptr;
}
} // namespace iocore
