// Unit tests of Ptr<>: the intrusive reference counting that ProxyMutex, IOBufferData and IOBufferBlock
// are shared through (construction, moves and copies, comparisons, detach, concurrent release).
#include "iocore/eventsystem/Ptr.h"
#include "support/Counted.h"

#include <gtest/gtest.h>

#include <thread>
#include <utility>
#include <vector>

using namespace iocore;
using namespace iocore::test;

namespace {
class Base : public RefCountObj
{
public:
  virtual int kind() const { return 1; }
};

class Derived : public Base
{
public:
  explicit Derived(int *deleted) : _deleted(deleted) {}
  ~Derived() override { ++*_deleted; }
  int kind() const override { return 2; }

private:
  int *_deleted;
};

TEST(Ptr, DefaultAndNullptrConstructedAreEmpty)
{
  Ptr<Counted> a;
  Ptr<Counted> b(nullptr);
  EXPECT_EQ(a.get(), nullptr);
  EXPECT_FALSE(a);
  EXPECT_FALSE(b);
  EXPECT_TRUE(a == nullptr);
}

TEST(Ptr, ConstructionFromRawPointerTakesOneReference)
{
  Counted obj;
  {
    Ptr<Counted> p(&obj);
    EXPECT_EQ(obj.refcount(), 1);
    EXPECT_EQ(p.get(), &obj);
    EXPECT_EQ(p.m_ptr, &obj);
    EXPECT_TRUE(p);
  }
  EXPECT_EQ(obj.refcount(), 0);
  EXPECT_EQ(obj.frees, 1);
}

TEST(Ptr, FreeIsCalledExactlyOnceWhenLastCopyGoes)
{
  Counted obj;
  {
    Ptr<Counted> a(&obj);
    {
      // The copies are what is tested: each takes a reference.
      Ptr<Counted> b = a; // NOLINT(performance-unnecessary-copy-initialization)
      Ptr<Counted> c(b);  // NOLINT(performance-unnecessary-copy-initialization)
      EXPECT_EQ(obj.refcount(), 3);
    }
    EXPECT_EQ(obj.refcount(), 1);
    EXPECT_EQ(obj.frees, 0);
  }
  EXPECT_EQ(obj.frees, 1);
}

TEST(Ptr, DefaultFreeDeletesTheObject)
{
  int deleted = 0;
  {
    Ptr<Derived> p(new Derived(&deleted));
    Ptr<Derived> q = p; // NOLINT(performance-unnecessary-copy-initialization): a second reference, on purpose
  }
  EXPECT_EQ(deleted, 1);
}

TEST(Ptr, MoveConstructionTransfersWithoutTouchingTheCount)
{
  Counted obj;
  Ptr<Counted> a(&obj);
  Ptr<Counted> b(std::move(a));
  EXPECT_EQ(a.get(), nullptr); // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(b.get(), &obj);
  EXPECT_EQ(obj.refcount(), 1);
  b.clear();
  EXPECT_EQ(obj.frees, 1);
}

TEST(Ptr, MoveAssignmentReleasesTheOldTargetAndEmptiesTheSource)
{
  Counted first, second;
  Ptr<Counted> a(&first);
  Ptr<Counted> b(&second);
  a = std::move(b);
  EXPECT_EQ(first.frees, 1);
  EXPECT_EQ(second.frees, 0);
  EXPECT_EQ(a.get(), &second);
  EXPECT_EQ(b.get(), nullptr); // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(second.refcount(), 1);
}

TEST(Ptr, SelfMoveAssignmentKeepsTheReference)
{
  Counted obj;
  Ptr<Counted> a(&obj);
  Ptr<Counted> &alias = a;
  a                   = std::move(alias);
  EXPECT_EQ(a.get(), &obj);
  EXPECT_EQ(obj.refcount(), 1);
  EXPECT_EQ(obj.frees, 0);
}

TEST(Ptr, CopyAssignmentSharesAndReleasesThePreviousTarget)
{
  Counted first, second;
  Ptr<Counted> a(&first);
  Ptr<Counted> b(&second);
  a = b;
  EXPECT_EQ(first.frees, 1);
  EXPECT_EQ(second.refcount(), 2);
  EXPECT_TRUE(a == b);
}

TEST(Ptr, SelfCopyAssignmentKeepsTheReference)
{
  Counted obj;
  Ptr<Counted> a(&obj);
  const Ptr<Counted> &alias = a;
  a                         = alias;
  EXPECT_EQ(obj.refcount(), 1);
  EXPECT_EQ(obj.frees, 0);
}

TEST(Ptr, RawPointerAssignmentTakesAReferenceAndReassigningTheSamePointerIsANoop)
{
  Counted first, second;
  Ptr<Counted> a;
  a = &first;
  EXPECT_EQ(first.refcount(), 1);
  a = &first;
  EXPECT_EQ(first.refcount(), 1);
  a = &second;
  EXPECT_EQ(first.frees, 1);
  EXPECT_EQ(second.refcount(), 1);
  a = static_cast<Counted *>(nullptr);
  EXPECT_EQ(second.frees, 1);
}

TEST(Ptr, ClearDropsTheReference)
{
  Counted obj;
  Ptr<Counted> a(&obj);
  a.clear();
  EXPECT_FALSE(a);
  EXPECT_EQ(obj.frees, 1);
  a.clear();
  EXPECT_EQ(obj.frees, 1);
}

TEST(Ptr, DetachHandsOverTheReferenceWithoutReleasingIt)
{
  Counted obj;
  Ptr<Counted> a(&obj);
  Counted *raw = a.detach();
  EXPECT_EQ(raw, &obj);
  EXPECT_FALSE(a);
  EXPECT_EQ(obj.refcount(), 1);
  EXPECT_EQ(obj.frees, 0);
  EXPECT_EQ(obj.refcount_dec(), 0); // the new owner gives the reference back by hand
  EXPECT_EQ(obj.frees, 0);
}

TEST(Ptr, DerivedConvertsToBaseSharingTheCount)
{
  int deleted = 0;
  Ptr<Derived> d(new Derived(&deleted));
  {
    Ptr<Base> b = d;
    EXPECT_EQ(b->kind(), 2);
    EXPECT_EQ(d->refcount(), 2);
    EXPECT_TRUE(b == d);
  }
  EXPECT_EQ(d->refcount(), 1);
  Ptr<Base> b;
  b = Ptr<Base>(d);
  d.clear();
  EXPECT_EQ(deleted, 0);
  b.clear();
  EXPECT_EQ(deleted, 1);
}

TEST(Ptr, ComparesWithConstRawPointersAndConvertsToThem)
{
  Counted obj, other;
  Ptr<Counted> a(&obj);
  const Counted *same = &obj, *different = &other;
  EXPECT_TRUE(a == same);
  EXPECT_FALSE(a == different);
  EXPECT_TRUE(a != different);
  Counted *raw = a;
  EXPECT_EQ(raw, &obj);
  EXPECT_EQ(&*a, &obj);
  EXPECT_EQ(a->refcount(), 1);
}

TEST(Ptr, ComparesWithOtherPtrsAndNullptr)
{
  Counted obj, other;
  Ptr<Counted> a(&obj), b(&obj), c(&other), empty;
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == c);
  EXPECT_TRUE(a != c);
  EXPECT_TRUE(empty == nullptr);
  EXPECT_TRUE(a != nullptr);
}

