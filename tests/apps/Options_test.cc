// Unit tests of the `iocore` command line (apps/iocore/Options.h): each rule of the contract, and
// that every error is one line naming the flag at fault.
#include "Options.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace iocore_cli {
namespace {
  ParseResult parse(std::initializer_list<const char *> args)
  {
    std::vector<const char *> argv{"iocore"};
    argv.insert(argv.end(), args.begin(), args.end());
    return parse_command_line(static_cast<int>(argv.size()), argv.data());
  }

  void expect_error(std::initializer_list<const char *> args, const std::string &mentions)
  {
    ParseResult r = parse(args);
    EXPECT_EQ(r.kind, ParseResult::Kind::kError) << mentions;
    EXPECT_NE(r.text.find(mentions), std::string::npos) << r.text;
    EXPECT_EQ(r.text.find('\n'), std::string::npos) << r.text;
  }

  TEST(Options, ParsesProxyWithEveryOption)
  {
    ParseResult r = parse({"proxy",
                           "--listen",
                           "127.0.0.1:0",
                           "--upstream",
                           "127.0.0.1:1,[::1]:2",
                           "--threads=3",
                           "--connect-timeout",
                           "0.5",
                           "--buffer-size",
                           "4K",
                           "--retries",
                           "0",
                           "--inactivity-timeout",
                           "7",
                           "--active-timeout",
                           "9",
                           "--max-connections",
                           "10",
                           "--stats",
                           "[::1]:0",
                           "--log-level",
                           "debug",
                           "--access-log",
                           "-",
                           "--drain-timeout",
                           "1.5",
                           "--splice",
                           "off"});
    ASSERT_EQ(r.kind, ParseResult::Kind::kRun) << r.text;
    const Options &o = r.options;
    EXPECT_EQ(o.mode, Mode::kProxy);
    EXPECT_EQ(o.listen.port(), 0);
    ASSERT_EQ(o.proxy.upstreams.size(), 2u);
    EXPECT_EQ(o.proxy.upstreams[1].family(), AF_INET6);
    EXPECT_EQ(o.common.threads, 3);
    EXPECT_EQ(o.proxy.connect_timeout, iocore::HRTIME_MSECONDS(500));
    EXPECT_EQ(o.proxy.buffer_size, 4096);
    EXPECT_EQ(o.proxy.retries, 0);
    EXPECT_EQ(o.common.max_connections, 10);
    EXPECT_EQ(o.common.log_level, LogLevel::kDebug);
    EXPECT_EQ(o.common.drain_timeout, iocore::HRTIME_MSECONDS(1500));
    EXPECT_FALSE(o.proxy.splice);
  }

  TEST(Options, Defaults)
  {
    ParseResult r = parse({"proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"});
    ASSERT_EQ(r.kind, ParseResult::Kind::kRun);
    EXPECT_EQ(r.options.proxy.connect_timeout, iocore::HRTIME_SECONDS(5));
    EXPECT_EQ(r.options.proxy.buffer_size, 32768);
    EXPECT_FALSE(r.options.proxy.retries.has_value());
    EXPECT_EQ(r.options.common.drain_timeout, iocore::HRTIME_SECONDS(10));
    EXPECT_TRUE(r.options.proxy.splice) << "--splice auto is the default";
  }

  TEST(Options, EveryModeHasTimeoutsByDefault)
  {
    for (auto args :
         {std::initializer_list<const char *>{"proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"},
          std::initializer_list<const char *>{"http", "--listen", "127.0.0.1:0"},
          std::initializer_list<const char *>{"echo", "--listen", "127.0.0.1:0"}, std::initializer_list<const char *>{"demo"}}) {
      ParseResult r = parse(args);
      ASSERT_EQ(r.kind, ParseResult::Kind::kRun) << r.text;
      EXPECT_EQ(r.options.common.inactivity_timeout, iocore::HRTIME_SECONDS(60));
      EXPECT_EQ(r.options.common.request_head_timeout, iocore::HRTIME_SECONDS(10));
      EXPECT_FALSE(r.options.common.active_timeout.has_value());
      EXPECT_EQ(r.options.http.max_body_size, 1 << 20);
    }
  }

