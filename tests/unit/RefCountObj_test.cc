// Unit tests of RefCountObj itself, the base Ptr<> counts through: a copy of an object starts
// with no references of its own.
#include "iocore/eventsystem/Ptr.h"
#include "support/Counted.h"

#include <gtest/gtest.h>

#include <thread>
#include <utility>
#include <vector>

using namespace iocore;
using namespace iocore::test;

namespace {
TEST(RefCountObj, CopyStartsWithZeroReferences)
{
  Counted a;
  Ptr<Counted> keep(&a);
  Counted b(a);
  EXPECT_EQ(b.refcount(), 0);
  b = a;
  EXPECT_EQ(b.refcount(), 0);
  EXPECT_EQ(a.refcount(), 1);
}
} // namespace
