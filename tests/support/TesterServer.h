// TesterServer: runs a VCTester per accepted connection (seeded to write what the client expects and
// to check what the client writes) and remembers what each connection reported; run_transfer drives
// a VCTester client against it to the end. The NetVCTest-style transfer tests over TCP and Unix use it.
#pragma once

#include "iocore/iocore.h"

#include "support/NetTestHarness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

namespace iocore::test {
/// Runs a VCTester per accepted connection and remembers what each connection reported.
class TesterServer
{
public:
  explicit TesterServer(VCTestSpec s)
      : _spec(s), acceptor([this](NetVConnection *vc) {
          auto t             = std::make_unique<VCTester>(_spec);
          t->spec.write_seed = 2;
          t->spec.read_seed  = 1;
          VCTester *raw      = t.get();
          {
            std::lock_guard<std::mutex> g(_mutex);
            testers.push_back(std::move(t));
            remotes.push_back(vc->get_remote_endpoint());
            locals.push_back(vc->get_local_endpoint());
            threads.insert(vc->thread);
          }
          raw->start(vc);
        })
  {
  }
  VCTester *tester(std::size_t i)
  {
    std::lock_guard<std::mutex> g(_mutex);
    return i < testers.size() ? testers[i].get() : nullptr;
  }
  Action *listen(const NetProcessor::AcceptOptions &opt)
  {
    acceptor.action = netProcessor.accept(&acceptor, opt);
    return acceptor.action;
  }

  VCTestSpec _spec;
  std::mutex _mutex;
  std::vector<std::unique_ptr<VCTester>> testers;
  std::vector<SocketAddress> remotes;
  std::vector<SocketAddress> locals;
  std::set<EThread *> threads;
  TestAcceptor acceptor;
};

/// Connects a VCTester client to `to` and runs both sides to the end; the server's tester is
/// returned through `server_side`.
inline void
run_transfer(TesterServer &server, const SocketAddress &to, VCTestSpec client_spec, VCTester *&server_side,
             std::vector<int> *client_events = nullptr)
{
  client_spec.write_seed = 1;
  client_spec.read_seed  = 2;
  VCTester client(client_spec);
  {
    MutexLock lock(client.mutex, nullptr);
    netProcessor.connect_re(&client, to.sa());
  }
  ASSERT_TRUE(client.wait_done()) << ::testing::PrintToString(client.events());
  ASSERT_TRUE(server.acceptor.accepted.wait_until([&] { return (server_side = server.tester(0)) != nullptr; }));
  ASSERT_TRUE(server_side->wait_done()) << ::testing::PrintToString(server_side->events());
  EXPECT_FALSE(client.data_mismatch);
  EXPECT_EQ(client.bytes_written.load(), client_spec.write_bytes);
  EXPECT_EQ(client.bytes_read.load(), std::min(server._spec.write_bytes, client_spec.read_nbytes));
  EXPECT_EQ(client.read_terminal.load(), VC_EVENT_EOS);
  if (client_events) {
    *client_events = client.events();
  }
  ASSERT_NE(client.vc, nullptr);
}
} // namespace iocore::test