template <class P, class R>
concept EqualityComparableWith = requires(const P &p, R r)
{
  bool(p == r);
  bool(p != r);
};

// Ported ATS code compares a Ptr with a plain T* (`vio.mutex == thread->mutex.get()`). Today that is
// ambiguous: Ptr::operator==(const T *) needs a qualification conversion on the right, the built-in
// T* == T* (through operator T *()) a user conversion on the left. Fix: take `T *` (or add a
// `template <class U> bool operator==(U *p) const`).
TEST(Ptr, ComparesWithANonConstRawPointer)
{
  EXPECT_TRUE((EqualityComparableWith<Ptr<Counted>, const Counted *>));
  EXPECT_TRUE((EqualityComparableWith<Ptr<Counted>, Counted *>)) << "Ptr<T> == T* does not compile (ambiguous overload)";
}

TEST(Ptr, MakePtrConstructsWithOneReference)
{
  int deleted = 0;
  auto p      = make_ptr<Derived>(&deleted);
  EXPECT_EQ(p->refcount(), 1);
  p.clear();
  EXPECT_EQ(deleted, 1);
}

TEST(Ptr, CopiesDroppedConcurrentlyOnManyThreadsFreeOnce)
{
  Counted obj;
  {
    Ptr<Counted> root(&obj);
    std::vector<std::thread> threads;
    threads.reserve(4);
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([copy = root]() mutable {
        for (int j = 0; j < 10000; ++j) {
          Ptr<Counted> local = copy;
          Ptr<Counted> moved = std::move(local);
        }
      });
    }
    for (auto &t : threads) {
      t.join();
    }
    EXPECT_EQ(obj.refcount(), 1);
  }
  EXPECT_EQ(obj.frees, 1);
}
} // namespace
