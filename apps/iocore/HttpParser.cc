// HttpParser: the request state machine. Strict where leniency would let two parsers disagree on
// where a message ends (Content-Length vs Transfer-Encoding, obs-fold, stray CR, CONNECT), lenient
// where it is harmless (bare LF line ends, empty lines before the request line). Whatever can be
// refused early is refused early: a bad or overlong method at its first wrong byte, an oversized
// body at the head, so that no hostile client is read (or waited for) longer than needed.
#include "HttpParser.h"

#include <algorithm>
#include <cstring>

namespace iocore_cli {
namespace {
  constexpr size_t kMaxChunkLine = 4096;

  bool is_tchar(unsigned char c)
  {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      return true;
    }
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
  }

  bool is_token(std::string_view s)
  {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
  }

  bool is_field_value_char(unsigned char c)
  {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  }

  bool iequals(std::string_view a, std::string_view b)
  {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
  }

  std::string_view trim_ows(std::string_view s)
  {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
      s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
      s.remove_suffix(1);
    }
    return s;
  }

  /// Call fn on each comma-separated element of a field value, trimmed, skipping empty ones.
  template <class Fn> void for_each_list_element(std::string_view value, Fn fn)
  {
    while (!value.empty()) {
      size_t comma          = value.find(',');
      std::string_view elem = trim_ows(value.substr(0, comma));
      if (!elem.empty()) {
        fn(elem);
      }
      if (comma == std::string_view::npos) {
        break;
      }
      value.remove_prefix(comma + 1);
    }
  }

  /// RFC 9112 2.3: HTTP-name "/" DIGIT "." DIGIT.
  bool is_http_version(std::string_view v)
  {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    return v.size() == 8 && v.substr(0, 5) == "HTTP/" && digit(v[5]) && v[6] == '.' && digit(v[7]);
  }

  /// A Host value is uri-host [":" port]: reg-name, IPv4 or IP-literal characters only (RFC 3986).
  bool is_host_value(std::string_view v)
  {
    return std::all_of(v.begin(), v.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             std::strchr("-._~%!$&'()*+,;=:[]", c) != nullptr;
    });
  }

  int hex_value(char c)
  {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  }
} // namespace

HttpStatusLine
error_status(HttpParseStatus s)
{
  switch (s) {
  case HttpParseStatus::kHeadTooLarge:
    return {431, "Request Header Fields Too Large"};
  case HttpParseStatus::kBodyTooLarge:
    return {413, "Content Too Large"};
  case HttpParseStatus::kMethodNotAllowed:
    return {405, "Method Not Allowed"};
  case HttpParseStatus::kMethodTooLong:
    return {501, "Not Implemented"};
  case HttpParseStatus::kVersionNotSupported:
    return {505, "HTTP Version Not Supported"};
  case HttpParseStatus::kBadRequest:
  case HttpParseStatus::kNeedMore:
  case HttpParseStatus::kMessageComplete:
    break;
  }
  return {400, "Bad Request"};
}

bool
HttpParser::fail(HttpParseStatus status, const char *reason)
{
  _state  = State::kError;
  _status = status;
  _error  = reason;
  return false;
}

void
HttpParser::start_next_request()
{
  _state           = State::kStartLine;
  _status          = HttpParseStatus::kNeedMore;
  _request         = HttpRequest{};
  _head_bytes      = 0;
  _remaining       = 0;
  _content_length  = -1;
  _body_size       = 0;
  _host_fields     = 0;
  _chunked         = false;
  _saw_te          = false;
  _conn_close      = false;
  _conn_keep_alive = false;
  _line.clear();
  _line_had_cr = false;
}

bool
HttpParser::take_line(const char *&p, const char *end, size_t limit, HttpParseStatus over_limit)
{
  const char *lf   = static_cast<const char *>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
  const char *stop = lf ? lf : end;
  size_t n         = static_cast<size_t>(stop - p);
  // Head-size accounting includes the line ends, so the limit is on bytes on the wire.
  size_t counted = n + (lf ? 1 : 0);
  if (_head_bytes + counted > limit) {
    p = end;
    return fail(over_limit, over_limit == HttpParseStatus::kHeadTooLarge ? "request head too large" : "line too long");
  }
  _head_bytes += counted;
  const char *start = p;
  p                 = lf ? lf + 1 : end;
  if (!lf) {
    _line.append(start, n); // the rest comes with a later feed()
    return false;
  }
  // A line that arrived whole is looked at where it is; only one split across feeds is copied.
  std::string_view line(start, n);
  if (!_line.empty()) {
    _line.append(start, n);
    line = _line;
  }
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (line.find('\r') != std::string_view::npos) {
    return fail(HttpParseStatus::kBadRequest, "stray CR in a line");
  }
  _cur = line;
  return true;
}