  TEST(Options, TimeoutsAndBodyLimitCanBeChangedOrTurnedOff)
  {
    ParseResult r = parse({"http", "--listen", "127.0.0.1:0", "--inactivity-timeout", "0", "--request-head-timeout", "0.25",
                           "--max-body-size", "64K"});
    ASSERT_EQ(r.kind, ParseResult::Kind::kRun) << r.text;
    EXPECT_EQ(r.options.common.inactivity_timeout, 0);
    EXPECT_EQ(r.options.common.request_head_timeout, iocore::HRTIME_MSECONDS(250));
    EXPECT_EQ(r.options.http.max_body_size, 65536);
    r = parse({"http", "--listen", "127.0.0.1:0", "--request-head-timeout=0", "--max-body-size=0"});
    EXPECT_EQ(r.options.common.request_head_timeout, 0);
    EXPECT_EQ(r.options.http.max_body_size, 0);
    // The stats endpoint of every mode is an HTTP listener too.
    EXPECT_EQ(parse({"echo", "--listen", "127.0.0.1:0", "--request-head-timeout", "3"}).options.common.request_head_timeout,
              iocore::HRTIME_SECONDS(3));
    expect_error({"http", "--listen", "127.0.0.1:0", "--request-head-timeout", "soon"}, "--request-head-timeout");
    expect_error({"http", "--listen", "127.0.0.1:0", "--max-body-size", "big"}, "--max-body-size");
    expect_error({"echo", "--listen", "127.0.0.1:0", "--max-body-size", "1M"}, "--max-body-size");
  }

  TEST(Options, DescribesTheLimitsInForce)
  {
    EXPECT_EQ(describe_limits(parse({"http", "--listen", "127.0.0.1:0"}).options),
              "inactivity timeout 60s, active timeout none, request head timeout 10s, max body size 1048576");
    EXPECT_EQ(describe_limits(parse({"echo", "--listen", "127.0.0.1:0", "--inactivity-timeout", "0.5"}).options),
              "inactivity timeout 0.5s, active timeout none");
    EXPECT_EQ(describe_limits(parse({"http", "--listen", "127.0.0.1:0", "--inactivity-timeout", "0", "--active-timeout", "30",
                                     "--request-head-timeout", "0", "--max-body-size", "0"})
                                  .options),
              "inactivity timeout none, active timeout 30s, request head timeout none, max body size none");
  }

  TEST(Options, HttpBodyAndBodySize)
  {
    EXPECT_EQ(parse({"http", "--listen", "127.0.0.1:0", "--body", "hi"}).options.http.body, "hi");
    EXPECT_EQ(parse({"http", "--listen", "127.0.0.1:0", "--body-size", "64K"}).options.http.body_size, 65536);
    EXPECT_FALSE(parse({"http", "--listen", "127.0.0.1:0", "--body", "hi"}).options.http.body_size.has_value());
    expect_error({"http", "--listen", "127.0.0.1:0", "--body", "x", "--body-size", "3"}, "mutually exclusive");
  }

