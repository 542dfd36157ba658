// MetricsSession: read one request (HttpParser), answer it, close. GET or HEAD of /metrics gets the
// exposition (text/plain; version=0.0.4), another method on it 405, any other path 404, and input
// the parser refuses its error answer (400, 405, 413, 431, 501, 505). The request must arrive
// within the request-head timeout (the connection's active timeout until the answer is written),
// so a scraper that trickles or never finishes is closed as in `iocore http`.
#include "MetricsServer.h"

#include "HttpParser.h"
#include "HttpParserFeed.h"
#include "Stats.h"

#include <string>

namespace iocore_cli {
using namespace iocore;

namespace {
  constexpr ink_hrtime kMetricsTimeout = HRTIME_SECONDS(10);
  /// A scrape has no body; anything larger than this is refused unread.
  constexpr int64_t kMaxRequestBody = 4096;

  class MetricsSession : public Continuation
  {
  public:
    MetricsSession(NetVConnection *vc, unsigned modes)
        : Continuation(vc->mutex), _vc(vc), _modes(modes), _parser(HttpParser::kDefaultMaxHeadSize, kMaxRequestBody)
    {
      set_handler(&MetricsSession::handle_event);
    }

    void start(ink_hrtime request_timeout)
    {
      _vc->set_inactivity_timeout(kMetricsTimeout);
      if (request_timeout > 0) {
        _vc->set_active_timeout(request_timeout);
      }
      _in         = new_MIOBuffer(BUFFER_SIZE_INDEX_4K);
      _in_reader  = _in->alloc_reader();
      _out        = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
      _out_reader = _out->alloc_reader();
      _read_vio   = _vc->do_io_read(this, INT64_MAX, _in);
    }

  private:
    int handle_event(int event, void *data)
    {
      (void)data;
      switch (event) {
      case VC_EVENT_READ_READY:
        on_input();
        break;
      case VC_EVENT_WRITE_READY:
        break;
      case VC_EVENT_WRITE_COMPLETE:
        _vc->do_io_shutdown(IO_SHUTDOWN_WRITE);
        close();
        return EVENT_DONE;
      case VC_EVENT_EOS:
        if (_responded) {
          break; // the client half-closed after its request: finish sending the answer
        }
        close();
        return EVENT_DONE;
      default: // errors, timeouts
        close();
        return EVENT_DONE;
      }
      return EVENT_DONE;
    }

    void on_input()
    {
      if (_responded) {
        _in_reader->consume(_in_reader->read_avail());
        _read_vio->reenable();
        return;
      }
      (void)feed_from_reader(_parser, _in_reader);
      if (_parser.status() != HttpParseStatus::kNeedMore) {
        respond();
        return;
      }
      _read_vio->reenable();
    }

    void respond()
    {
      _responded = true;
      _vc->cancel_active_timeout(); // the request is in; sending the answer is bounded by inactivity
      HttpStatusLine status{200, "OK"};
      std::string body;
      bool head = false;
      if (_parser.status() == HttpParseStatus::kMessageComplete) {
        const HttpRequest &req = _parser.request();
        head                   = req.is_head();
        if (req.target != "/metrics" && !req.target.starts_with("/metrics?")) {
          status = {404, "Not Found"};
          body   = "try GET /metrics\n";
        } else if (req.method == "GET" || head) {
          body = render_prometheus(net_stats_snapshot(), app_stats(), _modes);
        } else {
          status = {405, "Method Not Allowed"};
        }
      } else {
        status = error_status(_parser.status());
      }
      if (body.empty()) {
        body = std::string(status.reason) + "\n";
      }
      std::string msg =
          "HTTP/1.1 " + std::to_string(status.code) + " " + status.reason +
          "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
          (status.code == 405 ? "Allow: GET, HEAD\r\n" : "") + "Connection: close\r\n\r\n";
      if (!head) {
        msg += body;
      }
      _out->write(msg.data(), static_cast<int64_t>(msg.size()));
      _vc->do_io_write(this, static_cast<int64_t>(msg.size()), _out_reader);
      _read_vio->reenable();
    }

    void close()
    {
      _vc->do_io_close();
      free_MIOBuffer(_in);
      free_MIOBuffer(_out);
      delete this;
    }

    NetVConnection *_vc;
    unsigned _modes;
    MIOBuffer *_in              = nullptr;
    IOBufferReader *_in_reader  = nullptr;
    MIOBuffer *_out             = nullptr;
    IOBufferReader *_out_reader = nullptr;
    VIO *_read_vio              = nullptr;
    HttpParser _parser;
    bool _responded = false;
  };
} // namespace

void
start_metrics_session(NetVConnection *vc, unsigned modes, ink_hrtime request_timeout)
{
  auto *s = new MetricsSession(vc, modes);
  s->start(request_timeout);
}
} // namespace iocore_cli
