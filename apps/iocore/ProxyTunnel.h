// ProxyTunnel: one client of `iocore proxy`, ATS's picture of a proxy made real. The client VC
// (accepted) and the upstream VC (connected by this tunnel) are joined by two bounded buffers, one
// per direction: MIOBuffers at first; with --splice auto and plain TCP on both sides, a direction
// that shows bulk flow moves on to a pipe its bytes are spliced through without entering user space.
// VIO reenables are the only flow control either way, a half-close is propagated, and the tunnel
// ends when both directions are done.
#pragma once

#include "AccessLog.h"
#include "Session.h"
#include "TcpProxy.h"

#include <iocore/iocore.h>

#include <string>

namespace iocore_cli {
class ProxyTunnel : public Session
{
public:
  /// Called on the client's thread holding its mutex; the tunnel adopts that mutex, and connecting
  /// from the same thread gives the upstream VC the same mutex and thread: one lock, one thread.
  ProxyTunnel(iocore::NetVConnection *client, TcpProxyConfig &config);

  void start();

private:
  enum class Phase { kConnecting, kTunnelling, kClosed };

  /// How a direction moves its bytes. It starts buffered and may switch to splicing (see
  /// maybe_splice()): first its source's read goes into the pipe while the destination still writes
  /// what the buffer holds (kDraining), then, with the buffer empty, the destination writes from the
  /// pipe too and the buffer is freed (kSpliced). Never back.
  enum class Mode { kBuffered, kDraining, kSpliced };

  /// One direction: src's read VIO fills `buf`, dst's write VIO drains it through `reader`; or,
  /// spliced, both use `pipe` (buf and reader are then freed).
  struct Direction {
    iocore::MIOBuffer *buf         = nullptr;
    iocore::IOBufferReader *reader = nullptr;
    iocore::SplicePipe pipe; ///< opened when the direction switches
    Mode mode                  = Mode::kBuffered;
    bool no_splice             = false;   ///< a switch failed (no pipe): stay buffered
    iocore::VIO *read_vio      = nullptr; ///< on the source
    iocore::VIO *write_vio     = nullptr; ///< on the destination; nullptr once shut
    bool src_eos               = false;
    bool done                  = false; ///< everything forwarded and the destination half-closed
    int64_t read_before        = 0;     ///< bytes read by the source's earlier (buffered) read VIO
    int64_t counted            = 0;     ///< write_vio->ndone already added to the stats
    int64_t forwarded          = 0;     ///< bytes written to the destination, all write VIOs
    std::atomic<int64_t> *stat = nullptr;
  };

  int handle_event(int event, void *data);
  /// The direction whose `which` end is `vio` (&Direction::read_vio: the one whose source it reads;
  /// &Direction::write_vio: the one whose destination it writes), or nullptr.
  Direction *direction_of(const iocore::VIO *vio, iocore::VIO *Direction::*which);
  /// "client->upstream" or "upstream->client", for the log.
  const char *name_of(const Direction &d) const;
  iocore::NetVConnection *source_of(const Direction &d) const;
  iocore::NetVConnection *destination_of(const Direction &d) const;
  void connect_next();
  void on_open(iocore::NetVConnection *vc);
  void on_connect_failed(int err);
  /// Count and report a failed attempt on the current upstream.
  void note_upstream_failure(int err);
  /// Drop the upstream side as it stands (connect timer, pending connect, connection), closing the
  /// connection with err (-1: a normal close, as end() does).
  void abandon_attempt(int err);
  void confirm_upstream();
  void on_vc_event(int event, iocore::VIO *vio);
  /// A VIO of one side reported an error (a reset, mostly): end what goes towards that side, keep
  /// forwarding what it sent before, and end the tunnel once both directions are over.
  void on_side_failed(iocore::VIO *vio, bool upstream);
  /// Stop a direction for good: its destination takes nothing more, its source is not read.
  void abandon_direction(Direction &d);
  void on_source_eos(Direction &d);
  void apply_source_eos(Direction &d);
  void finish_direction(Direction &d);
  void account(Direction &d);
  void end(EndReason why, std::string detail = {});
  void destroy_if_closed();
  bool is_upstream_vio(const iocore::VIO *vio) const;

  /// Whether this client's directions may be spliced: --splice auto, and plain TCP to the client
  /// and the upstreams (a TLS byte stream must pass through OpenSSL).
  bool may_splice() const;
  /// After a read into d's buffer: when it shows bulk flow (the read left the buffer full, at least
  /// half a block waiting), open d's pipe and restart the source's read into it (kDraining). A pipe
  /// that cannot be made leaves d buffered for good.
  void maybe_splice(Direction &d);
  /// In kDraining, once the buffer is empty: restart the destination's write from the pipe (every
  /// byte the buffer held is written by then, so the pipe's bytes follow them in order) and free
  /// the buffer (kSpliced).
  void maybe_finish_switch(Direction &d);
  /// Bytes read from d's source and not yet written (buffer and pipe).
  int64_t buffered(const Direction &d) const;

  void on_drain_start() override {}
  void on_force_close() override;

  TcpProxyConfig &_config;
  Phase _phase                    = Phase::kConnecting;
  iocore::NetVConnection *_client = nullptr;
  iocore::NetVConnection *_server = nullptr;
  Direction _up;            ///< client -> upstream
  Direction _down;          ///< upstream -> client
  bool _may_splice = false; ///< may_splice(), and both connections on one thread

  // Connecting.
  int _attempt    = 0;
  uint64_t _first = 0;
  iocore::SocketAddress _upstream;
  bool _upstream_confirmed        = false; ///< the TCP handshake is known to have completed
  iocore::Action *_connect_action = nullptr;
  iocore::Event *_connect_timer   = nullptr;
  bool _in_connect_call           = false;
  int _inline_failure             = 0;
  int _last_error                 = 0;

  /// The first side failure ("upstream_ECONNRESET"), for the access log once the tunnel ends.
  std::string _error_detail;

  iocore::ink_hrtime _start;
  std::string _client_name;
};
} // namespace iocore_cli
