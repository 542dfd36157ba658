// The IO backend choice: what netProcessor.start() settles on, the environment variable that
// overrides NetConfig's kAuto, and a clear refusal of what it does not understand. (The whole net
// suite also runs once per backend: ctest's io_uring.* copies.)
#include "support/NetTestHarness.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

using namespace iocore;
using namespace iocore::test;

namespace {
/// Sets an environment variable for one test and puts the old value back.
class ScopedEnv
{
public:
  ScopedEnv(const char *name, const char *value) : _name(name)
  {
    if (const char *old = std::getenv(name)) {
      _old = old;
    }
    ::setenv(name, value, 1);
  }
  ~ScopedEnv()
  {
    if (_old) {
      ::setenv(_name, _old->c_str(), 1);
    } else {
      ::unsetenv(_name);
    }
  }

private:
  const char *_name;
  std::optional<std::string> _old;
};

TEST(NetBackend, StartSettlesOnOneBackendAndTheEnvironmentChoosesIt)
{
  const char *env = std::getenv("IOCORE_IO_BACKEND");
  // Made before the environment, so the net threads stop before it goes.
  TestAcceptor acceptor([](NetVConnection *vc) { vc->do_io_close(); });
  NetEnvironment net;
  IoBackend chosen = net_io_backend();
  EXPECT_NE(chosen, IoBackend::kAuto);
  if (env != nullptr && std::string(env) == "io_uring") {
    EXPECT_EQ(chosen, IoBackend::kIoUring) << "asked for in the environment";
  } else if (env != nullptr && std::string(env) == "epoll") {
    EXPECT_EQ(chosen, IoBackend::kEpoll);
  }
  // Whatever the backend, connections work: one accepted, closed, and the peer sees the close.
  auto peer = SocketPeer::connect_to(static_cast<uint16_t>(acceptor.listen()));
  ASSERT_TRUE(peer);
  EXPECT_TRUE(peer->wait_closed());
}

TEST(NetBackend, NetConfigOutranksTheEnvironment)
{
  ScopedEnv env("IOCORE_IO_BACKEND", "io_uring");
  NetEnvironment net(1, [](NetConfig &c) { c.io_backend = IoBackend::kEpoll; });
  EXPECT_EQ(net_io_backend(), IoBackend::kEpoll);
}

TEST(NetBackend, AnUnknownBackendInTheEnvironmentMakesStartFail)
{
  ScopedEnv env("IOCORE_IO_BACKEND", "kqueue");
  ASSERT_EQ(eventProcessor.start(1), 0);
  EXPECT_EQ(netProcessor.start(), -1);
  eventProcessor.shutdown();
}

TEST(NetBackend, BackendNames)
{
  EXPECT_STREQ(io_backend_name(IoBackend::kAuto), "auto");
  EXPECT_STREQ(io_backend_name(IoBackend::kEpoll), "epoll");
  EXPECT_STREQ(io_backend_name(IoBackend::kIoUring), "io_uring");
}
} // namespace
