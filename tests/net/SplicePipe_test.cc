// SplicePipe, the kernel pipe a spliced VIO moves bytes through: its byte limit is the capacity asked
// for whatever size the kernel rounds the pipe to, and running out of descriptors is reported as
// -EMFILE with nothing left open.
#include <iocore/net/SplicePipe.h>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

using namespace iocore;

TEST(SplicePipe, LimitIsTheCapacityAskedForEvenWhenThePipeIsLarger)
{
  for (int64_t want : {int64_t{100}, int64_t{4096}, int64_t{10000}, int64_t{65536}}) {
    SplicePipe p;
    ASSERT_EQ(p.open(want), 0) << want;
    EXPECT_TRUE(p.is_open());
    EXPECT_EQ(p.capacity(), want);
    EXPECT_EQ(p.size(), 0);
    EXPECT_EQ(p.room(), want);
    EXPECT_GE(::fcntl(p.write_fd(), F_GETPIPE_SZ), want) << "the pipe itself is at least as large";
    p.close();
    EXPECT_FALSE(p.is_open());
  }
}

TEST(SplicePipe, OpenReportsEmfileWhenNoDescriptorIsLeft)
{
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  int lowest_free = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit tight   = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free); // no new descriptor can be made
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  SplicePipe p;
  int r = p.open(4096);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  EXPECT_EQ(r, -EMFILE);
  EXPECT_FALSE(p.is_open());
}
