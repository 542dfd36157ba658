// HttpSession: one client connection of `iocore http`. Input is fed to HttpParser block by block;
// each complete request appends a whole response to the output buffer: the head, then the body,
// copied when small and otherwise as references to the config's shared read-only blocks (no copy,
// no allocation but the block headers). Output is bounded: parsing pauses while kMaxPendingOutput
// bytes wait to be sent, so a pipelining client that does not read makes the server hold at most
// that plus one response, and a response's body bytes are shared, not held per connection.
// Time is bounded too: the inactivity timeout covers idle keep-alive connections and bodies, and a
// request-head deadline (like nginx's client_header_timeout or HAProxy's timeout http-request)
// closes a client that trickles its head, however active it looks. The deadline runs from the
// connection's start for its first request, and from the first byte of each later request.
#include "HttpResponder.h"

#include "AccessLog.h"
#include "BoundedBuffer.h"
#include "HttpParser.h"
#include "HttpParserFeed.h"
#include "Listener.h"
#include "Log.h"
#include "Session.h"
#include "Stats.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace iocore_cli {
using namespace iocore;

namespace {
  constexpr int64_t kInputBufferBytes = 4096;
  constexpr int64_t kMaxPendingOutput = int64_t{64} * 1024;
  /// How long a closing connection keeps reading (and discarding) after its last response, so the
  /// client sees the response instead of a reset caused by its own unread bytes.
  constexpr ink_hrtime kLingerTimeout = HRTIME_SECONDS(2);
  /// Private event code of the request-head deadline timer.
  constexpr int kEventHeadTimeout = EVENT_USER_BASE + 201;

  /// The Date header value, formatted at most once per second per thread.
  const char *http_date()
  {
    thread_local time_t cached_at = 0;
    thread_local char value[64];
    time_t now = ::time(nullptr);
    if (now != cached_at) {
      tm tmv{};
      ::gmtime_r(&now, &tmv);
      std::strftime(value, sizeof(value), "%a, %d %b %Y %H:%M:%S GMT", &tmv);
      cached_at = now;
    }
    return value;
  }

  /// The three forms of the 200 head: HTTP/1.1 keep-alive (nothing to say), HTTP/1.0 keep-alive,
  /// and close.
  enum class OkHead { kKeepAlive11, kKeepAlive10, kClose, kCount };

  /// The 200 head for a body of content_length bytes, formatted once per second (its Date) per
  /// thread rather than per response.
  std::string_view ok_head(size_t content_length, OkHead form)
  {
    thread_local time_t built_at  = 0;
    thread_local size_t built_for = 0;
    thread_local std::array<std::string, static_cast<size_t>(OkHead::kCount)> heads;
    time_t now = ::time(nullptr);
    if (built_at != now || built_for != content_length || heads[0].empty()) {
      const char *date                           = http_date();
      static constexpr const char *kConnection[] = {"", "Connection: keep-alive\r\n", "Connection: close\r\n"};
      char head[256];
      for (size_t i = 0; i < heads.size(); ++i) {
        int n = std::snprintf(head, sizeof(head),
                              "HTTP/1.1 200 OK\r\nServer: iocore\r\nDate: %s\r\nContent-Type: text/plain\r\n"
                              "Content-Length: %zu\r\n%s\r\n",
                              date, content_length, kConnection[i]);
        heads[i].assign(head, static_cast<size_t>(n));
      }
      built_at  = now;
      built_for = content_length;
    }
    return heads[static_cast<size_t>(form)];
  }

  enum class Phase {
    kServing,   ///< parsing requests and answering them
    kClosing,   ///< no more requests: flush the output, then half-close
    kLingering, ///< output sent and write side shut: discard input until EOS or kLingerTimeout
    kClosed,    ///< the connection is closed; the session is destroyed when the handler returns
  };

  class HttpSession : public Session
  {
  public:
    HttpSession(NetVConnection *vc, const HttpResponderConfig &config)
        : Session(vc->mutex), _vc(vc), _config(config), _parser(HttpParser::kDefaultMaxHeadSize, config.max_body_size),
          _start(ink_get_hrtime())
    {
      set_handler(&HttpSession::handle_event);
    }

