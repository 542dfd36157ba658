// The Poller contract's fixture and the pollers it runs against (epoll, io_uring where built, and
// the FakePoller the tests use), each with a way to make a descriptor readable or its peer shut down.
// An anonymous namespace: the typed tests' names carry these type names ("<(anonymous
// namespace)::EpollProvider>"), which scripts and labels select tests by.
#pragma once

#include "net/Poller.h"
#include "support/FakePoller.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <memory>

namespace {
struct EpollProvider {
  std::unique_ptr<iocore::Poller> poller = iocore::make_epoll_poller();
  iocore::Poller &get() { return *poller; }
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
  std::unique_ptr<iocore::Poller> poller = iocore::make_uring_poller();
  iocore::Poller &get() { return *poller; }
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
  iocore::test::FakePoller poller;
  iocore::Poller &get() { return poller; }
  void make_readable(int fd, int peer)
  {
    (void)peer;
    poller.make_ready(fd, iocore::kReadable);
  }
  void make_peer_shutdown(int fd, int peer)
  {
    (void)peer;
    poller.make_ready(fd, iocore::kReadable | iocore::kReadHangup);
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
  int poll_now(std::array<iocore::PollEvent, 8> &out) { return provider.get().wait(0, out); }
  P provider;
  int fds[2] = {-1, -1};
  int token  = 0;
};
} // namespace
