// Unit tests of IntrusiveList (src/net/IntrusiveList.h): the NetHandler's ready lists, open and
// cop lists and the keep-alive and active queues. Membership has no flag of its own: a member has a
// predecessor or is the head, so every position (only, head, middle, tail) is checked.
#include "net/IntrusiveList.h"

#include <gtest/gtest.h>

#include <vector>

using namespace iocore;

namespace {
struct Node {
  explicit Node(int i = 0) : id(i) {}
  int id;
  ListLink<Node> a;
  ListLink<Node> b;
};
struct LinkA {
  static ListLink<Node> &get(Node *n) { return n->a; }
};
struct LinkB {
  static ListLink<Node> &get(Node *n) { return n->b; }
};
using ListA = IntrusiveList<Node, LinkA>;
using ListB = IntrusiveList<Node, LinkB>;

std::vector<int>
ids(const ListA &l)
{
  std::vector<int> out;
  for (Node *n = l.head(); n != nullptr; n = ListA::next(n)) {
    out.push_back(n->id);
  }
  return out;
}
} // namespace

TEST(IntrusiveList, AnOnlyMemberIsInTheListAndLeavesItEmpty)
{
  ListA l;
  Node n(1);
  EXPECT_FALSE(l.in(&n));
  l.enqueue(&n);
  EXPECT_TRUE(l.in(&n)) << "no predecessor, but the head";
  l.remove(&n);
  EXPECT_FALSE(l.in(&n));
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.size(), 0U);
}

TEST(IntrusiveList, EveryPositionIsAMemberUntilRemoved)
{
  ListA l;
  Node n[4] = {Node(0), Node(1), Node(2), Node(3)};
  for (Node &x : n) {
    l.enqueue(&x);
  }
  for (Node &x : n) {
    EXPECT_TRUE(l.in(&x)) << x.id;
  }
  l.remove(&n[2]); // middle
  l.remove(&n[3]); // tail
  l.remove(&n[0]); // head
  EXPECT_FALSE(l.in(&n[0]));
  EXPECT_FALSE(l.in(&n[2]));
  EXPECT_FALSE(l.in(&n[3]));
  EXPECT_TRUE(l.in(&n[1])) << "the last one left is now the head";
  EXPECT_EQ(ids(l), std::vector<int>{1});
}

TEST(IntrusiveList, RemovingANonMemberChangesNothing)
{
  ListA l;
  Node in(1);
  Node out(2);
  l.enqueue(&in);
  l.remove(&out);
  EXPECT_EQ(l.size(), 1U);
  EXPECT_EQ(ids(l), std::vector<int>{1});
}

TEST(IntrusiveList, InOrEnqueueAddsOnlyOnce)
{
  ListA l;
  Node n[2] = {Node(0), Node(1)};
  l.in_or_enqueue(&n[0]);
  l.in_or_enqueue(&n[1]);
  l.in_or_enqueue(&n[0]);
  l.in_or_enqueue(&n[1]);
  EXPECT_EQ(ids(l), (std::vector<int>{0, 1}));
  EXPECT_EQ(l.dequeue(), &n[0]);
  EXPECT_FALSE(l.in(&n[0]));
  l.in_or_enqueue(&n[0]);
  EXPECT_EQ(ids(l), (std::vector<int>{1, 0}));
}

TEST(IntrusiveList, AnotherLinkOfTheSameNodeIsIndependent)
{
  ListA la;
  ListB lb;
  Node n(1);
  la.enqueue(&n);
  EXPECT_FALSE(lb.in(&n));
  lb.enqueue(&n);
  la.remove(&n);
  EXPECT_TRUE(lb.in(&n));
  EXPECT_FALSE(la.in(&n));
}
