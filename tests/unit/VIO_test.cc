// VIO: byte accounting, buffer accessors, continuation and mutex, and reenable forwarding to the
// VConnection that owns it.
#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/VConnection.h"
#include "iocore/eventsystem/VIO.h"

#include <gtest/gtest.h>

using namespace iocore;

namespace {
class CountingVC : public VConnection
{
public:
  VIO *do_io_read(Continuation *, int64_t, MIOBuffer *) override { return nullptr; }
  VIO *do_io_write(Continuation *, int64_t, IOBufferReader *, bool) override { return nullptr; }
  void do_io_close(int) override {}
  void do_io_shutdown(ShutdownHowTo_t) override {}
  void reenable(VIO *v) override
  {
    ++reenables;
    last = v;
  }
  void reenable_re(VIO *v) override
  {
    ++reenable_res;
    last = v;
  }
  int reenables    = 0;
  int reenable_res = 0;
  VIO *last        = nullptr;
};

struct Cont : Continuation {
  Cont() : Continuation(new_ProxyMutex()) {}
};
} // namespace

TEST(VIO, NtodoIsNbytesMinusNdoneAndDoneFinishesIt)
{
  VIO v(VIO::READ);
  v.set_nbytes(100);
  v.ndone = 30;
  EXPECT_EQ(v.ntodo(), 70);
  v.done();
  EXPECT_EQ(v.nbytes, 30);
  EXPECT_EQ(v.ntodo(), 0);
}

TEST(VIO, ReenableAndReenableReForwardToTheVConnection)
{
  CountingVC vc;
  VIO v(VIO::WRITE);
  v.reenable(); // no VConnection yet: nothing happens
  v.vc_server = &vc;
  v.reenable();
  v.reenable_re();
  EXPECT_EQ(vc.reenables, 1);
  EXPECT_EQ(vc.reenable_res, 1);
  EXPECT_EQ(vc.last, &v);
}

TEST(VIO, SetContinuationAdoptsItsMutex)
{
  Cont c;
  VIO v(VIO::READ);
  v.set_continuation(&c);
  EXPECT_EQ(v.get_continuation(), &c);
  EXPECT_EQ(v.mutex.get(), c.mutex.get());
  v.set_continuation(nullptr);
  EXPECT_EQ(v.mutex.get(), nullptr);
}

TEST(VIO, WriterAndReaderComeFromTheBufferAccessor)
{
  MIOBuffer *b      = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
  IOBufferReader *r = b->alloc_reader();
  VIO rv(VIO::READ);
  rv.buffer.writer_for(b);
  EXPECT_EQ(rv.get_writer(), b);
  EXPECT_EQ(rv.get_reader(), nullptr);
  VIO wv(VIO::WRITE);
  wv.buffer.reader_for(r);
  EXPECT_EQ(wv.get_reader(), r);
  EXPECT_EQ(wv.get_writer(), b);
  free_MIOBuffer(b);
}