bool
HttpParser::check_method_prefix(const char *p, const char *stop)
{
  // Looks at the first kMaxMethodLength + 1 bytes of the request line: those already collected in
  // _line and the new ones up to `stop` (the LF, or the end of the data). Deciding on these bytes
  // alone, left to right, gives the same verdict however the line is split across feeds.
  constexpr size_t kWindow = kMaxMethodLength + 1;
  char window[kWindow];
  size_t n     = _line.copy(window, kWindow);
  size_t fresh = static_cast<size_t>(stop - p);
  size_t more  = std::min(kWindow - n, fresh);
  std::memcpy(window + n, p, more);
  std::string_view w(window, n + more);
  if (n == _line.size() && more == fresh && !w.empty() && w.back() == '\r') {
    // The last byte of the line so far: the CR of its CRLF (or a stray CR, judged when more comes).
    w.remove_suffix(1);
  }
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i] == ' ') {
      return i > 0 || fail(HttpParseStatus::kBadRequest, "bad method");
    }
    if (i >= kMaxMethodLength) {
      return fail(HttpParseStatus::kMethodTooLong, "method too long");
    }
    if (!is_tchar(static_cast<unsigned char>(w[i]))) {
      return fail(HttpParseStatus::kBadRequest, "bad method");
    }
  }
  return true;
}

bool
HttpParser::check_body_size(int64_t more)
{
  if (!_max_body_size) {
    return true;
  }
  if (more > *_max_body_size - _body_size) {
    return fail(HttpParseStatus::kBodyTooLarge, "request body over the limit");
  }
  _body_size += more;
  return true;
}

bool
HttpParser::on_start_line()
{
  if (_cur.empty()) {
    return true; // an empty line before the request line is ignored (RFC 9112 2.2)
  }
  std::string_view line = _cur;
  size_t sp1            = line.find(' ');
  size_t sp2            = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail(HttpParseStatus::kBadRequest, "request line is not METHOD SP TARGET SP VERSION");
  }
  std::string_view method  = line.substr(0, sp1);
  std::string_view target  = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) {
    return fail(HttpParseStatus::kBadRequest, "bad method");
  }
  if (target.empty() || !std::all_of(target.begin(), target.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u != 0x7f;
      })) {
    return fail(HttpParseStatus::kBadRequest, "bad request target");
  }
  if (!is_http_version(version)) {
    return fail(HttpParseStatus::kBadRequest, "malformed HTTP version");
  }
  if (version[5] != '1') {
    return fail(HttpParseStatus::kVersionNotSupported, "unsupported HTTP version");
  }
  if (method == "CONNECT") {
    return fail(HttpParseStatus::kMethodNotAllowed, "CONNECT to a server that is not a proxy");
  }
  _request.method        = std::string(method);
  _request.target        = std::string(target);
  _request.version_minor = version[7] - '0';
  _state                 = State::kHeaderLine;
  return true;
}

bool
HttpParser::on_header_line()
{
  std::string_view line = _cur;
  if (line.front() == ' ' || line.front() == '\t') {
    return fail(HttpParseStatus::kBadRequest, "obsolete line folding");
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return fail(HttpParseStatus::kBadRequest, "header line without ':'");
  }
  std::string_view name = line.substr(0, colon);
  if (!is_token(name)) {
    return fail(HttpParseStatus::kBadRequest, "bad header name");
  }
  std::string_view value = line.substr(colon + 1);
  if (!std::all_of(value.begin(), value.end(), [](char c) { return is_field_value_char(static_cast<unsigned char>(c)); })) {
    return fail(HttpParseStatus::kBadRequest, "control character in a header value");
  }
  value = trim_ows(value);

  if (iequals(name, "content-length")) {
    if (value.empty() || value.size() > 18 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return fail(HttpParseStatus::kBadRequest, "bad Content-Length");
    }
    int64_t n = 0;
    for (char c : value) {
      n = n * 10 + (c - '0');
    }
    if (_content_length >= 0 && _content_length != n) {
      return fail(HttpParseStatus::kBadRequest, "conflicting Content-Length headers");
    }
    _content_length = n;
  } else if (iequals(name, "host")) {
    if (++_host_fields > 1 || !is_host_value(value)) {
      return fail(HttpParseStatus::kBadRequest, _host_fields > 1 ? "more than one Host" : "bad Host");
    }
  } else if (iequals(name, "transfer-encoding")) {
    _saw_te              = true;
    bool last_is_chunked = false;
    bool ok              = true;
    for_each_list_element(value, [&](std::string_view coding) {
      if (last_is_chunked) {
        ok = false; // chunked must be the final coding, applied once
      }
      last_is_chunked = iequals(coding, "chunked");
    });
    if (!ok || !last_is_chunked) {
      return fail(HttpParseStatus::kBadRequest, "Transfer-Encoding without a final chunked");
    }
    _chunked = true;
  } else if (iequals(name, "connection")) {
    for_each_list_element(value, [&](std::string_view option) {
      if (iequals(option, "close")) {
        _conn_close = true;
      } else if (iequals(option, "keep-alive")) {
        _conn_keep_alive = true;
      }
    });
  }
  return true;
}

