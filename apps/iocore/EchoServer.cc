// EchoSession: one client of `iocore echo`. The session shares the connection's mutex, so all its
// events arrive serialised on the connection's thread. Flow control is the buffer bound: a full
// buffer stops the read VIO, and each WRITE_READY (room made) re-enables it.
#include "EchoServer.h"

#include "AccessLog.h"
#include "BoundedBuffer.h"
#include "Listener.h"
#include "Log.h"
#include "Session.h"
#include "Stats.h"

namespace iocore_cli {
using namespace iocore;

namespace {
  constexpr int64_t kEchoBufferBytes = int64_t{32} * 1024;

  class EchoSession : public Session
  {
  public:
    explicit EchoSession(NetVConnection *vc) : Session(vc->mutex), _vc(vc), _start(ink_get_hrtime())
    {
      _client = endpoint_string(vc->get_remote_addr());
      set_handler(&EchoSession::handle_event);
    }

    void start(const CommonOptions &common)
    {
      apply_client_timeouts(_vc, common);
      _buf       = new_bounded_MIOBuffer(kEchoBufferBytes);
      _reader    = _buf->alloc_reader();
      _read_vio  = _vc->do_io_read(this, INT64_MAX, _buf);
      _write_vio = _vc->do_io_write(this, INT64_MAX, _reader);
    }

  private:
    int handle_event(int event, void *data)
    {
      if (handle_registry_event(event)) {
        return EVENT_DONE;
      }
      (void)data;
      switch (event) {
      case VC_EVENT_READ_READY:
        _write_vio->reenable();
        break;
      case VC_EVENT_WRITE_READY:
        if (!_read_eos) {
          _read_vio->reenable();
        }
        break;
      case VC_EVENT_EOS:
      case VC_EVENT_READ_COMPLETE:
        on_client_half_close();
        break;
      case VC_EVENT_WRITE_COMPLETE:
        // Everything received before the client's FIN is echoed: return the half-close.
        _vc->do_io_shutdown(IO_SHUTDOWN_WRITE);
        close(EndReason::kEof);
        break;
      case VC_EVENT_INACTIVITY_TIMEOUT:
      case VC_EVENT_ACTIVE_TIMEOUT:
        close(EndReason::kTimeout);
        break;
      case VC_EVENT_ERROR:
      default:
        close(EndReason::kError);
        break;
      }
      return EVENT_DONE;
    }

    void on_client_half_close()
    {
      _read_eos     = true;
      int64_t avail = _reader->read_avail();
      if (avail == 0) {
        _vc->do_io_shutdown(IO_SHUTDOWN_WRITE);
        close(EndReason::kEof);
        return;
      }
      _write_vio->set_nbytes(_write_vio->ndone + avail);
      _write_vio->reenable();
    }

    void on_drain_start() override {} // an echo has no natural boundary: let the client finish
    void on_force_close() override { close(EndReason::kDrain); }

    void close(EndReason why)
    {
      AccessRecord rec;
      rec.mode      = "echo";
      rec.client    = _client;
      rec.bytes_in  = _read_vio->ndone;
      rec.bytes_out = _write_vio->ndone;
      rec.duration  = ink_get_hrtime() - _start;
      rec.end       = why;
      if (why == EndReason::kError && _vc->lerrno != 0) {
        rec.detail = errno_name(_vc->lerrno);
      }
      stat_add(app_stats().echo_bytes, _write_vio->ndone);
      _vc->do_io_close();
      _vc = nullptr;
      free_MIOBuffer(_buf);
      log_message(LogLevel::kDebug, "echo %s closed (%s)", _client.c_str(), end_reason_name(why));
      write_access_log(rec);
      finish();
    }

    NetVConnection *_vc;
    MIOBuffer *_buf         = nullptr;
    IOBufferReader *_reader = nullptr;
    VIO *_read_vio          = nullptr;
    VIO *_write_vio         = nullptr;
    bool _read_eos          = false;
    ink_hrtime _start;
    std::string _client;
  };
} // namespace

void
start_echo_session(NetVConnection *vc, const CommonOptions &common)
{
  stat_add(app_stats().echo_connections_total);
  auto *s = new EchoSession(vc);
  SessionRegistry::instance().add(s);
  s->start(common);
}
} // namespace iocore_cli
