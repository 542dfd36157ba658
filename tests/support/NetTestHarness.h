// Helpers for loopback net tests: an RAII net environment (event + net processors), a blocking
// socket peer with deadlines, an acceptor that hands each new connection to a test function, and
// VCTester, the NetVCTest-style endpoint that writes a known byte pattern, checks every byte it
// reads and records every event (ATS's iocore/net/NetVCTest.cc is the idea; this is our own).
#pragma once

#include "iocore/iocore.h"

#include "support/EventWaiter.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace iocore::test {
/// Starts eventProcessor (n threads) and netProcessor with test-friendly NetConfig tweaks, and shuts
/// everything down (restoring NetConfig) on destruction.
class NetEnvironment
{
public:
  explicit NetEnvironment(int threads = 2, const std::function<void(NetConfig &)> &configure = {});
  ~NetEnvironment();
  NetEnvironment(const NetEnvironment &)            = delete;
  NetEnvironment &operator=(const NetEnvironment &) = delete;

private:
  NetConfig _saved;
};

/// Wait for a condition that nothing signals (a counter, a gauge), re-checking every millisecond
/// until the deadline. True as soon as pred() holds.
bool eventually(const std::function<bool()> &pred, std::chrono::milliseconds deadline = std::chrono::seconds(10));

/// Returns once event thread t has finished a whole loop iteration begun after this call, so that
/// whatever IO pass was under way there is over (a VC that was mid-pass has gone on to EAGAIN).
/// False if that did not happen within the deadline.
bool settle(EThread *t, std::chrono::milliseconds deadline = std::chrono::seconds(10));

/// The expected byte at offset i of a test stream with the given seed.
inline uint8_t
pattern_byte(uint64_t i, uint8_t seed)
{
  return static_cast<uint8_t>((i * 131u + (i >> 8) * 7u + seed) & 0xff);
}
std::string pattern(uint64_t offset, std::size_t n, uint8_t seed);

/// Milliseconds from a to b.
inline double
ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b)
{
  return std::chrono::duration<double, std::milli>(b - a).count();
}

/// Whether fd is an open descriptor of this process.
bool is_open(int fd);

/// A plain blocking-with-deadline TCP peer (the "other side" the library talks to).
class SocketPeer
{
public:
  SocketPeer() = default;
  explicit SocketPeer(int fd) : _fd(fd) {}
  ~SocketPeer();
  SocketPeer(SocketPeer &&o) noexcept : _fd(o._fd) { o._fd = -1; }
  SocketPeer &operator=(SocketPeer &&o) noexcept;

  /// Connect to 127.0.0.1:port (or the given address). Empty optional on failure.
  static std::optional<SocketPeer> connect_to(uint16_t port);
  static std::optional<SocketPeer> connect_to(const IpEndpoint &ep);
  /// Connect to any address the library listens on (IP, or a Unix path or abstract name).
  static std::optional<SocketPeer> connect_to(const SocketAddress &addr);

