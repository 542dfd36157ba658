// An incremental HTTP/1.x request parser for `iocore http` and the /metrics endpoint. It is pure:
// feed it bytes in pieces of any size and it reports each complete request (head parsed, body
// read and discarded) or why the input is not acceptable. No I/O, no allocation beyond the head.
#pragma once

#include <cstddef>
#include <cstdint>
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

enum class HttpParseStatus {
  kNeedMore,        ///< all bytes given were consumed; the current request is not complete yet
  kMessageComplete, ///< a whole request (head and body) ended at the returned offset; see request()
  kBadRequest,      ///< malformed input: answer 400 and close
  kHeadTooLarge,    ///< the request line and headers exceed the limit: answer 431 and close
};

class HttpParser
{
public:
  static constexpr size_t kDefaultMaxHeadSize = size_t{16} * 1024;

  explicit HttpParser(size_t max_head_size = kDefaultMaxHeadSize) : _max_head_size(max_head_size) {}

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
  /// For kBadRequest: a short description of what was wrong (for the debug log and tests).
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
  bool fail(HttpParseStatus status, const char *reason);
  void start_next_request();

  size_t _max_head_size;
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
  bool _chunked           = false;
  bool _saw_te            = false;
  bool _conn_close        = false;
  bool _conn_keep_alive   = false;
  const char *_error      = ""; ///< a string literal
};
} // namespace iocore_cli
