// The event codes' numeric values (fixed by the API, as in ATS) and the names used for them in
// logs, unknown codes included.
#include "iocore/eventsystem/Action.h"
#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/EventCodes.h"

#include <gtest/gtest.h>

#include <string>

using namespace iocore;

namespace {
TEST(EventCodes, NumericValuesMatchTheContract)
{
  EXPECT_EQ(EVENT_NONE, 0);
  EXPECT_EQ(EVENT_IMMEDIATE, 1);
  EXPECT_EQ(EVENT_INTERVAL, 2);
  EXPECT_EQ(EVENT_ERROR, 3);
  EXPECT_EQ(EVENT_CALL, 4);
  EXPECT_EQ(EVENT_POLL, 5);
  EXPECT_EQ(EVENT_DONE, 0);
  EXPECT_EQ(EVENT_CONT, 1);
  EXPECT_EQ(VC_EVENT_READ_READY, 100);
  EXPECT_EQ(VC_EVENT_WRITE_READY, 101);
  EXPECT_EQ(VC_EVENT_READ_COMPLETE, 102);
  EXPECT_EQ(VC_EVENT_WRITE_COMPLETE, 103);
  EXPECT_EQ(VC_EVENT_EOS, 104);
  EXPECT_EQ(VC_EVENT_ERROR, EVENT_ERROR);
  EXPECT_EQ(VC_EVENT_INACTIVITY_TIMEOUT, 105);
  EXPECT_EQ(VC_EVENT_ACTIVE_TIMEOUT, 106);
  EXPECT_EQ(VC_EVENT_OOB_COMPLETE, 107);
  EXPECT_EQ(NET_EVENT_OPEN, 200);
  EXPECT_EQ(NET_EVENT_OPEN_FAILED, 201);
  EXPECT_EQ(NET_EVENT_ACCEPT, 202);
  EXPECT_EQ(NET_EVENT_ACCEPT_SUCCEED, 203);
  EXPECT_EQ(NET_EVENT_ACCEPT_FAILED, 204);
}

TEST(EventCodes, EventNameNamesKnownCodesAndFlagsUnknownOnes)
{
  EXPECT_EQ(std::string(event_name(EVENT_IMMEDIATE)), "EVENT_IMMEDIATE");
  EXPECT_EQ(std::string(event_name(VC_EVENT_EOS)), "VC_EVENT_EOS");
  EXPECT_EQ(std::string(event_name(NET_EVENT_ACCEPT)), "NET_EVENT_ACCEPT");
  EXPECT_EQ(std::string(event_name(VC_EVENT_ERROR)), "VC_EVENT_ERROR");
  EXPECT_EQ(std::string(event_name(12345)), "EVENT_UNKNOWN");
}
} // namespace
