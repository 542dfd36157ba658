// An incremental HTTP/1.x request parser for `iocore http` and the /metrics endpoint. It is pure:
// feed it bytes in pieces of any size and it reports each complete request (head parsed, body
// read and discarded) or why the input is not acceptable, as early as the bytes allow (a TLS
// ClientHello fails at its first byte, an oversized body at its head). No I/O, no allocation
// beyond the head.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iocore_cli {
/// What the parser knows of the request it last completed.
struct HttpRequest {
  std::string method;
  std::string target;
  int version_minor = 1; ///< HTTP/1.<minor>
  bool keep_alive   = true;

  bool is_head() const { return method == "HEAD"; }
};

/// Every status after kMessageComplete is an error: final, answered with error_status() and a close.
enum class HttpParseStatus {
  kNeedMore,            ///< all bytes given were consumed; the current request is not complete yet
  kMessageComplete,     ///< a whole request (head and body) ended at the returned offset; see request()
  kBadRequest,          ///< malformed input, or an HTTP/1.1 request without exactly one valid Host: 400
  kHeadTooLarge,        ///< the request line and headers exceed the limit: 431
  kBodyTooLarge,        ///< the body is over the limit, known from Content-Length or a chunk size: 413
  kMethodNotAllowed,    ///< CONNECT: this is no proxy, and what follows its head is not HTTP: 405
  kMethodTooLong,       ///< a method longer than any this server implements (RFC 9112 3): 501
  kVersionNotSupported, ///< a well-formed HTTP-version whose major is not 1 (e.g. HTTP/2.0): 505
};

inline bool
is_error(HttpParseStatus s)
{
  return s != HttpParseStatus::kNeedMore && s != HttpParseStatus::kMessageComplete;
}

/// The answer to an error status: code and reason phrase (a string literal).
struct HttpStatusLine {
  int code;
  const char *reason;
};
HttpStatusLine error_status(HttpParseStatus s);

class HttpParser
{
public:
  static constexpr size_t kDefaultMaxHeadSize = size_t{16} * 1024;
  /// Longer method tokens are refused with 501 as soon as their 33rd byte arrives (the longest
  /// registered method, UPDATEREDIRECTREF, has 17).
  static constexpr size_t kMaxMethodLength = 32;

  /// max_body_size: the largest request body accepted (Content-Length, or chunk sizes summed);
  /// unset: no limit. A larger one is refused before any of it is read.
  explicit HttpParser(size_t max_head_size = kDefaultMaxHeadSize, std::optional<int64_t> max_body_size = std::nullopt)
      : _max_head_size(max_head_size), _max_body_size(max_body_size)
  {
  }

  /// Consume bytes of the stream and return how many were used. Stops right after a complete
  /// request (status() == kMessageComplete), so the caller can answer before feeding the rest; the
  /// next feed() starts the next request. After an error status() stays that error and nothing more
  /// is consumed.
  size_t feed(const char *data, size_t len);

  HttpParseStatus status() const { return _status; }
  /// The request last completed (valid while status() == kMessageComplete).
  const HttpRequest &request() const { return _request; }
  /// True when no byte of a next request has been seen (an idle keep-alive connection).
  bool is_between_requests() const { return (_state == State::kStartLine && _head_bytes == 0) || _state == State::kDone; }
  /// True while part of a request head has been received but not all of it (what a request-head
  /// deadline covers; the body and the idle time between requests are not).
  bool is_in_head() const { return (_state == State::kStartLine && _head_bytes > 0) || _state == State::kHeaderLine; }
  /// For an error status: a short description of what was wrong (for the debug log and tests).
  std::string_view error_reason() const { return _error; }

private:
  enum class State {
    kStartLine,    ///< request line (skipping empty lines before it)
    kHeaderLine,   ///< header fields until the empty line
    kBodyLength,   ///< Content-Length body
    kChunkSize,    ///< chunk-size [; extensions] CRLF
    kChunkData,    ///< chunk bytes
    kChunkDataEnd, ///< the CRLF after a chunk's bytes
    kTrailer,      ///< trailer fields after the last chunk
    kDone,         ///< request complete; the next feed() resets
    kError,
  };

  /// Take bytes up to and including LF; true when a whole line is there, in _cur (CR/LF removed).
  /// A line split across feeds is collected in _line.
  bool take_line(const char *&p, const char *end, size_t limit, HttpParseStatus over_limit);
  bool on_start_line();
  bool on_header_line();
  bool on_head_end();
  bool on_chunk_size_line();
  bool check_method_prefix(const char *p, const char *stop);
  bool check_body_size(int64_t more);
  bool fail(HttpParseStatus status, const char *reason);
  void start_next_request();

  size_t _max_head_size;
  std::optional<int64_t> _max_body_size;
  State _state            = State::kStartLine;
  HttpParseStatus _status = HttpParseStatus::kNeedMore;
  HttpRequest _request;
  /// The part of a line received so far when it is split across feed() calls.
  std::string _line;
  /// The line take_line() just completed (CR/LF removed): in the caller's data or in _line, valid
  /// until feed() returns.
  std::string_view _cur;
  bool _line_had_cr       = false;
  size_t _head_bytes      = 0; ///< bytes of the current head (request line, headers, trailers)
  int64_t _remaining      = 0; ///< body or chunk bytes still to skip
  int64_t _content_length = -1;
  int64_t _body_size      = 0; ///< chunk sizes announced so far
  int _host_fields        = 0;
  bool _chunked           = false;
  bool _saw_te            = false;
  bool _conn_close        = false;
  bool _conn_keep_alive   = false;
  const char *_error      = ""; ///< a string literal
};
} // namespace iocore_cli