  bool send_all(const std::string &data, std::chrono::milliseconds deadline = std::chrono::seconds(10));
  /// Read exactly n bytes (fewer only on EOF / error / deadline).
  std::string recv_exact(std::size_t n, std::chrono::milliseconds deadline = std::chrono::seconds(10));
  /// Read until EOF. `eof` tells whether EOF was seen before the deadline.
  std::string recv_until_eof(bool *eof = nullptr, std::chrono::milliseconds deadline = std::chrono::seconds(10));
  /// Wait until the other side's kernel has acknowledged every byte sent (our send queue is empty):
  /// from then on what we sent waits in its socket, whatever happens to this one.
  bool wait_acknowledged(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  /// Wait until the peer closes or resets: true if it did before the deadline.
  bool wait_closed(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  void shutdown_write();
  /// Close with SO_LINGER 0 so the kernel sends RST.
  void reset();
  void close();
  int fd() const { return _fd; }

private:
  int _fd = -1;
};

/// Sends msg and reads as many bytes back: true when the same bytes came back (an echo answered).
bool round_trip(SocketPeer &p, const std::string &msg);

/// A peer on 127.0.0.1:port with a small receive buffer that will never read: what is written to it
/// stays unacknowledged once its window is full.
SocketPeer connect_non_reading_peer(int port);

/// A listening plain socket (for tests where the library connects out).
class SocketListener
{
public:
  SocketListener();
  ~SocketListener();
  uint16_t port() const { return _port; }
  /// Accept one connection within the deadline.
  std::optional<SocketPeer> accept_one(std::chrono::milliseconds deadline = std::chrono::seconds(10));

private:
  int _fd        = -1;
  uint16_t _port = 0;
};

/// A port on 127.0.0.1 where nothing listens (bound, then closed).
uint16_t unused_port();

/// Accept options for listening on a Unix-domain socket path (or an abstract name: a leading '@').
NetProcessor::AcceptOptions unix_options(const std::string &path);

/// Accepts connections and calls `on_accept` on the connection's thread (under this continuation's
/// mutex when `serialised`, else under the VC's own mutex).
class TestAcceptor : public Continuation
{
public:
  using OnAccept = std::function<void(NetVConnection *)>;
  explicit TestAcceptor(OnAccept on_accept, bool serialised = true);
  int accept_event(int event, void *data);
  /// Start listening on 127.0.0.1 with the given options (port 0 unless set) through `processor`
  /// (sslNetProcessor for TLS). Returns the port.
  int listen(NetProcessor::AcceptOptions opt = {}, NetProcessor &processor = netProcessor);
  void stop();
  EventWaiter accepted;
  Action *action = nullptr;

private:
  OnAccept _on_accept;
};

/// One endpoint of a NetVCTest-style transfer.
struct VCTestSpec {
  int64_t write_bytes           = 0;         ///< bytes this side writes (0: no write VIO)
  int64_t read_nbytes           = INT64_MAX; ///< nbytes of the read VIO (0: no read VIO)
  int64_t buffer_index          = BUFFER_SIZE_INDEX_32K;
  int64_t water_mark            = 0;
  int64_t write_chunk           = INT64_MAX; ///< most bytes added per WRITE_READY (backpressure tests)
  bool shutdown_write_when_done = true;      ///< half-close after WRITE_COMPLETE
  bool close_in_callback        = true;      ///< do_io_close inside the final call-back
  uint8_t write_seed            = 1;
  uint8_t read_seed             = 2;
};

/// A spec for a NetVCTest-style transfer: how much this side writes, its read VIO's nbytes, the buffer
/// size index and the most bytes added per WRITE_READY.
VCTestSpec transfer_spec(int64_t write_bytes, int64_t read_nbytes, int64_t index = BUFFER_SIZE_INDEX_32K,
                         int64_t chunk = INT64_MAX);

class VCTester : public Continuation
{
public:
  explicit VCTester(VCTestSpec spec);
  ~VCTester() override;
  /// Begin on the connection's thread (from the accept / open call-back).
  void start(NetVConnection *vc);
  int handle(int event, void *data);

  /// Wait until both directions finished (or the VC failed).
  bool wait_done(std::chrono::milliseconds deadline = std::chrono::seconds(30)) { return done.wait_for(1, deadline); }

  VCTestSpec spec;
  NetVConnection *vc = nullptr;
  std::atomic<int64_t> bytes_read{0};
  std::atomic<int64_t> bytes_written{0};
  std::atomic<bool> data_mismatch{false};
  std::atomic<int> read_terminal{0};  ///< READ_COMPLETE / EOS / ERROR
  std::atomic<int> write_terminal{0}; ///< WRITE_COMPLETE / ERROR
  std::atomic<int> lerrno{0};
  std::atomic<bool> events_after_close{false};
  std::atomic<EThread *> first_thread{nullptr}; ///< the thread that started this end (start() or its first call-back)
  EventWaiter done;

  std::vector<int> events() const;

private:
  void fill_write_buffer();
  void drain_read_buffer();
  void maybe_finish();
  void record(int event);

  MIOBuffer *_rbuf       = nullptr;
  IOBufferReader *_rread = nullptr;
  MIOBuffer *_wbuf       = nullptr;
  IOBufferReader *_wread = nullptr;
  VIO *_read_vio         = nullptr;
  VIO *_write_vio        = nullptr;
  int64_t _queued        = 0; ///< bytes put into the write buffer so far
  bool _closed           = false;
  mutable std::mutex _events_mutex;
  std::vector<int> _events;
};
/// Starts a TLS connect of `client` to 127.0.0.1:port through sslNetProcessor (from the test thread).
void connect_tls(VCTester &client, int port, const NetVCOptions &opt);
} // namespace iocore::test
