// SpliceTunnel: the bookkeeping of two spliced directions (the bytes themselves are moved by the
// connections' splice steps, src/net/SpliceIO.cc). Each direction is a read VIO on its source and a
// write VIO on its destination sharing one pipe; their events reenable each other.
#include "iocore/net/SpliceTunnel.h"

#include "iocore/eventsystem/EThread.h"
#include "iocore/eventsystem/VIO.h"

#include <cerrno>
#include <cstdint>

namespace iocore {
SpliceTunnel::SpliceTunnel(Continuation *done, int64_t pipe_capacity)
    : Continuation(done->mutex), _done(done), _pipe_capacity(pipe_capacity)
{
  set_handler(&SpliceTunnel::handle_event);
}

SpliceTunnel::~SpliceTunnel() = default;

int
SpliceTunnel::start(NetVConnection *a, NetVConnection *b)
{
  if (!a->can_splice() || !b->can_splice()) {
    return -ENOTSUP;
  }
  // One pipe is filled by one connection's step and drained by the other's: its count is plain
  // owner-thread state, so both must run on the same thread.
  if (a->thread == nullptr || a->thread != b->thread || a->thread != this_ethread()) {
    return -EXDEV;
  }
  if (int r = _ab.pipe.open(_pipe_capacity); r < 0) {
    return r;
  }
  if (int r = _ba.pipe.open(_pipe_capacity); r < 0) {
    _ab.pipe.close();
    return r;
  }
  _ab.src       = a;
  _ab.dst       = b;
  _ba.src       = b;
  _ba.dst       = a;
  _ab.read_vio  = a->do_io_read_splice(this, INT64_MAX, &_ab.pipe);
  _ba.read_vio  = b->do_io_read_splice(this, INT64_MAX, &_ba.pipe);
  _ab.write_vio = b->do_io_write_splice(this, INT64_MAX, &_ab.pipe);
  _ba.write_vio = a->do_io_write_splice(this, INT64_MAX, &_ba.pipe);
  if (_ab.read_vio == nullptr || _ba.read_vio == nullptr || _ab.write_vio == nullptr || _ba.write_vio == nullptr) {
    stop(); // a connection closed under us (do_io_*_splice refuses a closed one)
    return -EINVAL;
  }
  return 0;
}

void
SpliceTunnel::stop()
{
  for (Direction *d : {&_ab, &_ba}) {
    stop_read(*d);
    stop_write(*d);
    d->pipe.close();
  }
}

SpliceTunnel::Counts
SpliceTunnel::counts(const Direction &d)
{
  Counts c = d.final;
  if (d.read_vio != nullptr) {
    c.read = d.read_vio->ndone;
  }
  if (d.write_vio != nullptr) {
    c.written = d.write_vio->ndone;
  }
  return c;
}

SpliceTunnel::Direction *
SpliceTunnel::direction_of(const VIO *vio, VIO *Direction::*which)
{
  return vio == nullptr ? nullptr : vio == _ab.*which ? &_ab : vio == _ba.*which ? &_ba : nullptr;
}

int
SpliceTunnel::handle_event(int event, void *data)
{
  auto *vio = static_cast<VIO *>(data);
  if (_end != End::kRunning) {
    return EVENT_DONE;
  }
  // Read events concern the direction whose source the VIO reads, write events the one whose
  // destination it writes.
  Direction *rd = direction_of(vio, &Direction::read_vio);
  Direction *wd = direction_of(vio, &Direction::write_vio);
  switch (event) {
  case VC_EVENT_READ_READY:
    if (rd != nullptr) {
      on_read_ready(*rd);
    }
    break;
  case VC_EVENT_WRITE_READY:
    if (wd != nullptr) {
      on_write_ready(*wd);
    }
    break;
  case VC_EVENT_EOS:
  case VC_EVENT_READ_COMPLETE:
    if (rd != nullptr) {
      on_source_eos(*rd);
    }
    break;
  case VC_EVENT_WRITE_COMPLETE:
    if (wd != nullptr) {
      finish_direction(*wd);
    }
    break;
  case VC_EVENT_INACTIVITY_TIMEOUT:
  case VC_EVENT_ACTIVE_TIMEOUT:
    _timeout_event = event;
    end(End::kTimeout);
    return EVENT_DONE; // the done continuation may have deleted the tunnel
  case VC_EVENT_ERROR:
  default:
    if (rd != nullptr || wd != nullptr) {
      on_side_failed(vio, rd != nullptr ? rd->src : wd->dst);
    }
    break;
  }
  if (_ab.done && _ba.done) {
    end(_failed != nullptr ? End::kError : End::kEof);
  }
  return EVENT_DONE;
}

void
SpliceTunnel::on_read_ready(Direction &d)
{
  if (d.write_vio != nullptr) {
    d.write_vio->reenable();
  }
}

void
SpliceTunnel::on_write_ready(Direction &d)
{
  if (d.read_vio != nullptr && !d.src_eos) {
    d.read_vio->reenable();
  }
}

void
SpliceTunnel::on_source_eos(Direction &d)
{
  d.src_eos = true;
  if (d.write_vio == nullptr) {
    return; // the destination failed: nothing more goes there
  }
  if (d.pipe.size() == 0) {
    finish_direction(d);
    return;
  }
  d.write_vio->set_nbytes(d.write_vio->ndone + d.pipe.size());
  d.write_vio->reenable();
}

void
SpliceTunnel::finish_direction(Direction &d)
{
  if (d.done) {
    return;
  }
  d.done = true;
  if (forget_vio(d.write_vio, d.final.written)) {
    d.dst->do_io_shutdown(IO_SHUTDOWN_WRITE);
  }
}

void
SpliceTunnel::on_side_failed(VIO *vio, NetVConnection *side)
{
  if (_failed == nullptr) {
    _failed       = side;
    _failed_errno = side->lerrno;
  }
  // The failed side (a reset, mostly) takes nothing more; what it sent before failing is still
  // forwarded: its read reports that data first and the error after.
  Direction &towards = side == _ab.dst ? _ab : _ba;
  Direction &from    = side == _ab.dst ? _ba : _ab;
  abandon_direction(towards);
  if (vio == from.read_vio) {
    on_source_eos(from);
  }
}

void
SpliceTunnel::abandon_direction(Direction &d)
{
  if (d.done) {
    return;
  }
  d.done = true;
  stop_write(d);
  if (!d.src_eos) {
    stop_read(d); // nothing read from there could go anywhere
  }
}

bool
SpliceTunnel::forget_vio(VIO *&vio, int64_t &count)
{
  if (vio == nullptr) {
    return false;
  }
  count = vio->ndone;
  vio   = nullptr;
  return true;
}

void
SpliceTunnel::stop_read(Direction &d)
{
  if (forget_vio(d.read_vio, d.final.read)) {
    d.src->do_io_read(nullptr, 0, nullptr);
  }
}

void
SpliceTunnel::stop_write(Direction &d)
{
  if (forget_vio(d.write_vio, d.final.written)) {
    d.dst->do_io_write(nullptr, 0, nullptr);
  }
}

void
SpliceTunnel::end(End why)
{
  if (_end != End::kRunning) {
    return;
  }
  _end = why;
  for (Direction *d : {&_ab, &_ba}) {
    stop_read(*d);
    stop_write(*d);
  }
  _done->handleEvent(SPLICE_TUNNEL_EVENT_DONE, this);
}
} // namespace iocore
