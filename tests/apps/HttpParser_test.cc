// Unit tests of the `iocore http` request parser (apps/iocore/HttpParser.h): framing, keep-alive
// rules, pipelining, and the 400 / 431 cases, fed whole and byte by byte.
#include "HttpParser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace iocore_cli {
namespace {
  struct Parsed {
    std::vector<HttpRequest> requests;
    HttpParseStatus final_status = HttpParseStatus::kNeedMore;
    size_t consumed              = 0;
  };

  /// Feed `input` in pieces of `piece` bytes (0: all at once), collecting every completed request.
  Parsed parse(const std::string &input, size_t piece = 0, size_t max_head = HttpParser::kDefaultMaxHeadSize)
  {
    HttpParser p(max_head);
    Parsed out;
    size_t pos = 0;
    while (pos < input.size()) {
      size_t n    = piece == 0 ? input.size() - pos : std::min(piece, input.size() - pos);
      size_t used = p.feed(input.data() + pos, n);
      pos += used;
      if (p.status() == HttpParseStatus::kMessageComplete) {
        out.requests.push_back(p.request());
      } else if (p.status() != HttpParseStatus::kNeedMore) {
        break;
      }
    }
    out.final_status = p.status();
    out.consumed     = pos;
    return out;
  }

  TEST(HttpParser, ParsesSimpleGetWholeAndByteByByte)
  {
    std::string req = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    for (size_t piece : {size_t{0}, size_t{1}, size_t{3}}) {
      Parsed r = parse(req, piece);
      ASSERT_EQ(r.requests.size(), 1u) << piece;
      EXPECT_EQ(r.requests[0].method, "GET");
      EXPECT_EQ(r.requests[0].target, "/x");
      EXPECT_TRUE(r.requests[0].keep_alive);
      EXPECT_EQ(r.consumed, req.size());
    }
  }

  TEST(HttpParser, StopsAfterEachPipelinedRequest)
  {
    std::string one = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    std::string all;
    for (int i = 0; i < 100; ++i) {
      all += one;
    }
    HttpParser p;
    size_t used = p.feed(all.data(), all.size());
    EXPECT_EQ(used, one.size());
    EXPECT_EQ(p.status(), HttpParseStatus::kMessageComplete);
    EXPECT_EQ(parse(all).requests.size(), 100u);
    EXPECT_EQ(parse(all, 7).requests.size(), 100u);
  }

  TEST(HttpParser, KeepAliveRules)
  {
    EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").requests.at(0).keep_alive);
    EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").requests.at(0).keep_alive);
    EXPECT_FALSE(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").requests.at(0).keep_alive);
    EXPECT_FALSE(parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n").requests.at(0).keep_alive);
  }

  TEST(HttpParser, SkipsContentLengthBody)
  {
    Parsed r = parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n", 2);
    ASSERT_EQ(r.requests.size(), 2u);
    EXPECT_EQ(r.requests[1].method, "GET");
  }

  TEST(HttpParser, SkipsChunkedBodyWithExtensionsAndTrailers)
  {
    std::string req = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n"
                      "HEAD / HTTP/1.1\r\n\r\n";
    for (size_t piece : {size_t{0}, size_t{1}}) {
      Parsed r = parse(req, piece);
      ASSERT_EQ(r.requests.size(), 2u);
      EXPECT_TRUE(r.requests[1].is_head());
      EXPECT_EQ(r.consumed, req.size());
    }
  }

  TEST(HttpParser, AcceptsBareLfAndLeadingEmptyLines)
  {
    EXPECT_EQ(parse("\r\nGET / HTTP/1.1\nHost: a\n\n").requests.size(), 1u);
  }

  TEST(HttpParser, RejectsMalformedInput)
  {
    for (const char *bad : {
             "GARBAGE\r\n\r\n",
             "GET / HTTP/2.0\r\n\r\n",
             "GET  / HTTP/1.1\r\n\r\n",
             "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
             "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
             "GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
             "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
             "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
             "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
             "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
             "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
             "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
             "GET / HTTP/1.1\rX\r\n\r\n",
         }) {
      EXPECT_EQ(parse(bad).final_status, HttpParseStatus::kBadRequest) << bad;
      EXPECT_EQ(parse(bad, 1).final_status, HttpParseStatus::kBadRequest) << bad;
    }
  }

  TEST(HttpParser, OversizedHeadIs431)
  {
    std::string req = "GET / HTTP/1.1\r\nX-Big: " + std::string(17 * 1024, 'a') + "\r\n\r\n";
    EXPECT_EQ(parse(req).final_status, HttpParseStatus::kHeadTooLarge);
    EXPECT_EQ(parse(req, 1000).final_status, HttpParseStatus::kHeadTooLarge);
    std::string ok = "GET / HTTP/1.1\r\nX-Big: " + std::string(15 * 1024, 'a') + "\r\n\r\n";
    EXPECT_EQ(parse(ok).requests.size(), 1u);
  }

  TEST(HttpParser, ErrorIsFinal)
  {
    HttpParser p;
    std::string bad = "BAD\r\n\r\n";
    (void)p.feed(bad.data(), bad.size());
    ASSERT_EQ(p.status(), HttpParseStatus::kBadRequest);
    std::string good = "GET / HTTP/1.1\r\n\r\n";
    EXPECT_EQ(p.feed(good.data(), good.size()), 0u);
    EXPECT_EQ(p.status(), HttpParseStatus::kBadRequest);
  }

  TEST(HttpParser, ReportsIdleBetweenRequests)
  {
    HttpParser p;
    EXPECT_TRUE(p.is_between_requests());
    std::string half = "GET / HT";
    (void)p.feed(half.data(), half.size());
    EXPECT_FALSE(p.is_between_requests());
    std::string rest = "TP/1.1\r\n\r\n";
    (void)p.feed(rest.data(), rest.size());
    EXPECT_TRUE(p.is_between_requests());
  }
} // namespace
} // namespace iocore_cli
