// NetHandler: one per ET_NET thread, installed as the EThread's tail handler. Each loop iteration it
// takes its mutex, moves cross-thread reenables from the atomic enable lists to the ready lists,
// waits in the poller (no longer than the next timed event, woken at once through the thread's
// eventfd), marks what became ready, and runs the read and write ready lists until every VC has hit
// EAGAIN, filled its buffer, finished its VIO or been disabled.
#pragma once

#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/EThread.h"

#include "net/EventIO.h"
#include "net/IntrusiveList.h"
#include "net/Poller.h"
#include "net/UnixNetVConnection.h"

#include <memory>
#include <vector>

namespace iocore {
class NetAccept;
class InactivityCop;

namespace detail {
  struct ReadReadyLink {
    static ListLink<UnixNetVConnection> &get(UnixNetVConnection *vc) { return vc->read.ready_link; }
  };
  struct WriteReadyLink {
    static ListLink<UnixNetVConnection> &get(UnixNetVConnection *vc) { return vc->write.ready_link; }
  };
  struct OpenLink {
    static ListLink<UnixNetVConnection> &get(UnixNetVConnection *vc) { return vc->open_link; }
  };
  struct CopLink {
    static ListLink<UnixNetVConnection> &get(UnixNetVConnection *vc) { return vc->cop_link; }
  };
  struct KeepAliveLink {
    static ListLink<UnixNetVConnection> &get(UnixNetVConnection *vc) { return vc->keep_alive_link; }
  };
  struct ActiveLink {
    static ListLink<UnixNetVConnection> &get(UnixNetVConnection *vc) { return vc->active_link; }
  };
  struct ReadEnableNext {
    static UnixNetVConnection *&get(UnixNetVConnection *vc) { return vc->read.enable_next; }
  };
  struct WriteEnableNext {
    static UnixNetVConnection *&get(UnixNetVConnection *vc) { return vc->write.enable_next; }
  };
} // namespace detail

class NetHandler : public Continuation, public TailHandler
{
public:
  /// One of the two ready lists, chosen at run time (the IO steps are written once for both).
  class ReadyListRef
  {
  public:
    ReadyListRef(NetHandler &h, Direction d) : _h(h), _d(d) {}
    void in_or_enqueue(UnixNetVConnection *vc)
    {
      _d == Direction::kRead ? _h.read_ready_list.in_or_enqueue(vc) : _h.write_ready_list.in_or_enqueue(vc);
    }
    void remove(UnixNetVConnection *vc) { _d == Direction::kRead ? _h.read_ready_list.remove(vc) : _h.write_ready_list.remove(vc); }

  private:
    NetHandler &_h;
    Direction _d;
  };

  NetHandler(EThread &t, std::unique_ptr<Poller> poller);
  ~NetHandler() override;

  /// The tail handler: one network pass (ATS: waitForActivity).
  void wait_for_activity(ink_hrtime timeout) override;
  /// Move VCs reenabled from other threads onto the ready lists (called with the mutex held).
  void process_enabled_list();
  /// Run IO for every VC on the ready lists (called with the mutex held).
  void process_ready_list();

  /// Register the VC's socket with the poller. 0 or -errno.
  int start_io(UnixNetVConnection *vc);
  /// Unregister it and take it off the ready and enable lists.
  void stop_io(UnixNetVConnection *vc);
  /// Put the VC under the InactivityCop's watch (open_list).
  void start_cop(UnixNetVConnection *vc);
  /// Off the open list, cop list and both queues.
  void stop_cop(UnixNetVConnection *vc);
  /// Close and free a VC (ATS: close_UnixNetVConnection / free_netevent). Owner thread, mutex held.
  void free_netvc(UnixNetVConnection *vc);

  int register_accept(NetAccept *na, int fd);
  void unregister_accept(int fd);

  // Keep-alive and active queues (ATS: NetHandler::add_to_keep_alive_queue etc.).
  void add_to_keep_alive_queue(UnixNetVConnection *vc);
  void remove_from_keep_alive_queue(UnixNetVConnection *vc);
  bool add_to_active_queue(UnixNetVConnection *vc);
  void remove_from_active_queue(UnixNetVConnection *vc);
  /// Close the oldest keep-alive VCs while over the per-thread connection limit.
  void manage_keep_alive_queue();
  /// Close the oldest keep-alive VC (to make room for a new connection); false if there is none.
  bool evict_oldest_keep_alive();
  /// Tell a queued VC's SM to go (with `event`, a timeout), taking it off the keep-alive and
  /// active queues, if its locks can be had now; false (and still queued) if not.
  bool tell_to_go(UnixNetVConnection *vc, int event);
  /// tell_to_go with an inactivity timeout, counted as a keep-alive eviction.
  bool evict_keep_alive(UnixNetVConnection *vc);
  /// Make room in the active queue by closing timed-out VCs; true when there is room.
  bool manage_active_queue(UnixNetVConnection *enabling, bool ignore_queue_size);
  /// Wake the owning thread (any thread).
  void signal_activity() { thread.signal_activity(); }
  /// Push a VC reenabled from another thread and wake the owner.
  void push_enable(NetState &s, UnixNetVConnection *vc);

  ReadyListRef ready_list(Direction d) { return ReadyListRef(*this, d); }

  /// An IO attempt found its VIO's mutex busy (the VC stays on the ready list).
  void note_lock_miss() { ++_pass_lock_misses; }
  /// An IO syscall was made in this pass.
  void note_io() { ++_pass_io; }

  EThread &thread;
  std::unique_ptr<Poller> poller;

  IntrusiveList<UnixNetVConnection, detail::ReadReadyLink> read_ready_list;
  IntrusiveList<UnixNetVConnection, detail::WriteReadyLink> write_ready_list;
  IntrusiveList<UnixNetVConnection, detail::OpenLink> open_list;
  IntrusiveList<UnixNetVConnection, detail::CopLink> cop_list;
  IntrusiveList<UnixNetVConnection, detail::KeepAliveLink> keep_alive_queue;
  IntrusiveList<UnixNetVConnection, detail::ActiveLink> active_queue;
  AtomicStack<UnixNetVConnection, detail::ReadEnableNext> read_enable_list;
  AtomicStack<UnixNetVConnection, detail::WriteEnableNext> write_enable_list;

  int max_connections_per_thread_in = 0;
  int max_requests_per_thread_in    = 0;

  std::unique_ptr<InactivityCop> cop;
  Event *cop_event = nullptr;

  /// Listening sockets that became readable in this pass (accepted after the poll results are
  /// dispatched, so no user call-back runs while a batch of poll events is half processed).
  std::vector<NetAccept *> accept_ready;

private:
  void dispatch(const PollEvent &ev);
  void close_inline_or_defer(UnixNetVConnection *vc);

  void drain_enable_list(Direction d);
  template <class List> void run_ready(List &list, Direction d);

  /// NetConfig::poll_timeout_ms when the thread started: the longest wait in the poller (-1: none).
  ink_hrtime _max_poll_wait = -1;
  EventIO _signal_io;
  std::vector<PollEvent> _events;
  int _pass_lock_misses       = 0;
  int _pass_io                = 0;
  bool _prev_pass_only_missed = false;
};

/// The NetHandler of net thread t (nullptr if t is not a net thread).
NetHandler *get_NetHandler(EThread *t);
/// Create the NetHandler and InactivityCop of the calling thread t and make it t's tail handler.
void initialize_thread_for_net(EThread *t, std::unique_ptr<Poller> poller = nullptr);
} // namespace iocore
