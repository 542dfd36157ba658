// The Poller contract, run against the epoll and io_uring pollers and the FakePoller tests use, so the
// backends agree and the fake stays honest: registration errors, edge-triggered reporting (once per
// readiness change), interest, and removal. For the kernel's pollers readiness comes from a real socketpair.
#include "support/PollerContract.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <array>

using namespace iocore;
using namespace iocore::test;

namespace {
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
