// The Poller contract, run against the epoll and io_uring pollers and the FakePoller tests use, so
// the backends agree and the fake stays honest: registration errors, edge-triggered reporting (once per readiness change),
// interest, and removal. For epoll, readiness is produced with a real socketpair; for the fake, by hand.
#include "net/Poller.h"
#include "support/FakePoller.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>
#include <poll.h>

#include <array>
#include <memory>
#include <thread>

using namespace iocore;

namespace {
struct EpollProvider {
  std::unique_ptr<Poller> poller = make_epoll_poller();
  Poller &get() { return *poller; }
  /// Make `fd`'s peer write so fd becomes readable.
  void make_readable(int fd, int peer)
  {
    (void)fd;
    ASSERT_EQ(::write(peer, "x", 1), 1);
  }
  /// The peer shuts down its sending side.
  void make_peer_shutdown(int fd, int peer)
  {
    (void)fd;
    ASSERT_EQ(::shutdown(peer, SHUT_WR), 0);
  }
};

#ifdef IOCORE_HAVE_LIBURING
struct UringProvider {
  std::unique_ptr<Poller> poller = make_uring_poller();
  Poller &get() { return *poller; }
  void make_readable(int fd, int peer)
  {
    (void)fd;
    ASSERT_EQ(::write(peer, "x", 1), 1);
  }
  void make_peer_shutdown(int fd, int peer)
  {
    (void)fd;
    ASSERT_EQ(::shutdown(peer, SHUT_WR), 0);
  }
};
#endif

struct FakeProvider {
  test::FakePoller poller;
  Poller &get() { return poller; }
  void make_readable(int fd, int peer)
  {
    (void)peer;
    poller.make_ready(fd, kReadable);
  }
  void make_peer_shutdown(int fd, int peer)
  {
    (void)peer;
    poller.make_ready(fd, kReadable | kReadHangup);
  }
};

template <class P> class PollerContract : public ::testing::Test
{
protected:
  void SetUp() override { ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0); }
  void TearDown() override
  {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int poll_now(std::array<PollEvent, 8> &out) { return provider.get().wait(0, out); }
  P provider;
  int fds[2] = {-1, -1};
  int token  = 0;
};

#ifdef IOCORE_HAVE_LIBURING
using Providers = ::testing::Types<EpollProvider, UringProvider, FakeProvider>;
#else
using Providers       = ::testing::Types<EpollProvider, FakeProvider>;
#endif
TYPED_TEST_SUITE(PollerContract, Providers);

TYPED_TEST(PollerContract, AddingTheSameDescriptorTwiceFailsWithEexist)
{
  Poller &p = this->provider.get();
  ASSERT_EQ(p.add(this->fds[0], kReadable, &this->token), 0);
  EXPECT_EQ(p.add(this->fds[0], kReadable, &this->token), -EEXIST);
}

TYPED_TEST(PollerContract, RemovingAnUnregisteredDescriptorFailsWithEnoent)
{
  EXPECT_EQ(this->provider.get().remove(this->fds[0]), -ENOENT);
}

TYPED_TEST(PollerContract, ReadinessIsReportedOnceWithTheToken)
{
  Poller &p = this->provider.get();
  ASSERT_EQ(p.add(this->fds[0], kReadable, &this->token), 0);
  std::array<PollEvent, 8> out{};
  (void)this->poll_now(out); // a fresh registration may report its initial state; drain it
  this->provider.make_readable(this->fds[0], this->fds[1]);
  ASSERT_EQ(this->poll_now(out), 1);
  EXPECT_EQ(out[0].token, &this->token);
  EXPECT_TRUE(out[0].ready & kReadable);
  EXPECT_EQ(this->poll_now(out), 0) << "edge-triggered: no second report without a new edge";
}

TYPED_TEST(PollerContract, PeerShutdownIsReportedAsReadableWithReadHangup)
{
  Poller &p = this->provider.get();
  ASSERT_EQ(p.add(this->fds[0], kReadable, &this->token), 0);
  std::array<PollEvent, 8> out{};
  (void)this->poll_now(out);
  this->provider.make_peer_shutdown(this->fds[0], this->fds[1]);
  ASSERT_EQ(this->poll_now(out), 1);
  EXPECT_TRUE(out[0].ready & kReadable);
  EXPECT_TRUE(out[0].ready & kReadHangup);
}

TYPED_TEST(PollerContract, RemovedDescriptorIsNotReported)
{
  Poller &p = this->provider.get();
  ASSERT_EQ(p.add(this->fds[0], kReadable, &this->token), 0);
  ASSERT_EQ(p.remove(this->fds[0]), 0);
  this->provider.make_readable(this->fds[0], this->fds[1]);
  std::array<PollEvent, 8> out{};
  EXPECT_EQ(this->poll_now(out), 0);
}

TYPED_TEST(PollerContract, WritableIsReportedOnlyWhenAskedFor)
{
  Poller &p = this->provider.get();
  ASSERT_EQ(p.add(this->fds[0], kReadable, &this->token), 0);
  std::array<PollEvent, 8> out{};
  int n = this->poll_now(out);
  for (int i = 0; i < n; ++i) {
    EXPECT_FALSE(out[i].ready & kWritable);
  }
}
// --- What only the kernel's pollers can show: closes and calls from other threads ----------------------

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
