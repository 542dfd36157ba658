// Unit tests of the `iocore http` request parser (apps/iocore/HttpParser.h): framing, keep-alive
// rules, pipelining, and the error cases (400, 405, 413, 431, 501, 505), fed whole and byte by byte.
#include "HttpParser.h"

#include <gtest/gtest.h>

#include <optional>
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
  Parsed parse(const std::string &input, size_t piece = 0, size_t max_head = HttpParser::kDefaultMaxHeadSize,
               std::optional<int64_t> max_body = std::nullopt)
  {
    HttpParser p(max_head, max_body);
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
    EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").requests.at(0).keep_alive);
    EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n").requests.at(0).keep_alive);
  }

  TEST(HttpParser, SkipsContentLengthBody)
  {
    Parsed r = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n", 2);
    ASSERT_EQ(r.requests.size(), 2u);
    EXPECT_EQ(r.requests[1].method, "GET");
  }

  TEST(HttpParser, SkipsChunkedBodyWithExtensionsAndTrailers)
  {
    std::string req = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n"
                      "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n";
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
             "GET / HTTP/1.10\r\nHost: a\r\n\r\n",
             "GET / HTTX/1.1\r\nHost: a\r\n\r\n",
             "GET / HTTP/1\r\nHost: a\r\n\r\n",
             "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
             " GET / HTTP/1.1\r\nHost: a\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
             "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
             "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
             "GET / HTTP/1.1\rX\r\nHost: a\r\n\r\n",
         }) {
      EXPECT_EQ(parse(bad).final_status, HttpParseStatus::kBadRequest) << bad;
      EXPECT_EQ(parse(bad, 1).final_status, HttpParseStatus::kBadRequest) << bad;
    }
  }

  TEST(HttpParser, OversizedHeadIs431)
  {
    std::string req = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(std::size_t{17} * 1024, 'a') + "\r\n\r\n";
    EXPECT_EQ(parse(req).final_status, HttpParseStatus::kHeadTooLarge);
    EXPECT_EQ(parse(req, 1000).final_status, HttpParseStatus::kHeadTooLarge);
    std::string ok = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(std::size_t{15} * 1024, 'a') + "\r\n\r\n";
    EXPECT_EQ(parse(ok).requests.size(), 1u);
  }

  TEST(HttpParser, ErrorIsFinal)
  {
    HttpParser p;
    std::string bad = "BAD\r\n\r\n";
    (void)p.feed(bad.data(), bad.size());
    ASSERT_EQ(p.status(), HttpParseStatus::kBadRequest);
    std::string good = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
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
    std::string rest = "TP/1.1\r\nHost: a\r\n\r\n";
    (void)p.feed(rest.data(), rest.size());
    EXPECT_TRUE(p.is_between_requests());
  }

  TEST(HttpParser, Http11NeedsExactlyOneValidHost)
  {
    EXPECT_EQ(parse("GET / HTTP/1.1\r\n\r\n").final_status, HttpParseStatus::kBadRequest);
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").final_status, HttpParseStatus::kBadRequest);
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a b\r\n\r\n").final_status, HttpParseStatus::kBadRequest);
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n").final_status, HttpParseStatus::kBadRequest);
    EXPECT_EQ(parse("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n").final_status, HttpParseStatus::kBadRequest);
    for (const char *ok : {"GET / HTTP/1.1\r\nhOsT: example.com:8080\r\n\r\n", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
                           "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET / HTTP/1.0\r\n\r\n"}) {
      EXPECT_EQ(parse(ok).requests.size(), 1u) << ok;
    }
  }

  TEST(HttpParser, UnsupportedVersionIs505)
  {
    for (const char *v : {"HTTP/9.9", "HTTP/2.0", "HTTP/0.9"}) {
      std::string req = std::string("GET / ") + v + "\r\nHost: a\r\n\r\n";
      EXPECT_EQ(parse(req).final_status, HttpParseStatus::kVersionNotSupported) << v;
      EXPECT_EQ(parse(req, 1).final_status, HttpParseStatus::kVersionNotSupported) << v;
    }
    EXPECT_EQ(parse("GET / HTTP/1.9\r\nHost: a\r\n\r\n").requests.at(0).version_minor, 9);
  }

  TEST(HttpParser, ConnectIs405AtItsRequestLine)
  {
    HttpParser p;
    std::string line = "CONNECT example.com:443 HTTP/1.1\r\n";
    EXPECT_EQ(p.feed(line.data(), line.size()), line.size());
    EXPECT_EQ(p.status(), HttpParseStatus::kMethodNotAllowed);
    EXPECT_EQ(parse(line + "Host: example.com:443\r\n\r\n", 1).final_status, HttpParseStatus::kMethodNotAllowed);
    EXPECT_EQ(parse("connect / HTTP/1.1\r\nHost: a\r\n\r\n").requests.size(), 1u); // methods are case-sensitive
  }

  TEST(HttpParser, LongMethodIs501AtItsThirtyThirdByte)
  {
    std::string longest(HttpParser::kMaxMethodLength, 'M');
    EXPECT_EQ(parse(longest + " / HTTP/1.1\r\nHost: a\r\n\r\n").requests.size(), 1u);
    EXPECT_EQ(parse(longest + " / HTTP/1.1\r\nHost: a\r\n\r\n", 1).requests.size(), 1u);
    std::string too_long = longest + "M / HTTP/1.1\r\nHost: a\r\n\r\n";
    EXPECT_EQ(parse(too_long).final_status, HttpParseStatus::kMethodTooLong);
    // Byte by byte, no line end needed: the verdict comes with the 33rd byte of the method.
    HttpParser p;
    for (size_t i = 0; i < too_long.size() && p.status() == HttpParseStatus::kNeedMore; ++i) {
      (void)p.feed(too_long.data() + i, 1);
      EXPECT_EQ(p.status(), i < HttpParser::kMaxMethodLength ? HttpParseStatus::kNeedMore : HttpParseStatus::kMethodTooLong) << i;
    }
    // A megabyte of method is 501, not 431: the method check comes before the head-size limit.
    EXPECT_EQ(parse(std::string(1 << 20, 'M')).final_status, HttpParseStatus::kMethodTooLong);
  }

  TEST(HttpParser, TlsClientHelloIsRefusedAtItsFirstByte)
  {
    const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03};
    HttpParser p;
    (void)p.feed(reinterpret_cast<const char *>(hello), 1);
    EXPECT_EQ(p.status(), HttpParseStatus::kBadRequest);
    EXPECT_EQ(parse(std::string(reinterpret_cast<const char *>(hello), sizeof(hello))).final_status, HttpParseStatus::kBadRequest);
    // Also a bad byte after a plausible start, and a CR that is not the end of the line.
    EXPECT_EQ(parse("GE\x01").final_status, HttpParseStatus::kBadRequest);
    EXPECT_EQ(parse("GET\rX").final_status, HttpParseStatus::kBadRequest);
    // A CR that may be the line's CRLF waits for the next byte, also as the method's 33rd byte.
    std::string longest(HttpParser::kMaxMethodLength, 'M');
    for (const char *next : {"X", "\n"}) {
      std::string input        = longest + "\r" + next;
      HttpParseStatus expected = next[0] == 'X' ? HttpParseStatus::kMethodTooLong : HttpParseStatus::kBadRequest;
      EXPECT_EQ(parse(input).final_status, expected) << next;
      EXPECT_EQ(parse(input, 1).final_status, expected) << next;
      EXPECT_EQ(parse(input, longest.size() + 1).final_status, expected) << next;
    }
    EXPECT_EQ(parse("\r").final_status, HttpParseStatus::kNeedMore);
    EXPECT_EQ(parse("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 1).requests.size(), 1u);
  }

  TEST(HttpParser, BodyOverTheLimitIs413BeforeItIsRead)
  {
    constexpr int64_t kLimit = 1 << 20;
    std::string head         = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000\r\n\r\n";
    HttpParser p(HttpParser::kDefaultMaxHeadSize, kLimit);
    std::string input = head + "some of the body";
    EXPECT_EQ(p.feed(input.data(), input.size()), head.size());
    EXPECT_EQ(p.status(), HttpParseStatus::kBodyTooLarge);
    // Exactly the limit is fine; no limit at all waits for the body.
    std::string at_limit = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(kLimit) + "\r\n\r\n";
    EXPECT_EQ(parse(at_limit + std::string(kLimit, 'b'), 0, HttpParser::kDefaultMaxHeadSize, kLimit).requests.size(), 1u);
    EXPECT_EQ(parse(head).final_status, HttpParseStatus::kNeedMore);
  }

  TEST(HttpParser, ChunkedBodyOverTheLimitIs413AtTheChunkThatCrossesIt)
  {
    std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    std::string ok   = head + "5\r\nhello\r\n5\r\nhello\r\n0\r\n\r\n";
    EXPECT_EQ(parse(ok, 0, HttpParser::kDefaultMaxHeadSize, 10).requests.size(), 1u);
    std::string over = head + "5\r\nhello\r\n6\r\n";
    for (size_t piece : {size_t{0}, size_t{1}}) {
      Parsed r = parse(over + "hello!\r\n0\r\n\r\n", piece, HttpParser::kDefaultMaxHeadSize, 10);
      EXPECT_EQ(r.final_status, HttpParseStatus::kBodyTooLarge);
      EXPECT_EQ(r.consumed, over.size());
    }
    // Huge chunk sizes do not overflow the running total.
    std::string huge = head + "fffffffffffffff\r\n";
    EXPECT_EQ(parse(huge, 0, HttpParser::kDefaultMaxHeadSize, 10).final_status, HttpParseStatus::kBodyTooLarge);
  }

  TEST(HttpParser, ReportsWhenAHeadIsInProgress)
  {
    HttpParser p;
    EXPECT_FALSE(p.is_in_head());
    std::string part = "P";
    (void)p.feed(part.data(), part.size());
    EXPECT_TRUE(p.is_in_head());
    std::string rest = "OST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n";
    (void)p.feed(rest.data(), rest.size());
    EXPECT_TRUE(p.is_in_head());
    std::string end = "\r\nab";
    (void)p.feed(end.data(), end.size());
    EXPECT_FALSE(p.is_in_head()); // in the body
    std::string last = "c";
    (void)p.feed(last.data(), last.size());
    EXPECT_EQ(p.status(), HttpParseStatus::kMessageComplete);
    EXPECT_FALSE(p.is_in_head());
  }

  TEST(HttpParser, ErrorStatusesMapToTheirAnswers)
  {
    EXPECT_EQ(error_status(HttpParseStatus::kBadRequest).code, 400);
    EXPECT_EQ(error_status(HttpParseStatus::kMethodNotAllowed).code, 405);
    EXPECT_EQ(error_status(HttpParseStatus::kBodyTooLarge).code, 413);
    EXPECT_EQ(error_status(HttpParseStatus::kHeadTooLarge).code, 431);
    EXPECT_EQ(error_status(HttpParseStatus::kMethodTooLong).code, 501);
    EXPECT_EQ(error_status(HttpParseStatus::kVersionNotSupported).code, 505);
    EXPECT_STREQ(error_status(HttpParseStatus::kVersionNotSupported).reason, "HTTP Version Not Supported");
    EXPECT_FALSE(is_error(HttpParseStatus::kNeedMore));
    EXPECT_FALSE(is_error(HttpParseStatus::kMessageComplete));
    EXPECT_TRUE(is_error(HttpParseStatus::kBodyTooLarge));
  }
} // namespace
} // namespace iocore_cli