bool
HttpParser::on_head_end()
{
  if (_saw_te && _content_length >= 0) {
    return fail(HttpParseStatus::kBadRequest, "both Content-Length and Transfer-Encoding");
  }
  if (_saw_te && _request.version_minor == 0) {
    return fail(HttpParseStatus::kBadRequest, "Transfer-Encoding in an HTTP/1.0 request");
  }
  if (_request.version_minor >= 1 && _host_fields == 0) {
    return fail(HttpParseStatus::kBadRequest, "HTTP/1.1 request without Host"); // RFC 9112 3.2
  }
  if (_content_length > 0 && !check_body_size(_content_length)) {
    return false;
  }
  _request.keep_alive = !_conn_close && (_request.version_minor >= 1 || _conn_keep_alive);
  if (_chunked) {
    _state      = State::kChunkSize;
    _head_bytes = 0; // each chunk line, and the trailers, are limited on their own
  } else if (_content_length > 0) {
    _state     = State::kBodyLength;
    _remaining = _content_length;
  } else {
    _state  = State::kDone;
    _status = HttpParseStatus::kMessageComplete;
  }
  return true;
}

bool
HttpParser::on_chunk_size_line()
{
  std::string_view line = _cur;
  size_t i              = 0;
  int64_t size          = 0;
  while (i < line.size() && hex_value(line[i]) >= 0) {
    if (i >= 15) {
      return fail(HttpParseStatus::kBadRequest, "chunk size too large");
    }
    size = size * 16 + hex_value(line[i]);
    ++i;
  }
  if (i == 0) {
    return fail(HttpParseStatus::kBadRequest, "bad chunk size");
  }
  std::string_view rest = trim_ows(line.substr(i));
  if (!rest.empty() && rest.front() != ';') {
    return fail(HttpParseStatus::kBadRequest, "junk after chunk size");
  }
  if (!check_body_size(size)) {
    return false;
  }
  _head_bytes = 0;
  if (size == 0) {
    _state = State::kTrailer;
  } else {
    _state     = State::kChunkData;
    _remaining = size;
  }
  return true;
}

size_t
HttpParser::feed(const char *data, size_t len)
{
  if (_state == State::kError) {
    return 0;
  }
  if (_state == State::kDone) {
    start_next_request();
  }
  const char *p   = data;
  const char *end = data + len;
  while (p < end && _state != State::kDone && _state != State::kError) {
    switch (_state) {
    case State::kStartLine:
    case State::kHeaderLine:
      if (_state == State::kStartLine) {
        const char *lf = static_cast<const char *>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
        if (!check_method_prefix(p, lf ? lf : end)) {
          break;
        }
      }
      if (!take_line(p, end, _max_head_size, HttpParseStatus::kHeadTooLarge)) {
        break;
      }
      if (_state == State::kStartLine) {
        (void)on_start_line();
      } else if (_cur.empty()) {
        (void)on_head_end();
      } else {
        (void)on_header_line();
      }
      _line.clear();
      break;
    case State::kBodyLength: {
      int64_t n = std::min<int64_t>(_remaining, end - p);
      p += n;
      _remaining -= n;
      if (_remaining == 0) {
        _state  = State::kDone;
        _status = HttpParseStatus::kMessageComplete;
      }
      break;
    }
    case State::kChunkSize:
      if (!take_line(p, end, kMaxChunkLine, HttpParseStatus::kBadRequest)) {
        break;
      }
      (void)on_chunk_size_line();
      _line.clear();
      break;
    case State::kChunkData: {
      int64_t n = std::min<int64_t>(_remaining, end - p);
      p += n;
      _remaining -= n;
      if (_remaining == 0) {
        _state = State::kChunkDataEnd;
      }
      break;
    }
    case State::kChunkDataEnd:
      if (*p == '\r' && !_line_had_cr) {
        _line_had_cr = true;
        ++p;
      } else if (*p == '\n') {
        _line_had_cr = false;
        ++p;
        _state      = State::kChunkSize;
        _head_bytes = 0;
      } else {
        (void)fail(HttpParseStatus::kBadRequest, "chunk data not followed by CRLF");
      }
      break;
    case State::kTrailer:
      if (!take_line(p, end, _max_head_size, HttpParseStatus::kHeadTooLarge)) {
        break;
      }
      if (_cur.empty()) {
        _state  = State::kDone;
        _status = HttpParseStatus::kMessageComplete;
      } else if (_cur.front() == ' ' || _cur.front() == '\t' || _cur.find(':') == std::string_view::npos) {
        (void)fail(HttpParseStatus::kBadRequest, "bad trailer line");
      }
      _line.clear();
      break;
    case State::kDone:
    case State::kError:
      break;
    }
  }
  return static_cast<size_t>(p - data);
}
} // namespace iocore_cli
