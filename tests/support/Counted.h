// Counted: a RefCountObj that counts free() calls instead of deleting itself, so that a test can look
// at the object after its last reference went.
#pragma once

#include "iocore/eventsystem/Ptr.h"

namespace iocore::test {
/// Counts free() calls instead of deleting, so the test can look at the object after the last release.
class Counted : public RefCountObj
{
public:
  int frees = 0;
  void free() override { ++frees; }
};
} // namespace iocore::test
