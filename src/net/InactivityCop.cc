// InactivityCop: the periodic timeout walk of one net thread.
#include "net/InactivityCop.h"

#include "iocore/net/NetProcessor.h"

#include "net/NetHandler.h"
#include "net/NetStats.h"

namespace iocore {
InactivityCop::InactivityCop(NetHandler &nh) : Continuation(nh.mutex), _nh(nh)
{
  set_handler(&InactivityCop::check_inactivity);
}

int
InactivityCop::check_inactivity(int event, void *data)
{
  (void)event;
  (void)data;
  EThread &t                  = _nh.thread;
  ink_hrtime now              = EThread::get_hrtime();
  const ink_hrtime ka_timeout = net_config().keep_alive_no_activity_timeout_in;

  // Work from a fresh copy of the open list, popping as we go, so that a VC closed by a call-back
  // below is never visited again. Unlike ATS, poll activity does not take a VC off this list: a
  // connection busy every second would otherwise never have its active timeout checked (ATS 7.1
  // checked active timeouts only for the active queue at all; DrivenNet.ActiveTimeoutFiresDespiteTraffic).
  // Only connections with a deadline are ever signalled, so visiting all of them is cheap.
  while (UnixNetVConnection *vc = _nh.cop_list.dequeue()) {
    (void)vc;
  }
  for (UnixNetVConnection *vc = _nh.open_list.head(); vc; vc = _nh.open_list.next(vc)) {
    _nh.cop_list.enqueue(vc);
  }
  while (UnixNetVConnection *vc = _nh.cop_list.dequeue()) {
    MutexTryLock lock(vc->mutex, &t);
    if (!lock.is_locked()) {
      net_count(net_counters().inactivity_cop_lock_acquire_failure);
      continue; // busy: looked at again next period
    }
    if (vc->closed.load(std::memory_order_acquire)) {
      if (vc->recursion == 0) {
        lock.release();
        _nh.free_netvc(vc);
      }
      continue;
    }
    ink_hrtime in_at  = vc->next_inactivity_timeout_at.load(std::memory_order_relaxed);
    ink_hrtime act_at = vc->next_activity_timeout_at.load(std::memory_order_relaxed);
    if (ka_timeout > 0 && _nh.keep_alive_queue.in(vc) && vc->keep_alive_since + ka_timeout < now) {
      // An idle keep-alive connection past keep_alive_no_activity_timeout_in: closed through its
      // SM (or, with a VIO lock busy, left queued for the next period).
      (void)_nh.tell_to_go(vc, VC_EVENT_INACTIVITY_TIMEOUT);
    } else if (in_at != 0 && in_at < now) {
      vc->handleEvent(VC_EVENT_INACTIVITY_TIMEOUT, nullptr);
    } else if (act_at != 0 && act_at < now) {
      vc->handleEvent(VC_EVENT_ACTIVE_TIMEOUT, nullptr);
    }
  }
  _nh.manage_active_queue(nullptr, true);
  _nh.manage_keep_alive_queue();
  return EVENT_CONT;
}
} // namespace iocore
