// A random program of IO buffer operations checked against a plain std::string model, shared by the
// randomized model test and the libFuzzer target: three MIOBuffers, readers on each, and
// write / write-from-reader / clone / consume / read / memcpy-at-offset / fill-through-end().
#pragma once

#include "iocore/eventsystem/IOBuffer.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace iocore::test {
/// Runs operations decoded from `next()` (a byte source); returns false at the first mismatch with
/// the model (and `why` says which).
template <class NextByte>
bool
run_iobuffer_program(NextByte &&next, int steps, std::string &why)
{
  struct Tracked {
    IOBufferReader *reader;
    std::string model; // what this reader should see
  };
  struct Buffer {
    MIOBuffer *mbuf;
    std::vector<Tracked> readers;
  };
  std::array<Buffer, 3> bufs;
  for (int i = 0; i < 3; ++i) {
    bufs[i].mbuf = new_MIOBuffer(BUFFER_SIZE_INDEX_128 + i * 2);
    bufs[i].readers.push_back({bufs[i].mbuf->alloc_reader(), {}});
  }
  auto fresh_bytes = [&](int64_t n) {
    std::string d(static_cast<std::size_t>(n), '\0');
    for (auto &c : d) {
      c = static_cast<char>(next());
    }
    return d;
  };
  auto append_to_all = [](Buffer &b, const std::string &d) {
    for (auto &t : b.readers) {
      t.model += d;
    }
  };
  bool ok = true;
  for (int step = 0; step < steps && ok; ++step) {
    Buffer &b  = bufs[next() % 3];
    Tracked &t = b.readers[next() % b.readers.size()];
    int op     = next() % 8;
    int64_t n  = (next() << 2) | (next() & 3);
    switch (op) {
    case 0: { // copy in
      std::string d = fresh_bytes(n % 700);
      b.mbuf->write(d.data(), static_cast<int64_t>(d.size()));
      append_to_all(b, d);
      break;
    }
    case 1: { // share from another buffer's reader
      Buffer &src        = bufs[(&b - bufs.data() + 1) % 3];
      Tracked &from      = src.readers[next() % src.readers.size()];
      int64_t avail      = from.reader->read_avail();
      int64_t off        = avail ? n % (avail + 1) : 0;
      int64_t len        = next() * 3;
      int64_t w          = b.mbuf->write(from.reader, len, off);
      std::string expect = from.model.substr(static_cast<std::size_t>(off), static_cast<std::size_t>(w));
      if (w != std::min<int64_t>(len, avail - off)) {
        why = "write(reader) appended a wrong count";
        ok  = false;
      }
      append_to_all(b, expect);
      break;
    }
    case 2: // clone a reader
      if (b.readers.size() < kMaxMIOBufferReaders) {
        b.readers.push_back({t.reader->clone(), t.model});
      }
      break;
    case 3: { // consume
      int64_t c = std::min<int64_t>(n % 500, t.reader->read_avail());
      t.reader->consume(c);
      t.model.erase(0, static_cast<std::size_t>(c));
      break;
    }
    case 4: { // read out
      std::string out(static_cast<std::size_t>(n % 500), '\0');
      int64_t r = t.reader->read(out.data(), static_cast<int64_t>(out.size()));
      if (out.substr(0, static_cast<std::size_t>(r)) != t.model.substr(0, static_cast<std::size_t>(r)) ||
          r != std::min<int64_t>(static_cast<int64_t>(out.size()), static_cast<int64_t>(t.model.size()))) {
        why = "read() returned wrong bytes";
        ok  = false;
      }
      t.model.erase(0, static_cast<std::size_t>(r));
      break;
    }
    case 5: { // memcpy at an offset, no consume
      int64_t avail = t.reader->read_avail();
      int64_t off   = avail ? n % (avail + 1) : 0;
      std::string out(300, '\0');
      int64_t r = t.reader->memcpy(out.data(), 300, off);
      if (out.substr(0, static_cast<std::size_t>(r)) !=
          t.model.substr(static_cast<std::size_t>(off), static_cast<std::size_t>(r))) {
        why = "memcpy(offset) returned wrong bytes";
        ok  = false;
      }
      break;
    }
    case 6: { // fill through first_write_block()/end(), as the net read path does
      int64_t room  = b.mbuf->write_avail();
      int64_t want  = std::min<int64_t>(room, n % 900);
      std::string d = fresh_bytes(want);
      int64_t left  = want;
      std::size_t o = 0;
      for (IOBufferBlock *blk = b.mbuf->first_write_block(); blk && left > 0; blk = blk->next.get()) {
        int64_t a = std::min(blk->write_avail(), left);
        std::memcpy(blk->end(), d.data() + o, static_cast<std::size_t>(a));
        o += static_cast<std::size_t>(a);
        left -= a;
      }
      b.mbuf->fill(want);
      append_to_all(b, d);
      break;
    }
    default: // water mark change
      b.mbuf->set_water_mark(n % 1000);
      break;
    }
    for (auto &bb : bufs) {
      for (auto &tr : bb.readers) {
        if (ok && tr.reader->read_avail() != static_cast<int64_t>(tr.model.size())) {
          why = "read_avail() differs from the model";
          ok  = false;
        }
      }
    }
  }
  for (auto &bb : bufs) {
    free_MIOBuffer(bb.mbuf);
  }
  return ok;
}
} // namespace iocore::test
