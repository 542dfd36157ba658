// A direction restarted from inside its own call-back, from a buffered VIO to a spliced one: the
// step that delivered the event must hand over to the spliced step instead of going on with the
// buffer it no longer has (which used to stop the direction and stall the new VIO).
#include "support/NetTestHarness.h"

#include <gtest/gtest.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <string>

using namespace iocore;
using namespace iocore::test;

namespace {
constexpr int64_t kFirstPart  = 100;
constexpr int64_t kSecondPart = 20000; // fits the pipe: the spliced read ends by READ_COMPLETE

/// Reads the first bytes of a connection into a buffer and, at that READ_READY, restarts the read
/// as a spliced one of kSecondPart bytes into its pipe.
class Switcher : public Continuation
{
public:
  Switcher() { set_handler(&Switcher::handle); }
  ~Switcher() override { free_MIOBuffer(_buf); }

  /// On the connection's thread, holding its mutex (which this continuation shares).
  void start(NetVConnection *c)
  {
    vc     = c;
    mutex  = c->mutex;
    _buf   = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
    _first = _buf->alloc_reader();
    ok     = pipe.open(65536) == 0;
    vc->do_io_read(this, INT64_MAX, _buf);
    started.notify();
  }

  int handle(int event, void *data)
  {
    (void)data;
    if (event == VC_EVENT_READ_READY && !switched.load()) {
      int64_t avail = _first->read_avail();
      std::string got(static_cast<std::size_t>(avail), '\0');
      _first->read(got.data(), avail);
      first_part += got;
      if (static_cast<int64_t>(first_part.size()) < kFirstPart) {
        return EVENT_CONT;
      }
      // The switch, inside the buffered read's own event.
      ok = ok && vc->do_io_read_splice(this, kSecondPart, &pipe) != nullptr;
      switched.store(true);
      switch_seen.notify();
      return EVENT_CONT;
    }
    if (event == VC_EVENT_READ_COMPLETE && switched.load()) {
      in_pipe.store(pipe.size());
      vc->do_io_close();
      vc = nullptr;
      completed.notify();
      return EVENT_DONE;
    }
    if (event != VC_EVENT_READ_READY) {
      unexpected.store(event);
      completed.notify();
    }
    return EVENT_CONT;
  }

  NetVConnection *vc = nullptr;
  SplicePipe pipe;
  std::string first_part;
  bool ok = false;
  std::atomic<bool> switched{false};
  std::atomic<int64_t> in_pipe{-1};
  std::atomic<int> unexpected{0};
  EventWaiter started;
  EventWaiter switch_seen;
  EventWaiter completed;

private:
  MIOBuffer *_buf        = nullptr;
  IOBufferReader *_first = nullptr;
};
} // namespace

TEST(SpliceSwitch, AReadRestartedAsASpliceInsideReadReadyGoesOnInThePipe)
{
  NetEnvironment env(1);
  Switcher sw;
  TestAcceptor acceptor([&sw](NetVConnection *vc) { sw.start(vc); }, false);
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(acceptor.listen()));
  ASSERT_TRUE(peer.has_value());
  ASSERT_TRUE(sw.started.wait_for(1));

  ASSERT_TRUE(peer->send_all(pattern(0, kFirstPart, 7)));
  ASSERT_TRUE(sw.switch_seen.wait_for(1)) << "the first bytes never arrived";
  // Sent only once the read is spliced: every one of these bytes must go into the pipe.
  ASSERT_TRUE(peer->send_all(pattern(kFirstPart, kSecondPart, 7)));
  ASSERT_TRUE(sw.completed.wait_for(1)) << "the spliced read stalled after the switch";
  acceptor.stop();

  EXPECT_TRUE(sw.ok);
  EXPECT_EQ(sw.unexpected.load(), 0);
  EXPECT_EQ(sw.first_part, pattern(0, kFirstPart, 7));
  ASSERT_EQ(sw.in_pipe.load(), kSecondPart);
  std::string spliced(static_cast<std::size_t>(kSecondPart), '\0');
  ASSERT_EQ(::read(sw.pipe.read_fd(), spliced.data(), spliced.size()), kSecondPart);
  EXPECT_EQ(spliced, pattern(kFirstPart, kSecondPart, 7));
}