    void start()
    {
      apply_client_timeouts(_vc, _config.common);
      _in        = new_bounded_MIOBuffer(kInputBufferBytes);
      _in_reader = _in->alloc_reader();
      // Heads (and small bodies) are written here; shared body blocks are linked in between.
      _out                       = new_MIOBuffer(BUFFER_SIZE_INDEX_512);
      _out_reader                = _out->alloc_reader();
      _out->release_when_drained = true; // as the bounded input: nothing held at rest
      _read_vio                  = _vc->do_io_read(this, INT64_MAX, _in);
      _write_vio                 = _vc->do_io_write(this, INT64_MAX, _out_reader);
      update_head_deadline();
    }

  private:
    int handle_event(int event, void *data)
    {
      if (handle_registry_event(event)) {
        return EVENT_DONE;
      }
      (void)data;
      switch (event) {
      case kEventHeadTimeout:
        _head_timer = nullptr;
        on_head_timeout();
        break;
      case VC_EVENT_READ_READY:
        on_input();
        break;
      case VC_EVENT_WRITE_READY:
        on_output_room();
        break;
      case VC_EVENT_EOS:
      case VC_EVENT_READ_COMPLETE:
        on_client_eos();
        break;
      case VC_EVENT_WRITE_COMPLETE:
        on_output_flushed();
        break;
      case VC_EVENT_INACTIVITY_TIMEOUT:
      case VC_EVENT_ACTIVE_TIMEOUT:
        close(_phase == Phase::kLingering ? EndReason::kEof : EndReason::kTimeout);
        break;
      case VC_EVENT_ERROR:
      default:
        close(_phase == Phase::kLingering ? EndReason::kEof : EndReason::kError);
        break;
      }
      destroy_if_closed();
      return EVENT_DONE;
    }

    /// Closing happens deep inside call chains; the object (and its buffers) stays valid until the
    /// handler unwinds to here. Code after a possible close() checks _phase, never _vc.
    void destroy_if_closed()
    {
      if (_phase != Phase::kClosed) {
        return;
      }
      free_MIOBuffer(_in);
      free_MIOBuffer(_out);
      finish();
    }

    void on_input()
    {
      if (_phase == Phase::kLingering) {
        _in_reader->consume(_in_reader->read_avail());
        _read_vio->reenable();
        return;
      }
      if (_phase == Phase::kServing) {
        serve();
      }
    }

    void on_output_room()
    {
      if (_phase == Phase::kServing) {
        serve();
      }
    }

    void on_client_eos()
    {
      _read_eos = true;
      if (_phase == Phase::kLingering) {
        close(EndReason::kEof);
        return;
      }
      if (_phase == Phase::kServing) {
        serve(); // answer every complete request that arrived before the FIN
      }
      if (_phase == Phase::kServing) {
        begin_closing(); // whatever is left is an incomplete request that can never complete
      }
    }

    /// Parse and answer requests while there is input and the output is not backed up.
    void serve()
    {
      bool consumed = false;
      while (_phase == Phase::kServing && !_out_reader->is_read_avail_more_than(kMaxPendingOutput - 1)) {
        if (_in_reader->read_avail() <= 0) {
          break;
        }
        consumed = feed_from_reader(_parser, _in_reader) > 0 || consumed;
        if (_parser.status() == HttpParseStatus::kMessageComplete) {
          respond(_parser.request());
        } else if (is_error(_parser.status())) {
          HttpStatusLine answer = error_status(_parser.status());
          log_message(LogLevel::kDebug, "http %s: %d (%s)", endpoint_string(_vc->get_remote_addr()).c_str(), answer.code,
                      std::string(_parser.error_reason()).c_str());
          respond_error(answer);
        }
      }
      if (_out_reader->read_avail() > 0) {
        _write_vio->reenable();
      }
      if (_phase == Phase::kServing && consumed && !_read_eos) {
        _read_vio->reenable();
      }
      if (_phase == Phase::kServing && _read_eos && _in_reader->read_avail() == 0) {
        begin_closing();
      }
      update_head_deadline();
    }

    /// Whether the client owes a request head now: the first one from the start, a later one once
    /// its first byte has come (between requests only the inactivity timeout applies).
    bool is_awaiting_head() const
    {
      return _phase == Phase::kServing && (_parser.is_in_head() || (_requests == 0 && _parser.is_between_requests()));
    }

