// MetricsSession: read one request (HttpParser), answer it, close. GET or HEAD of /metrics gets the
// exposition (text/plain; version=0.0.4), any other path 404, malformed input 400.
#include "MetricsServer.h"

#include "HttpParser.h"
#include "Stats.h"

#include <string>

namespace iocore_cli {
using namespace iocore;

namespace {
  constexpr ink_hrtime kMetricsTimeout = HRTIME_SECONDS(10);

  class MetricsSession : public Continuation
  {
  public:
    MetricsSession(NetVConnection *vc, unsigned modes) : Continuation(vc->mutex), _vc(vc), _modes(modes)
    {
      set_handler(&MetricsSession::handle_event);
    }

    void start()
    {
      _vc->set_inactivity_timeout(kMetricsTimeout);
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
      while (_in_reader->read_avail() > 0) {
        int64_t avail = _in_reader->block_read_avail();
        if (avail <= 0) {
          _in_reader->consume(0);
          continue;
        }
        size_t used = _parser.feed(_in_reader->start(), static_cast<size_t>(avail));
        _in_reader->consume(static_cast<int64_t>(used));
        if (_parser.status() != HttpParseStatus::kNeedMore) {
          respond();
          return;
        }
      }
      _read_vio->reenable();
    }

    void respond()
    {
      _responded = true;
      std::string status, body;
      bool head = false;
      if (_parser.status() == HttpParseStatus::kMessageComplete) {
        const HttpRequest &req = _parser.request();
        head                   = req.is_head();
        if ((req.method == "GET" || head) && (req.target == "/metrics" || req.target.starts_with("/metrics?"))) {
          status = "200 OK";
          body   = render_prometheus(net_stats_snapshot(), app_stats(), _modes);
        } else {
          status = "404 Not Found";
          body   = "try GET /metrics\n";
        }
      } else {
        status = "400 Bad Request";
        body   = "Bad Request\n";
      }
      std::string msg = "HTTP/1.1 " + status + "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
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
start_metrics_session(NetVConnection *vc, unsigned modes)
{
  auto *s = new MetricsSession(vc, modes);
  s->start();
}
} // namespace iocore_cli
