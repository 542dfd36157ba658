// The Poller contract, run against the epoll and io_uring pollers and the FakePoller tests use, so
// the backends agree and the fake stays honest: registration errors, edge-triggered reporting (once per readiness change),
// interest, and removal. For epoll, readiness is produced with a real socketpair; for the fake, by hand.
#include "net/Poller.h"
#include "support/FakePoller.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <memory>

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
using Providers = ::testing::Types<EpollProvider, FakeProvider>;
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
} // namespace