    /// Arm the head deadline when a head is owed, cancel it once the head is complete.
    void update_head_deadline()
    {
      bool awaiting = is_awaiting_head();
      if (awaiting && _head_timer == nullptr && _config.common.request_head_timeout > 0) {
        _head_timer = this_ethread()->schedule_in_local(this, _config.common.request_head_timeout, kEventHeadTimeout);
      } else if (!awaiting) {
        cancel_head_deadline();
      }
    }

    void cancel_head_deadline()
    {
      if (_head_timer != nullptr) {
        _head_timer->cancel();
        _head_timer = nullptr;
      }
    }

    /// The head did not come in time: 408 if part of it came (RFC 9110 15.5.9), else a silent close
    /// (as nginx does; a browser's unused pre-connection is no error to show).
    void on_head_timeout()
    {
      if (!is_awaiting_head()) {
        return;
      }
      _head_timed_out = true;
      if (!_parser.is_in_head()) {
        close(EndReason::kTimeout);
        return;
      }
      log_message(LogLevel::kDebug, "http %s: 408 (request head not complete in time)",
                  endpoint_string(_vc->get_remote_addr()).c_str());
      respond_error({408, "Request Timeout"});
    }

    void respond(const HttpRequest &req)
    {
      stat_add(app_stats().http_requests);
      stat_add(http_responses(app_stats(), 200));
      ++_requests;
      bool keep_alive       = req.keep_alive && !SessionRegistry::instance().is_draining();
      OkHead form           = !keep_alive ? OkHead::kClose : (req.version_minor == 0 ? OkHead::kKeepAlive10 : OkHead::kKeepAlive11);
      std::string_view head = ok_head(static_cast<size_t>(_config.body_size()), form);
      _out->write(head.data(), static_cast<int64_t>(head.size()));
      if (!req.is_head()) {
        if (IOBufferBlock *shared = _config.shared_body()) {
          _out->write(shared, _config.body_size());
        } else {
          const std::string &body = _config.small_body();
          _out->write(body.data(), static_cast<int64_t>(body.size()));
        }
      }
      if (!keep_alive) {
        begin_closing();
      }
    }

    /// Answer an error and close: the request cannot be (or was not) read to its end.
    void respond_error(HttpStatusLine answer)
    {
      stat_add(app_stats().http_requests);
      stat_add(http_responses(app_stats(), answer.code));
      ++_requests;
      char msg[512];
      // A 405 must say what is allowed (RFC 9110 15.5.6): any method but CONNECT is answered.
      const char *allow = answer.code == 405 ? "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS\r\n" : "";
      int n             = std::snprintf(msg, sizeof(msg),
                                        "HTTP/1.1 %d %s\r\nServer: iocore\r\nDate: %s\r\nContent-Type: text/plain\r\n"
                                                    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n%s\n",
                                        answer.code, answer.reason, http_date(), std::strlen(answer.reason) + 1, allow, answer.reason);
      _out->write(msg, n);
      _error_response = true;
      begin_closing();
    }

    /// Stop taking requests; close once the output (including the rest of a body) is sent.
    void begin_closing()
    {
      if (_phase != Phase::kServing) {
        return;
      }
      _phase = Phase::kClosing;
      set_final_write_size();
    }

    void set_final_write_size()
    {
      int64_t pending = _out_reader->read_avail();
      if (pending == 0) {
        on_output_flushed();
        return;
      }
      _write_vio->set_nbytes(_write_vio->ndone + pending);
      _write_vio->reenable();
    }

    void on_output_flushed()
    {
      if (_phase != Phase::kClosing) {
        return;
      }
      if (_read_eos && !_error_response) {
        close(EndReason::kEof);
        return;
      }
      // Half-close, then read and discard until the client closes too (lingering close).
      _bytes_out_at_shutdown = _write_vio->ndone;
      _vc->do_io_shutdown(IO_SHUTDOWN_WRITE);
      if (_read_eos) {
        close(EndReason::kEof);
        return;
      }
      _phase = Phase::kLingering;
      _vc->set_inactivity_timeout(kLingerTimeout);
      _vc->cancel_active_timeout();
      _vc->set_active_timeout(kLingerTimeout);
      _in_reader->consume(_in_reader->read_avail());
      _read_vio->reenable();
    }

    void on_drain_start() override
    {
      if (_phase == Phase::kServing && _parser.is_between_requests() && _in_reader->read_avail() == 0 &&
          _out_reader->read_avail() == 0) {
        _drained = true;
        begin_closing(); // an idle keep-alive connection: close it now
      }
      // Otherwise the response in progress carries "Connection: close" (respond() checks the drain).
      destroy_if_closed();
    }

