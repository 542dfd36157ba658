// SocketAddress: parsing and printing IP and Unix-domain addresses, the sun_path limits, and the
// round trips through the kernel's forms (bind/getsockname, a bare sockaddr as connect_re takes).
#include "iocore/net/SocketAddress.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

using namespace iocore;

namespace {
TEST(SocketAddress, IpTextRoundTripsAndKeepsTheIpEndpoint)
{
  auto v4 = SocketAddress::parse("127.0.0.1:8080");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->is_ip());
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(v4->port(), 8080);
  EXPECT_EQ(v4->to_string(), "127.0.0.1:8080");
  EXPECT_EQ(v4->size(), sizeof(sockaddr_in));
  EXPECT_EQ(v4->ip(), *IpEndpoint::parse("127.0.0.1:8080"));
  auto v6 = SocketAddress::parse("[::1]:80");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->to_string(), "[::1]:80");
  EXPECT_EQ(v6->size(), sizeof(sockaddr_in6));
  EXPECT_FALSE(SocketAddress::parse("localhost:80"));
  EXPECT_FALSE(SocketAddress(IpEndpoint()).is_valid());
}

TEST(SocketAddress, UnixPathTextRoundTrips)
{
  auto a = SocketAddress::parse("unix:/run/iocore.sock");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_unix());
  EXPECT_FALSE(a->is_abstract());
  EXPECT_EQ(a->path(), "/run/iocore.sock");
  EXPECT_EQ(a->to_string(), "unix:/run/iocore.sock");
  EXPECT_EQ(a->port(), 0);
  EXPECT_EQ(a->size(), offsetof(sockaddr_un, sun_path) + std::strlen("/run/iocore.sock") + 1);
  EXPECT_FALSE(a->ip().is_valid());
}

TEST(SocketAddress, AbstractNameTextRoundTrips)
{
  auto a = SocketAddress::parse("unix:@iocore-test");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_abstract());
  EXPECT_EQ(a->path(), "iocore-test");
  EXPECT_EQ(a->to_string(), "unix:@iocore-test");
  EXPECT_EQ(a->sa()->sa_family, AF_UNIX);
  EXPECT_EQ(reinterpret_cast<const sockaddr_un *>(a->sa())->sun_path[0], '\0');
  EXPECT_EQ(a->size(), offsetof(sockaddr_un, sun_path) + 1 + std::strlen("iocore-test"));
}

TEST(SocketAddress, PathsThatDoNotFitSunPathAreRefused)
{
  std::string longest(SocketAddress::kMaxUnixPath, 'p');
  EXPECT_TRUE(SocketAddress::unix_path(longest));
  EXPECT_TRUE(SocketAddress::unix_abstract(longest));
  EXPECT_FALSE(SocketAddress::unix_path(longest + "p"));
  EXPECT_FALSE(SocketAddress::unix_abstract(longest + "p"));
  EXPECT_FALSE(SocketAddress::parse("unix:/" + longest));
  EXPECT_FALSE(SocketAddress::parse("unix:"));
  EXPECT_FALSE(SocketAddress::parse("unix:@"));
  EXPECT_FALSE(SocketAddress::unix_path(std::string("a\0b", 3)));
}

TEST(SocketAddress, ABareSockaddrKeepsWhereThePathOrNameEnds)
{
  auto path = *SocketAddress::unix_path("/tmp/x.sock");
  EXPECT_EQ(SocketAddress::from_sockaddr(path.sa()), path);
  EXPECT_EQ(SocketAddress::from_sockaddr(path.sa()).size(), path.size());
  auto name = *SocketAddress::unix_abstract("name");
  EXPECT_EQ(SocketAddress::from_sockaddr(name.sa()), name);
  EXPECT_EQ(SocketAddress::from_sockaddr(name.sa()).size(), name.size());
  sockaddr_un empty{};
  empty.sun_family = AF_UNIX;
  EXPECT_TRUE(SocketAddress::from_sockaddr(reinterpret_cast<sockaddr *>(&empty)).is_unnamed());
  auto ip = *SocketAddress::parse("10.1.2.3:4");
  EXPECT_EQ(SocketAddress::from_sockaddr(ip.sa()), ip);
}

TEST(SocketAddress, KernelFormsOfBoundAndUnnamedSocketsReadBack)
{
  std::string name = "iocore-sa-test-" + std::to_string(::getpid());
  auto want        = *SocketAddress::unix_abstract(name);
  int fd           = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::bind(fd, want.sa(), want.size()), 0);
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len), 0);
  EXPECT_EQ(SocketAddress::from_kernel(reinterpret_cast<sockaddr *>(&ss), len), want);
  ::close(fd);

  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  len = sizeof(ss);
  ASSERT_EQ(::getsockname(pair[0], reinterpret_cast<sockaddr *>(&ss), &len), 0);
  SocketAddress unnamed = SocketAddress::from_kernel(reinterpret_cast<sockaddr *>(&ss), len);
  EXPECT_TRUE(unnamed.is_unnamed());
  EXPECT_EQ(unnamed.to_string(), "unix:");
  ::close(pair[0]);
  ::close(pair[1]);
}
} // namespace
