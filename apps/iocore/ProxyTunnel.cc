// ProxyTunnel: connecting with failover, then moving bytes both ways. Direction bookkeeping:
//   src READ_READY       -> dst write VIO reenable (data to send)
//   dst WRITE_READY      -> src read VIO reenable (room made; a full buffer had stopped the read)
//   src EOS              -> dst write VIO nbytes = what is buffered; at WRITE_COMPLETE dst SHUT_WR
// and, with --splice auto, the switch of a direction to splice(2) (HAProxy's splice-auto, in short):
//   src READ_READY leaving the buffer full -> src read restarted into the pipe (kDraining)
//   dst WRITE_READY with the buffer empty  -> dst write restarted from the pipe, buffer freed
// Small request/response traffic never fills a buffer, so it never pays for pipes and splice calls.
// "NET_EVENT_OPEN" only means the socket is connecting: the first event from the upstream VC that
// is not an error confirms the handshake; until then a refusal or timeout moves on to the next
// upstream without touching the client.
#include "ProxyTunnel.h"

#include "BoundedBuffer.h"
#include "Listener.h"
#include "Log.h"
#include "LogRateLimiter.h"
#include "Stats.h"

#include <algorithm>
#include <cerrno>

namespace iocore_cli {
using namespace iocore;

namespace {
  /// Private event code of the per-attempt connect timer.
  constexpr int kEventConnectTimeout = EVENT_USER_BASE + 101;
  /// At most one warning per upstream this often about its failed connects.
  constexpr ink_hrtime kUpstreamWarningInterval = HRTIME_SECONDS(10);
} // namespace

ProxyTunnel::ProxyTunnel(NetVConnection *client, TcpProxyConfig &config)
    : Session(client->mutex), _config(config), _client(client), _start(ink_get_hrtime())
{
  _client_name = endpoint_string(client->get_remote_addr());
  _up.stat     = &app_stats().proxy_bytes_client_to_upstream;
  _down.stat   = &app_stats().proxy_bytes_upstream_to_client;
  set_handler(&ProxyTunnel::handle_event);
}

void
ProxyTunnel::start()
{
  stat_add(app_stats().proxy_active_tunnels);
  apply_client_timeouts(_client, _config.common);
  _may_splice = may_splice();
  for (Direction *d : {&_up, &_down}) {
    d->buf    = new_bounded_MIOBuffer(_config.buffer_size); // holds no block until bytes come
    d->reader = d->buf->alloc_reader();
  }
  // Reading the client at once lets its first bytes wait in the (bounded) buffer during the
  // connect, and shows a client that gives up.
  _up.read_vio    = _client->do_io_read(this, INT64_MAX, _up.buf);
  _down.write_vio = _client->do_io_write(this, INT64_MAX, _down.reader);
  _first          = _config.next_upstream.fetch_add(1, std::memory_order_relaxed);
  connect_next();
  destroy_if_closed();
}

bool
ProxyTunnel::may_splice() const
{
  bool upstreams_tcp =
      std::all_of(_config.upstreams.begin(), _config.upstreams.end(), [](const SocketAddress &a) { return a.is_ip(); });
  return _config.splice && !_config.upstream_tls && upstreams_tcp && _client->can_splice() && !_client->unix_addresses;
}

void
ProxyTunnel::maybe_splice(Direction &d)
{
  // The rule: a read that leaves the buffer full, so that the source's read stops until the
  // destination takes some (no room left, more waiting than the water mark allows), with at least
  // half a block (about --buffer-size / 2) waiting. The source then sends a buffer's worth at once,
  // or faster than the destination takes it: bulk flow, where splice(2) saves a copy each way. A
  // request or a response well below the buffer's size never gets there, however many of them a
  // connection carries (the half block keeps out a small message that happens to fill the small
  // block the buffer moved it into).
  if (d.mode != Mode::kBuffered || d.no_splice || !_may_splice || _phase != Phase::kTunnelling || d.done || d.src_eos ||
      d.read_vio == nullptr || d.write_vio == nullptr) {
    return;
  }
  bool full = d.buf->current_write_avail() == 0 && d.buf->high_water();
  if (!full || d.reader->read_avail() < d.buf->block_size() / 2) {
    return;
  }
  const char *name = name_of(d);
  int r            = d.pipe.open(_config.buffer_size);
  if (r != 0) {
    d.no_splice = true;
    log_message(LogLevel::kDebug, "proxy %s: no pipe to splice %s (%s): it stays buffered", _client_name.c_str(), name,
                errno_name(-r).c_str());
    return;
  }
  // The source's bytes from now on go into the pipe, behind those in the buffer; the destination
  // goes on writing the buffer until it is empty (maybe_finish_switch). Done inside the buffered
  // read's own READ_READY, which the net layer hands over to the splice step.
  int64_t read_so_far = d.read_vio->ndone;
  VIO *v              = source_of(d)->do_io_read_splice(this, INT64_MAX, &d.pipe);
  if (v == nullptr) {
    d.pipe.close();
    d.no_splice = true;
    log_message(LogLevel::kDebug, "proxy %s: cannot splice %s: it stays buffered", _client_name.c_str(), name);
    return;
  }
  if (_up.mode == Mode::kBuffered && _down.mode == Mode::kBuffered) {
    stat_add(app_stats().proxy_spliced_tunnels); // the tunnel's first direction to switch
  }
  d.read_before += read_so_far;
  d.read_vio = v;
  d.mode     = Mode::kDraining;
  log_message(LogLevel::kDebug, "proxy %s: %s switches to splice after %lld bytes (%lld still buffered)", _client_name.c_str(),
              name, static_cast<long long>(d.read_before), static_cast<long long>(d.reader->read_avail()));
  maybe_finish_switch(d);
}

void
ProxyTunnel::maybe_finish_switch(Direction &d)
{
  if (d.mode != Mode::kDraining || d.done || d.write_vio == nullptr || d.reader->read_avail() > 0) {
    return;
  }
  account(d); // the buffered write's count, before the restart zeroes it
  int64_t in_pipe = d.pipe.size();
  if (d.src_eos && in_pipe == 0) {
    finish_direction(d); // the buffer was the last of it (it stays until the tunnel is destroyed)
    return;
  }
  // With the source at its end, the write is of exactly what the pipe holds: WRITE_COMPLETE then
  // half-closes the destination, as for a buffered direction.
  VIO *v = destination_of(d)->do_io_write_splice(this, d.src_eos ? in_pipe : INT64_MAX, &d.pipe);
  if (v == nullptr) {
    // Not expected (the destination is plain TCP, on this thread); the pipe's bytes could not go
    // anywhere, so the tunnel cannot go on.
    end(EndReason::kError, "splice_write_failed");
    return;
  }
  d.write_vio = v;
  d.counted   = 0;
  d.mode      = Mode::kSpliced;
  log_message(LogLevel::kDebug, "proxy %s: %s spliced both ends (%lld bytes in the pipe)", _client_name.c_str(), name_of(d),
              static_cast<long long>(in_pipe));
  // Neither VIO refers to the buffer any more: the direction's memory is its pipe from now on.
  free_MIOBuffer(d.buf);
  d.buf    = nullptr;
  d.reader = nullptr;
}

int64_t
ProxyTunnel::buffered(const Direction &d) const
{
  int64_t in_buffer = d.reader != nullptr ? d.reader->read_avail() : 0;
  return in_buffer + (d.mode == Mode::kBuffered ? 0 : d.pipe.size());
}

int
ProxyTunnel::handle_event(int event, void *data)
{
  if (handle_registry_event(event)) {
    return EVENT_DONE;
  }
  switch (event) {
  case NET_EVENT_OPEN:
    on_open(static_cast<NetVConnection *>(data));
    break;
  case NET_EVENT_OPEN_FAILED: {
    _connect_action = nullptr;
    auto err        = static_cast<int>(-reinterpret_cast<intptr_t>(data));
    on_connect_failed(err > 0 ? err : ECONNREFUSED);
    break;
  }
  case kEventConnectTimeout:
    _connect_timer = nullptr;
    on_connect_failed(ETIMEDOUT);
    break;
  default:
    on_vc_event(event, static_cast<VIO *>(data));
    break;
  }
  destroy_if_closed();
  return EVENT_DONE;
}

void
ProxyTunnel::connect_next()
{
  while (_phase == Phase::kConnecting) {
    if (_attempt >= _config.attempts) {
      stat_add(app_stats().proxy_no_upstream);
      log_message(LogLevel::kDebug, "proxy %s: no upstream answered", _client_name.c_str());
      end(EndReason::kError, "no_upstream_" + errno_name(_last_error ? _last_error : ECONNREFUSED));
      return;
    }
    size_t n  = _config.upstreams.size();
    _upstream = _config.upstreams[(_first + static_cast<uint64_t>(_attempt)) % n];
    ++_attempt;
    _upstream_confirmed = false;
    _inline_failure     = 0;

    NetProcessor &processor = _config.upstream_tls ? sslNetProcessor : netProcessor;
    _in_connect_call        = true;
    Action *a               = processor.connect_re(this, _upstream.sa(), &_config.upstream_options);
    _in_connect_call        = false;
    if (_inline_failure != 0) {
      note_upstream_failure(_inline_failure);
      continue;
    }
    if (a != ACTION_RESULT_DONE && a != nullptr && _server == nullptr) {
      _connect_action = a;
    }
    _connect_timer = this_ethread()->schedule_in_local(this, _config.connect_timeout, kEventConnectTimeout);
    return;
  }
}

void
ProxyTunnel::on_open(NetVConnection *vc)
{
  _connect_action = nullptr;
  if (_phase != Phase::kConnecting) {
    vc->do_io_close();
    return;
  }
  if (_may_splice && vc->thread != _client->thread) {
    // connect_re from a net thread keeps the connection on it, so this should not happen; a pipe
    // shared across threads would be a data race, so such a tunnel keeps its buffers. (No
    // direction splices before the upstream is confirmed, so none has switched yet.)
    log_message(LogLevel::kDebug, "proxy %s: upstream on another thread: no splice", _client_name.c_str());
    _may_splice = false;
  }
  _server = vc;
  _server->set_inactivity_timeout(_config.common.inactivity_timeout);
  _up.write_vio  = _server->do_io_write(this, INT64_MAX, _up.reader);
  _down.read_vio = _server->do_io_read(this, INT64_MAX, _down.buf);
  _up.counted    = 0;
}

void
ProxyTunnel::on_connect_failed(int err)
{
  if (_in_connect_call) {
    _inline_failure = err; // reported by connect_re itself; connect_next() moves on
    return;
  }
  if (_phase != Phase::kConnecting) {
    return;
  }
  note_upstream_failure(err);
  abandon_attempt(err);
  connect_next();
}

void
ProxyTunnel::note_upstream_failure(int err)
{
  // Refused, unreachable or timed out: counted here as in the net layer's connect_failures (which
  // sees the same attempts), logged per client at debug and per upstream, rate-limited, at warn.
  static LogRateLimiter limiter(kUpstreamWarningInterval);
  stat_add(app_stats().proxy_upstream_connect_failures);
  _last_error          = err;
  std::string upstream = _upstream.to_string();
  log_message(LogLevel::kDebug, "proxy %s: upstream %s failed: %s", _client_name.c_str(), upstream.c_str(),
              errno_name(err).c_str());
  int64_t held_back = 0;
  if (is_log_enabled(LogLevel::kWarn) && limiter.allow(upstream, ink_get_hrtime(), held_back)) {
    log_message(LogLevel::kWarn, "upstream %s: connect failed: %s (%lld more failure(s) since the last warning)", upstream.c_str(),
                errno_name(err).c_str(), static_cast<long long>(held_back));
  }
}

void
ProxyTunnel::abandon_attempt(int err)
{
  if (_connect_timer != nullptr) {
    _connect_timer->cancel();
    _connect_timer = nullptr;
  }
  if (_connect_action != nullptr) {
    _connect_action->cancel();
    _connect_action = nullptr;
  }
  if (_server != nullptr) {
    _server->do_io_close(err); // with the reason: the net layer counts the failed connect
    _server        = nullptr;
    _up.write_vio  = nullptr;
    _down.read_vio = nullptr;
  }
}

void
ProxyTunnel::confirm_upstream()
{
  _upstream_confirmed = true;
  _phase              = Phase::kTunnelling;
  if (_connect_timer != nullptr) {
    _connect_timer->cancel();
    _connect_timer = nullptr;
  }
  log_message(LogLevel::kDebug, "proxy %s: connected to %s", _client_name.c_str(), _upstream.to_string().c_str());
  if (_up.src_eos) {
    apply_source_eos(_up); // the client half-closed while we were connecting
  }
}

bool
ProxyTunnel::is_upstream_vio(const VIO *vio) const
{
  return _server != nullptr && vio != nullptr && (vio == _up.write_vio || vio == _down.read_vio);
}

void
ProxyTunnel::on_vc_event(int event, VIO *vio)
{
  if (_phase == Phase::kClosed) {
    return;
  }
  bool from_upstream = is_upstream_vio(vio);
  if (from_upstream && !_upstream_confirmed) {
    if (event == VC_EVENT_ERROR || event == VC_EVENT_INACTIVITY_TIMEOUT || event == VC_EVENT_ACTIVE_TIMEOUT) {
      int err = event == VC_EVENT_ERROR ? (_server->lerrno ? _server->lerrno : ECONNREFUSED) : ETIMEDOUT;
      on_connect_failed(err);
      return;
    }
    confirm_upstream();
  }

  // Both directions run the same steps: `reading` is the direction whose source the VIO reads,
  // `writing` the one whose destination it writes.
  Direction *reading = direction_of(vio, &Direction::read_vio);
  Direction *writing = direction_of(vio, &Direction::write_vio);
  switch (event) {
  case VC_EVENT_READ_READY:
    if (reading != nullptr) {
      if (reading->write_vio != nullptr) {
        reading->write_vio->reenable();
      }
      maybe_splice(*reading);
    }
    break;
  case VC_EVENT_WRITE_READY:
    if (writing != nullptr) {
      account(*writing);
      if (writing->read_vio != nullptr && !writing->src_eos) {
        writing->read_vio->reenable();
      }
      maybe_finish_switch(*writing);
    }
    break;
  case VC_EVENT_EOS:
  case VC_EVENT_READ_COMPLETE:
    if (reading != nullptr) {
      on_source_eos(*reading);
    }
    break;
  case VC_EVENT_WRITE_COMPLETE:
    if (writing != nullptr) {
      finish_direction(*writing);
    }
    break;
  case VC_EVENT_INACTIVITY_TIMEOUT:
  case VC_EVENT_ACTIVE_TIMEOUT:
    end(EndReason::kTimeout, event == VC_EVENT_ACTIVE_TIMEOUT ? "active" : "inactivity");
    break;
  case VC_EVENT_ERROR:
  default:
    on_side_failed(vio, from_upstream);
    break;
  }
}

ProxyTunnel::Direction *
ProxyTunnel::direction_of(const VIO *vio, VIO *Direction::*which)
{
  if (vio == nullptr) {
    return nullptr;
  }
  return vio == _up.*which ? &_up : vio == _down.*which ? &_down : nullptr;
}

const char *
ProxyTunnel::name_of(const Direction &d) const
{
  return &d == &_up ? "client->upstream" : "upstream->client";
}

NetVConnection *
ProxyTunnel::source_of(const Direction &d) const
{
  return &d == &_up ? _client : _server;
}

NetVConnection *
ProxyTunnel::destination_of(const Direction &d) const
{
  return &d == &_up ? _server : _client;
}

void
ProxyTunnel::on_side_failed(VIO *vio, bool upstream)
{
  NetVConnection *who = upstream ? _server : _client;
  int err             = who != nullptr ? who->lerrno : 0;
  if (_error_detail.empty()) {
    _error_detail = (upstream ? "upstream_" : "client_") + (err ? errno_name(err) : std::string("error"));
  }
  // The failed side (a reset, mostly) takes nothing more: the direction towards it ends here,
  // with what it had not taken yet. What it sent before failing is still forwarded: its read side
  // reports that data first and its end after (at once, when the error came on the read side).
  Direction &towards = upstream ? _up : _down;
  Direction &from    = upstream ? _down : _up;
  abandon_direction(towards);
  if (vio == from.read_vio) {
    on_source_eos(from);
  }
  if (_up.done && _down.done) {
    end(EndReason::kError, _error_detail);
  }
}

void
ProxyTunnel::abandon_direction(Direction &d)
{
  if (d.done) {
    return;
  }
  account(d);
  d.done               = true;
  NetVConnection *src  = source_of(d);
  NetVConnection *dest = destination_of(d);
  if (d.write_vio != nullptr && dest != nullptr) {
    dest->do_io_write(nullptr, 0, nullptr);
  }
  if (d.read_vio != nullptr && src != nullptr && !d.src_eos) {
    src->do_io_read(nullptr, 0, nullptr); // nothing read from here could go anywhere
  }
  d.write_vio = nullptr;
}

void
ProxyTunnel::on_source_eos(Direction &d)
{
  d.src_eos = true;
  if (&d == &_up && !_upstream_confirmed) {
    return; // applied once the upstream is confirmed
  }
  apply_source_eos(d);
}

void
ProxyTunnel::apply_source_eos(Direction &d)
{
  if (d.write_vio == nullptr) {
    return;
  }
  if (d.mode == Mode::kDraining) {
    // The buffered write goes on to the buffer's end; the switch then writes just what the pipe
    // holds (maybe_finish_switch), or finishes the direction at once if it holds nothing.
    maybe_finish_switch(d);
    if (d.mode == Mode::kDraining && d.write_vio != nullptr) {
      d.write_vio->reenable();
    }
    return;
  }
  int64_t avail = buffered(d);
  if (avail == 0) {
    finish_direction(d);
    return;
  }
  d.write_vio->set_nbytes(d.write_vio->ndone + avail);
  d.write_vio->reenable();
}

void
ProxyTunnel::finish_direction(Direction &d)
{
  if (d.done || _phase == Phase::kClosed) {
    return;
  }
  account(d);
  d.done = true;
  destination_of(d)->do_io_shutdown(IO_SHUTDOWN_WRITE);
  d.write_vio = nullptr;
  if (_up.done && _down.done) {
    end(_error_detail.empty() ? EndReason::kEof : EndReason::kError, _error_detail);
  }
}

void
ProxyTunnel::account(Direction &d)
{
  if (d.write_vio == nullptr) {
    return;
  }
  int64_t delta = d.write_vio->ndone - d.counted;
  if (delta > 0) {
    stat_add(*d.stat, delta);
    d.counted = d.write_vio->ndone;
    d.forwarded += delta;
  }
}

void
ProxyTunnel::on_force_close()
{
  end(EndReason::kDrain);
  destroy_if_closed();
}

void
ProxyTunnel::end(EndReason why, std::string detail)
{
  if (_phase == Phase::kClosed) {
    return;
  }
  bool confirmed = _upstream_confirmed;
  account(_up);
  account(_down);
  AccessRecord rec;
  rec.mode      = "proxy";
  rec.client    = _client_name;
  rec.upstream  = confirmed ? _upstream.to_string() : "-";
  rec.bytes_in  = _up.read_before + (_up.read_vio != nullptr ? _up.read_vio->ndone : 0);
  rec.bytes_out = _down.forwarded;
  rec.duration  = ink_get_hrtime() - _start;
  rec.end       = why;
  rec.detail    = std::move(detail);

  _phase = Phase::kClosed;
  abandon_attempt(-1); // the upstream side, whatever state it is in; -1: a normal close
  _client->do_io_close();
  _client      = nullptr;
  _up.read_vio = _up.write_vio = _down.read_vio = _down.write_vio = nullptr;
  write_access_log(rec);
}

void
ProxyTunnel::destroy_if_closed()
{
  if (_phase != Phase::kClosed) {
    return;
  }
  stat_add(app_stats().proxy_active_tunnels, -1);
  for (Direction *d : {&_up, &_down}) {
    if (d->buf != nullptr) {
      free_MIOBuffer(d->buf);
      d->buf    = nullptr;
      d->reader = nullptr;
    }
    d->pipe.close(); // the connections are closed: no splice step can touch the pipes any more
  }
  finish();
}
} // namespace iocore_cli
