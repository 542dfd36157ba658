// A random program of IO buffer operations checked against a plain std::string model, shared by the
// randomized model test (IOBufferModel_test.cc) and the libFuzzer target (fuzz/iobuffer_fuzz.cc):
// three MIOBuffers with several readers each; write / write-from-reader / clone / new reader /
// dealloc / consume / read / memcpy-at-offset / memchr / fill through end() (the net read path) /
// drain through reader->block (the net write path) / water marks.
#pragma once

#include "iocore/eventsystem/IOBuffer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace iocore::test {
/// Runs `steps` operations decoded from `next()` (a source of bytes 0..255); returns false at the
/// first difference from the model, with `why` saying what differed.
// Longer than the function-size check allows (NOLINT below): one switch over the twelve operations,
// each a few lines against the same local model; split up, each would need the whole model handed to it.
template <class NextByte>
bool
run_iobuffer_program(NextByte &&next, int steps, std::string &why) // NOLINT(readability-function-size)
{
  struct Tracked {
    IOBufferReader *reader;
    std::string model; // exactly the bytes this reader should see
  };
  struct Buffer {
    MIOBuffer *mbuf;
    std::string stream; // every byte ever appended, in order
    std::vector<Tracked> readers;
  };
  std::array<Buffer, 3> bufs;
  // Block sizes 128, 512 and 2K so that chains grow quickly; the last starts without a block.
  bufs[0].mbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_128);
  bufs[1].mbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_512);
  bufs[2].mbuf = new_empty_MIOBuffer(BUFFER_SIZE_INDEX_2K);
  for (Buffer &b : bufs) {
    b.readers.push_back({b.mbuf->alloc_reader(), {}});
  }

  bool ok   = true;
  auto fail = [&](const char *what) {
    if (ok) {
      why = what;
      ok  = false;
    }
  };
  auto sz          = [](int64_t n) { return static_cast<std::size_t>(n); };
  auto fresh_bytes = [&](int64_t n) {
    std::string d(sz(n), '\0');
    for (char &c : d) {
      c = static_cast<char>(next());
    }
    return d;
  };
  auto appended = [](Buffer &b, const std::string &d) {
    b.stream += d;
    for (Tracked &t : b.readers) {
      t.model += d;
    }
  };
  auto max_unread = [](const Buffer &b) {
    std::size_t m = 0;
    for (const Tracked &t : b.readers) {
      m = std::max(m, t.model.size());
    }
    return static_cast<int64_t>(m);
  };

  for (int step = 0; step < steps && ok; ++step) {
    const int bi = next() % 3;
    Buffer &b    = bufs[bi];
    Tracked &t   = b.readers[next() % b.readers.size()];
    const int op = next() % 12;
    int64_t n    = (next() << 2) | (next() & 3); // 0..1023
    switch (op) {
    case 0: { // copy in
      std::string d = fresh_bytes(n % 700);
      if (b.mbuf->write(d.data(), static_cast<int64_t>(d.size())) != static_cast<int64_t>(d.size())) {
        fail("write(buf, len) did not return len");
      }
      appended(b, d);
      break;
    }
    case 1: { // share from another buffer's reader, at an offset
      Buffer &src    = bufs[(bi + 1 + next() % 2) % 3];
      Tracked &from  = src.readers[next() % src.readers.size()];
      int64_t avail  = static_cast<int64_t>(from.model.size());
      int64_t off    = n % (avail + 2); // sometimes past the end
      int64_t len    = next() * 5;
      int64_t w      = b.mbuf->write(from.reader, len, off);
      int64_t expect = std::max<int64_t>(0, std::min(len, avail - off));
      if (w != expect) {
        fail("write(reader, len, offset) appended a wrong count");
        break;
      }
      appended(b, w > 0 ? from.model.substr(sz(off), sz(w)) : std::string());
      if (from.reader->read_avail() != avail) {
        fail("write(reader) consumed the source reader");
      }
      break;
    }
    case 2: // clone a reader
      if (b.readers.size() < MAX_MIOBUFFER_READERS) {
        b.readers.push_back({t.reader->clone(), t.model});
      }
      break;
    case 3: { // consume
      int64_t c = std::min<int64_t>(n % 500, static_cast<int64_t>(t.model.size()));
      t.reader->consume(c);
      t.model.erase(0, sz(c));
      break;
    }
    case 4: { // read out
      std::string out(sz(n % 500), '\0');
      int64_t r = t.reader->read(out.data(), static_cast<int64_t>(out.size()));
      if (r != std::min<int64_t>(static_cast<int64_t>(out.size()), static_cast<int64_t>(t.model.size())) ||
          out.compare(0, sz(r), t.model, 0, sz(r)) != 0) {
        fail("read() returned wrong bytes");
      }
      t.model.erase(0, sz(std::max<int64_t>(r, 0)));
      break;
    }
    case 5: { // memcpy at an offset, no consume
      int64_t avail = static_cast<int64_t>(t.model.size());
      int64_t off   = n % (avail + 2);
      std::string out(300, '\0');
      int64_t r = t.reader->memcpy(out.data(), 300, off);
      if (r != std::max<int64_t>(0, std::min<int64_t>(300, avail - off)) ||
          (r > 0 && out.compare(0, sz(r), t.model, sz(off), sz(r)) != 0)) {
        fail("memcpy(offset) returned wrong bytes");
      }
      break;
    }
    case 6: { // the net read path: size with write_avail(), fill the blocks through end(), fill()
      IOBufferBlock *w = b.mbuf->writer_block();
      bool had_spare   = w != nullptr && w->next;
      int64_t cur      = b.mbuf->current_write_avail();
      int64_t room     = b.mbuf->write_avail();
      int64_t expect   = cur;
      if (max_unread(b) <= b.mbuf->water_mark && cur <= b.mbuf->water_mark && !had_spare) {
        expect += b.mbuf->block_size(); // the one block write_avail() may add
      }
      if (room != expect) {
        fail("write_avail() broke the water-mark rule");
        break;
      }
      int64_t want  = std::min<int64_t>(room, n % 900);
      std::string d = fresh_bytes(want);
      int64_t left  = want;
      std::size_t o = 0;
      for (IOBufferBlock *blk = b.mbuf->first_write_block(); blk && left > 0; blk = blk->next.get()) {
        int64_t a = std::min(blk->write_avail(), left);
        std::memcpy(blk->end(), d.data() + o, sz(a));
        o += sz(a);
        left -= a;
      }
      if (left != 0) {
        fail("write_avail() promised more room than the blocks have");
        break;
      }
      b.mbuf->fill(want);
      appended(b, d);
      break;
    }
    case 7: // water mark
      b.mbuf->set_water_mark(n % 4 == 0 ? 0 : n * 3);
      break;
    case 8: // a new reader starts at the start of the writer block
      if (b.readers.size() < MAX_MIOBUFFER_READERS) {
        int64_t from_writer = 0;
        for (IOBufferBlock *blk = b.mbuf->writer_block(); blk; blk = blk->next.get()) {
          from_writer += blk->read_avail();
        }
        if (from_writer > static_cast<int64_t>(b.stream.size())) {
          fail("the writer's chain holds more than was written");
          break;
        }
        b.readers.push_back({b.mbuf->alloc_reader(), b.stream.substr(b.stream.size() - sz(from_writer))});
      }
      break;
    case 9: // dealloc a reader (keep one)
      if (b.readers.size() > 1) {
        std::size_t k = sz(n) % b.readers.size();
        b.readers[k].reader->dealloc();
        b.readers.erase(b.readers.begin() + static_cast<std::ptrdiff_t>(k));
      }
      break;
    case 10: { // memchr within [offset, offset + len)
      const char c   = static_cast<char>(next());
      int64_t avail  = static_cast<int64_t>(t.model.size());
      int64_t off    = n % (avail + 1);
      int64_t len    = next() % 2 ? INT64_MAX : next() * 4;
      std::size_t at = t.model.find(c, sz(off));
      int64_t expect = (at == std::string::npos || static_cast<int64_t>(at) - off >= len) ? -1 : static_cast<int64_t>(at);
      if (t.reader->memchr(c, len, off) != expect) {
        fail("memchr() differs from the model");
      }
      break;
    }
    default: { // the net write path: gather from reader->block at start_offset, then consume()
      int64_t want   = std::min<int64_t>(n * 2, static_cast<int64_t>(t.model.size()));
      int64_t got    = 0;
      int64_t offset = t.reader->start_offset;
      for (IOBufferBlock *blk = t.reader->block.get(); blk && got < want; blk = blk->next.get()) {
        int64_t len = blk->read_avail() - offset;
        if (len <= 0) {
          offset = -len;
          continue;
        }
        len = std::min(len, want - got);
        if (t.model.compare(sz(got), sz(len), blk->start() + offset, sz(len)) != 0) {
          fail("the reader's blocks hold wrong bytes");
          break;
        }
        got += len;
        offset = 0;
      }
      if (ok && got != want) {
        fail("the reader's blocks hold fewer bytes than read_avail()");
      }
      if (ok) {
        t.reader->consume(want);
        t.model.erase(0, sz(want));
      }
      break;
    }
    }

    for (Buffer &bb : bufs) {
      for (Tracked &tr : bb.readers) {
        if (!ok) {
          break;
        }
        const int64_t size = static_cast<int64_t>(tr.model.size());
        if (tr.reader->read_avail() != size) {
          fail("read_avail() differs from the model");
        } else if (tr.reader->is_read_avail_more_than(size) || (size > 0 && !tr.reader->is_read_avail_more_than(size - 1))) {
          fail("is_read_avail_more_than() is not read_avail() > n");
        } else {
          int64_t contiguous = tr.reader->block_read_avail();
          if ((size > 0) != (contiguous > 0) || contiguous > size ||
              (contiguous > 0 && std::memcmp(tr.reader->start(), tr.model.data(), sz(contiguous)) != 0)) {
            fail("start()/block_read_avail() do not show the next bytes");
          }
        }
      }
    }
  }
  for (Buffer &bb : bufs) {
    free_MIOBuffer(bb.mbuf);
  }
  return ok;
}
} // namespace iocore::test