    void on_force_close() override
    {
      close(EndReason::kDrain);
      destroy_if_closed();
    }

    void close(EndReason why)
    {
      if (_phase == Phase::kClosed) {
        return;
      }
      if (_drained && why == EndReason::kEof) {
        why = EndReason::kDrain;
      } else if (_head_timed_out && why == EndReason::kEof) {
        why = EndReason::kTimeout; // the lingering close after a 408
      }
      cancel_head_deadline();
      if (is_access_log_enabled()) {
        AccessRecord rec;
        rec.mode      = "http";
        rec.client    = endpoint_string(_vc->get_remote_addr()); // formatted here, not held per session
        rec.bytes_in  = _read_vio->ndone;
        rec.bytes_out = _phase == Phase::kLingering ? _bytes_out_at_shutdown : _write_vio->ndone;
        rec.duration  = ink_get_hrtime() - _start;
        rec.end       = why;
        rec.requests  = _requests;
        if (why == EndReason::kError && _vc->lerrno != 0) {
          rec.detail = errno_name(_vc->lerrno);
        }
        write_access_log(rec);
      }
      _vc->do_io_close();
      _vc        = nullptr;
      _read_vio  = nullptr;
      _write_vio = nullptr;
      _phase     = Phase::kClosed;
    }

    NetVConnection *_vc;
    const HttpResponderConfig &_config;
    MIOBuffer *_in              = nullptr;
    IOBufferReader *_in_reader  = nullptr;
    MIOBuffer *_out             = nullptr;
    IOBufferReader *_out_reader = nullptr;
    VIO *_read_vio              = nullptr;
    VIO *_write_vio             = nullptr;
    HttpParser _parser;
    Event *_head_timer             = nullptr; ///< the request-head deadline, while armed
    Phase _phase                   = Phase::kServing;
    bool _read_eos                 = false;
    bool _error_response           = false;
    bool _drained                  = false;
    bool _head_timed_out           = false;
    int64_t _requests              = 0;
    int64_t _bytes_out_at_shutdown = 0;
    ink_hrtime _start;
  };
} // namespace

void
HttpResponderConfig::configure(const Options &options)
{
  common        = options.common;
  max_body_size = options.http.max_body_size > 0 ? std::optional<int64_t>(options.http.max_body_size) : std::nullopt;
  if (options.http.body_size) {
    set_generated_body(*options.http.body_size);
  } else {
    set_body(options.http.body);
  }
}

template <class Fill>
void
HttpResponderConfig::share_body(int64_t size, Fill fill)
{
  // The blocks outlive this buffer through _shared_body and are never written again (a clone's
  // window ends at its data's end).
  MIOBuffer *buf    = new_MIOBuffer(buffer_size_to_index(size, BUFFER_SIZE_INDEX_2M));
  IOBufferReader *r = buf->alloc_reader();
  fill(buf);
  _shared_body = r->block;
  free_MIOBuffer(buf);
  _body_size = size;
}

void
HttpResponderConfig::set_body(std::string_view body)
{
  _shared_body.clear();
  _small_body.clear();
  _body_size = static_cast<int64_t>(body.size());
  if (body.size() <= kCopyBodyMax) {
    _small_body = body;
    return;
  }
  share_body(_body_size, [&](MIOBuffer *buf) { buf->write(body.data(), _body_size); });
}

void
HttpResponderConfig::set_generated_body(int64_t size)
{
  if (size <= static_cast<int64_t>(kCopyBodyMax)) {
    std::string body(static_cast<size_t>(size), 'x');
    if (!body.empty()) {
      body.back() = '\n';
    }
    set_body(body);
    return;
  }
  _small_body.clear();
  share_body(size, [size](MIOBuffer *buf) {
    char xs[4096];
    std::memset(xs, 'x', sizeof(xs));
    for (int64_t left = size - 1; left > 0;) {
      int64_t n = std::min<int64_t>(left, sizeof(xs));
      buf->write(xs, n);
      left -= n;
    }
    buf->write("\n", 1);
  });
}

void
start_http_session(NetVConnection *vc, const HttpResponderConfig &config)
{
  stat_add(app_stats().http_connections_total);
  auto *s = new HttpSession(vc, config);
  SessionRegistry::instance().add(s);
  s->start();
}
} // namespace iocore_cli
