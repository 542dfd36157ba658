// What only the kernel's pollers (epoll, io_uring) can show of the Poller contract: a removed socket
// is released at its close, and removals and adds asked for by another thread come before the
// owner's next wait.
#include "support/PollerContract.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>
#include <poll.h>

#include <array>
#include <thread>

using namespace iocore;
using namespace iocore::test;

namespace {
template <class P> class KernelPollerContract : public PollerContract<P>
{
protected:
  /// True when fd's peer end was really closed: poll() sees a hang-up on fd at once.
  static bool peer_is_gone(int fd)
  {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) != 0;
  }
  /// Close fds[0] for good (TearDown must not close its number again, another socket may have it).
  void close_first()
  {
    ::close(this->fds[0]);
    this->fds[0] = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
};

#ifdef IOCORE_HAVE_LIBURING
using KernelProviders = ::testing::Types<EpollProvider, UringProvider>;
#else
using KernelProviders = ::testing::Types<EpollProvider>;
#endif
TYPED_TEST_SUITE(KernelPollerContract, KernelProviders);

// The removal must release the socket: a poll still armed in the kernel would hold it open, and the
// peer would not see the close (no FIN) until some later wait.
TYPED_TEST(KernelPollerContract, RemoveThenCloseReleasesTheSocketAtOnce)
{
  Poller &p = this->provider.get();
  ASSERT_EQ(p.add(this->fds[0], kReadable | kWritable, &this->token), 0);
  std::array<PollEvent, 8> out{};
  (void)this->poll_now(out);
  ASSERT_EQ(p.remove(this->fds[0]), 0);
  this->close_first();
  EXPECT_TRUE(this->peer_is_gone(this->fds[1])) << "closed without a wait in between";
}

// The same with a wake-up pending when the removal is made (the peer wrote after the last wait):
// io_uring's POLL_REMOVE refuses that case with -EALREADY, a cancel does not.
TYPED_TEST(KernelPollerContract, RemoveWithAWakeUpPendingThenCloseReleasesTheSocket)
{
  Poller &p = this->provider.get();
  ASSERT_EQ(p.add(this->fds[0], kReadable | kWritable, &this->token), 0);
  std::array<PollEvent, 8> out{};
  (void)this->poll_now(out);
  ASSERT_EQ(::write(this->fds[1], "x", 1), 1); // a wake-up the poller has not collected
  ASSERT_EQ(p.remove(this->fds[0]), 0);
  this->close_first();
  EXPECT_TRUE(this->peer_is_gone(this->fds[1]));
  (void)this->poll_now(out);
  EXPECT_TRUE(this->peer_is_gone(this->fds[1]));
}

// A removal asked for by another thread, the number then reused by a new socket that the owner
// registers before its next wait: the new registration must succeed (the old one is gone first).
TYPED_TEST(KernelPollerContract, ARemovalFromAnotherThreadComesBeforeTheOwnersNextAdd)
{
  Poller &p = this->provider.get();
  ASSERT_EQ(p.add(this->fds[0], kReadable, &this->token), 0);
  std::array<PollEvent, 8> out{};
  (void)this->poll_now(out);
  int number = this->fds[0];
  std::thread([&] { EXPECT_EQ(p.remove(number), 0); }).join();
  ::close(number);
  int again[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, again), 0);
  ASSERT_EQ(again[0], number) << "the lowest free number is reused";
  this->fds[0] = again[0];
  int token2   = 0;
  EXPECT_EQ(p.add(again[0], kReadable, &token2), 0);
  ASSERT_EQ(::write(again[1], "y", 1), 1);
  bool reported = false;
  for (int i = 0; i < 3 && !reported; ++i) {
    int n = this->poll_now(out);
    for (int j = 0; j < n; ++j) {
      EXPECT_NE(out[j].token, &this->token) << "nothing for the removed registration";
      reported |= out[j].token == &token2 && (out[j].ready & kReadable) != 0;
    }
  }
  EXPECT_TRUE(reported);
  ASSERT_EQ(p.remove(again[0]), 0);
  ::close(again[1]);
}

// An add asked for by another thread, then a removal by the owner before its next wait: nothing is
// reported afterwards and the socket is released at its close.
TYPED_TEST(KernelPollerContract, AnAddFromAnotherThreadIsUndoneByTheOwnersRemove)
{
  Poller &p = this->provider.get();
  std::thread([&] { EXPECT_EQ(p.add(this->fds[0], kReadable, &this->token), 0); }).join();
  ASSERT_EQ(p.remove(this->fds[0]), 0);
  this->close_first();
  EXPECT_TRUE(this->peer_is_gone(this->fds[1]));
  std::array<PollEvent, 8> out{};
  EXPECT_EQ(this->poll_now(out), 0);
}
} // namespace
