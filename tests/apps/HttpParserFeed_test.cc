// Unit tests of feed_from_reader (apps/iocore/HttpParserFeed.h): the HTTP parser fed in place from
// an iocore buffer whose requests span blocks, stopping at each complete request.
#include "HttpParserFeed.h"

#include <gtest/gtest.h>

#include <string>

using namespace iocore;

namespace iocore_cli {
namespace {
  struct BufferDeleter {
    void operator()(MIOBuffer *b) const { free_MIOBuffer(b); }
  };
  using Buffer = std::unique_ptr<MIOBuffer, BufferDeleter>;

  const std::string kFirst  = "GET /first HTTP/1.1\r\nHost: example\r\nUser-Agent: a header long enough that the request is longer "
                              "than one of the buffer's 128-byte blocks\r\nAccept: */*\r\n\r\n";
  const std::string kSecond = "GET /second HTTP/1.1\r\nHost: example\r\n\r\n";
} // namespace

TEST(HttpParserFeed, StopsAfterEachRequestAndConsumesExactlyItsBytes)
{
  Buffer b(new_MIOBuffer(BUFFER_SIZE_INDEX_128)); // 128-byte blocks: both requests span two
  IOBufferReader *r = b->alloc_reader();
  std::string wire  = kFirst + kSecond;
  b->write(wire.data(), static_cast<int64_t>(wire.size()));
  HttpParser parser;

  EXPECT_EQ(feed_from_reader(parser, r), static_cast<int64_t>(kFirst.size()));
  ASSERT_EQ(parser.status(), HttpParseStatus::kMessageComplete);
  EXPECT_EQ(parser.request().target, "/first");
  EXPECT_EQ(r->read_avail(), static_cast<int64_t>(kSecond.size())) << "the pipelined request is left for later";

  EXPECT_EQ(feed_from_reader(parser, r), static_cast<int64_t>(kSecond.size()));
  ASSERT_EQ(parser.status(), HttpParseStatus::kMessageComplete);
  EXPECT_EQ(parser.request().target, "/second");
  EXPECT_EQ(r->read_avail(), 0);
}

TEST(HttpParserFeed, TakesEveryByteOfAnIncompleteRequest)
{
  Buffer b(new_MIOBuffer(BUFFER_SIZE_INDEX_128));
  IOBufferReader *r = b->alloc_reader();
  std::string part  = kFirst.substr(0, 100);
  b->write(part.data(), static_cast<int64_t>(part.size()));
  HttpParser parser;

  EXPECT_EQ(feed_from_reader(parser, r), 100);
  EXPECT_EQ(parser.status(), HttpParseStatus::kNeedMore);
  EXPECT_EQ(r->read_avail(), 0);
  EXPECT_EQ(feed_from_reader(parser, r), 0) << "nothing to feed";

  std::string rest = kFirst.substr(100);
  b->write(rest.data(), static_cast<int64_t>(rest.size()));
  EXPECT_EQ(feed_from_reader(parser, r), static_cast<int64_t>(rest.size()));
  EXPECT_EQ(parser.status(), HttpParseStatus::kMessageComplete);
}

TEST(HttpParserFeed, StopsAtAnErrorAndLeavesTheRestUnread)
{
  Buffer b(new_MIOBuffer(BUFFER_SIZE_INDEX_128));
  IOBufferReader *r = b->alloc_reader();
  std::string bad   = "\x16\x03\x01 not http at all";
  b->write(bad.data(), static_cast<int64_t>(bad.size()));
  HttpParser parser;

  int64_t used = feed_from_reader(parser, r);
  EXPECT_TRUE(is_error(parser.status()));
  EXPECT_EQ(r->read_avail(), static_cast<int64_t>(bad.size()) - used);
  EXPECT_LT(used, static_cast<int64_t>(bad.size()));
}
} // namespace iocore_cli