  TEST(Options, HelpAndVersion)
  {
    EXPECT_EQ(parse({"--help"}).kind, ParseResult::Kind::kHelp);
    EXPECT_EQ(parse({"--version"}).kind, ParseResult::Kind::kVersion);
    ParseResult r = parse({"proxy", "--help"});
    EXPECT_EQ(r.kind, ParseResult::Kind::kHelp);
    EXPECT_NE(r.text.find("--connect-timeout"), std::string::npos);
    EXPECT_NE(r.text.find("idle this long (default 60; 0: never)"), std::string::npos) << r.text;
    r = parse({"http", "--help"});
    EXPECT_NE(r.text.find("--request-head-timeout SEC"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("(default 10; 0: none)"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("--max-body-size BYTES"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("(default 1M; 0: no limit)"), std::string::npos) << r.text;
  }

  TEST(Options, ErrorsNameTheProblem)
  {
    expect_error({}, "missing mode");
    expect_error({"bogus"}, "unknown mode");
    expect_error({"echo", "--listen", "127.0.0.1:0", "--frobnicate"}, "--frobnicate");
    expect_error({"echo", "--listen", "localhost:80"}, "--listen");
    expect_error({"echo", "--listen", "127.0.0.1:99999"}, "--listen");
    expect_error({"echo"}, "--listen");
    expect_error({"proxy", "--listen", "127.0.0.1:0"}, "--upstream");
    expect_error({"proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:0"}, "--upstream");
    expect_error({"echo", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"}, "--upstream");
    expect_error({"echo", "--listen", "127.0.0.1:0", "--threads", "0"}, "--threads");
    expect_error({"echo", "--listen", "127.0.0.1:0", "--threads"}, "--threads");
    expect_error({"echo", "--listen", "127.0.0.1:0", "--log-level", "loud"}, "--log-level");
    expect_error({"echo", "--listen", "127.0.0.1:0", "--drain-timeout", "-1"}, "--drain-timeout");
    expect_error({"proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--connect-timeout", "0"}, "--connect-timeout");
    expect_error({"proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--buffer-size", "12x"}, "--buffer-size");
    expect_error({"proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--splice", "bogus"}, "--splice");
    expect_error({"echo", "--listen", "127.0.0.1:0", "--splice", "auto"}, "--splice");
    expect_error({"echo", "--listen", "127.0.0.1:0", "stray"}, "stray");
    expect_error({"demo", "--listen", "127.0.0.1:0"}, "--listen");
  }

  TEST(Options, ParseHelpers)
  {
    EXPECT_EQ(parse_seconds("0"), 0);
    EXPECT_EQ(parse_seconds("2.5"), iocore::HRTIME_MSECONDS(2500));
    EXPECT_FALSE(parse_seconds("-1"));
    EXPECT_FALSE(parse_seconds("1e3"));
    EXPECT_FALSE(parse_seconds(""));
    EXPECT_EQ(parse_size("1M"), 1 << 20);
    EXPECT_FALSE(parse_size("M"));
  }

  ParseResult parse_activated(std::initializer_list<const char *> args, int activated_fds)
  {
    std::vector<const char *> argv{"iocore"};
    argv.insert(argv.end(), args.begin(), args.end());
    return parse_command_line(static_cast<int>(argv.size()), argv.data(), activated_fds);
  }

  TEST(Options, UnixAddressesForListenAndUpstream)
  {
    ParseResult r = parse({"proxy", "--listen", "unix:/run/p.sock", "--upstream", "unix:@origin,127.0.0.1:80"});
    ASSERT_EQ(r.kind, ParseResult::Kind::kRun) << r.text;
    EXPECT_EQ(r.options.listen.to_string(), "unix:/run/p.sock");
    ASSERT_EQ(r.options.proxy.upstreams.size(), 2u);
    EXPECT_TRUE(r.options.proxy.upstreams[0].is_abstract());
    EXPECT_EQ(r.options.proxy.upstreams[1].port(), 80);
    std::string too_long = "unix:/" + std::string(iocore::SocketAddress::kMaxUnixPath, 'x');
    expect_error({"echo", "--listen", too_long.c_str()}, "sun_path");
    expect_error({"proxy", "--listen", "127.0.0.1:0", "--upstream", too_long.c_str()}, "sun_path");
    expect_error({"echo", "--listen", "unix:"}, "--listen");
    expect_error({"echo", "--stats", "unix:/x", "--listen", "127.0.0.1:0"}, "--stats");
  }

  TEST(Options, ListenOnAPassedDescriptor)
  {
    ParseResult r = parse({"echo", "--listen", "fd:5"});
    ASSERT_EQ(r.kind, ParseResult::Kind::kRun) << r.text;
    EXPECT_EQ(r.options.listen_fd, 5);
    expect_error({"echo", "--listen", "fd:"}, "--listen");
    expect_error({"echo", "--listen", "fd:-1"}, "--listen");
    expect_error({"echo", "--listen", "fd:3x"}, "--listen");
  }

  TEST(Options, SocketActivationStandsInForListen)
  {
    ParseResult r = parse_activated({"http"}, 1);
    ASSERT_EQ(r.kind, ParseResult::Kind::kRun) << r.text;
    EXPECT_EQ(r.options.listen_fd, kListenFdsStart);
    ParseResult explicit_listen = parse_activated({"http", "--listen", "127.0.0.1:0"}, 1);
    ASSERT_EQ(explicit_listen.kind, ParseResult::Kind::kRun);
    EXPECT_FALSE(explicit_listen.options.listen_fd) << "--listen wins over the passed socket";
    ParseResult two = parse_activated({"echo"}, 2);
    EXPECT_EQ(two.kind, ParseResult::Kind::kError);
    EXPECT_NE(two.text.find("LISTEN_FDS"), std::string::npos) << two.text;
    EXPECT_EQ(parse_activated({"echo"}, 0).kind, ParseResult::Kind::kError);
  }
} // namespace
} // namespace iocore_cli
