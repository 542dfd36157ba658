// HandMadeVCCount: keeps the net counters honest in tests that make UnixNetVConnections by hand on a
// hand-driven net thread (populate() takes a socket over without counting it, closing uncounts it).
#pragma once

#include "net/NetStats.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace iocore::test {
/// populate() takes over a socket without counting it (the accept or connect that made a socket
/// counts it), while closing a VC uncounts it. The VCs these tests make by hand are counted as
/// accepted ones here, and each fixture checks at its end that the counters are back where they
/// were: tests that share a process (the binary run by hand, --gtest_repeat) read them.
class HandMadeVCCount
{
public:
  void count()
  {
    net_count(net_counters().connections_currently_open);
    net_count(net_counters().inbound_currently_open);
  }
  void expect_balanced() const
  {
    EXPECT_EQ(net_counters().connections_currently_open.load(), _open) << "connections_currently_open drifted";
    EXPECT_EQ(net_counters().inbound_currently_open.load(), _inbound) << "inbound_currently_open drifted";
  }

private:
  int64_t _open    = net_counters().connections_currently_open.load();
  int64_t _inbound = net_counters().inbound_currently_open.load();
};
} // namespace iocore::test
