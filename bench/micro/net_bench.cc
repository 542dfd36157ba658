// Net layer micro benchmarks, in process over loopback: bulk transfer through a pair of
// UnixNetVConnections (1 and 100 connections; 4 KiB and 32 KiB blocks; plain and TLS), connection rate
// (connect_re + accept + close), and the latency of a reenable made on a foreign thread.
#include "iocore/iocore.h"

#include "support/TestCerts.h"

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

using namespace iocore;

namespace {
/// Counts down to zero and wakes the benchmark thread.
class Latch
{
public:
  void reset(int n)
  {
    std::lock_guard<std::mutex> g(_m);
    _n = n;
  }
  void count_down()
  {
    std::lock_guard<std::mutex> g(_m);
    if (--_n <= 0) {
      _cv.notify_all();
    }
  }
  void wait()
  {
    std::unique_lock<std::mutex> g(_m);
    _cv.wait(g, [&] { return _n <= 0; });
  }

private:
  std::mutex _m;
  std::condition_variable _cv;
  int _n = 0;
};

struct NetRuntime {
  NetRuntime()
  {
    eventProcessor.start(2);
    netProcessor.start();
  }
  ~NetRuntime() { eventProcessor.shutdown(); }
};

NetRuntime &
runtime()
{
  static NetRuntime rt;
  return rt;
}

/// Reads and discards until EOS, then closes and counts down.
class Sink : public Continuation
{
public:
  Sink(Latch &done, int64_t index) : Continuation(new_ProxyMutex()), _done(done), _index(index) { set_handler(&Sink::handle); }
  ~Sink() override { free_MIOBuffer(_buf); }
  void start(NetVConnection *vc)
  {
    MutexLock lock(mutex, this_ethread());
    _vc     = vc;
    _buf    = new_MIOBuffer(_index);
    _reader = _buf->alloc_reader();
    _vio    = vc->do_io_read(this, INT64_MAX, _buf);
  }
  int handle(int event, void *)
  {
    if (event == VC_EVENT_READ_READY) {
      _reader->consume(_reader->read_avail());
      _vio->reenable();
      return EVENT_CONT;
    }
    _vc->do_io_close();
    _done.count_down();
    return EVENT_DONE;
  }

private:
  Latch &_done;
  int64_t _index;
  NetVConnection *_vc     = nullptr;
  MIOBuffer *_buf         = nullptr;
  IOBufferReader *_reader = nullptr;
  VIO *_vio               = nullptr;
};

/// Connects and writes `bytes` from a shared chunk, then closes.
class Source : public Continuation
{
public:
  Source(int64_t bytes, int64_t index, const std::string &chunk)
      : Continuation(new_ProxyMutex()), _bytes(bytes), _index(index), _chunk(chunk)
  {
    set_handler(&Source::handle);
  }
  ~Source() override
  {
    if (_buf) {
      free_MIOBuffer(_buf);
    }
  }
  int handle(int event, void *data)
  {
    switch (event) {
    case NET_EVENT_OPEN:
      _vc     = static_cast<NetVConnection *>(data);
      _buf    = new_MIOBuffer(_index);
      _reader = _buf->alloc_reader();
      top_up();
      _vio = _vc->do_io_write(this, _bytes, _reader);
      return EVENT_CONT;
    case VC_EVENT_WRITE_READY:
      top_up();
      _vio->reenable();
      return EVENT_CONT;
    default:
      if (_vc) {
        _vc->do_io_close();
      }
      return EVENT_DONE;
    }
  }

private:
  void top_up()
  {
    while (_queued < _bytes && _buf->write_avail() > 0) {
      int64_t n = std::min<int64_t>(static_cast<int64_t>(_chunk.size()), _bytes - _queued);
      _buf->write(_chunk.data(), n);
      _queued += n;
    }
  }
  int64_t _bytes;
  int64_t _index;
  const std::string &_chunk;
  int64_t _queued         = 0;
  NetVConnection *_vc     = nullptr;
  MIOBuffer *_buf         = nullptr;
  IOBufferReader *_reader = nullptr;
  VIO *_vio               = nullptr;
};

/// Hands each accepted connection to a new Sink.
class SinkAcceptor : public Continuation
{
public:
  SinkAcceptor(Latch &done, int64_t index) : _done(done), _index(index) { set_handler(&SinkAcceptor::handle); }
  int handle(int event, void *data)
  {
    if (event == NET_EVENT_ACCEPT) {
      auto s = std::make_unique<Sink>(_done, _index);
      s->start(static_cast<NetVConnection *>(data));
      std::lock_guard<std::mutex> g(_m);
      _sinks.push_back(std::move(s));
    }
    return EVENT_DONE;
  }
  void clear()
  {
    std::lock_guard<std::mutex> g(_m);
    _sinks.clear();
  }

private:
  Latch &_done;
  int64_t _index;
  std::mutex _m;
  std::vector<std::unique_ptr<Sink>> _sinks;
};

/// 64 MiB through `connections` connections of `processor` (plain or TLS), accepted with `opt`.
void
run_transfer(benchmark::State &state, NetProcessor &processor, NetProcessor::AcceptOptions opt, const NetVCOptions *copt)
{
  runtime();
  const int connections = static_cast<int>(state.range(0));
  const int64_t index   = state.range(1) == 4 ? BUFFER_SIZE_INDEX_4K : BUFFER_SIZE_INDEX_32K;
  const int64_t total   = int64_t{64} << 20;
  const int64_t per     = total / connections;
  std::string chunk(static_cast<std::size_t>(index_to_buffer_size(index)), 'b');
  Latch done;
  SinkAcceptor acceptor(done, index);
  opt.local_ip  = IpEndpoint::loopback(AF_INET);
  Action *a     = processor.accept(&acceptor, opt);
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(NetProcessor::accept_port(a)));
  for (auto _ : state) {
    done.reset(connections);
    std::vector<std::unique_ptr<Source>> sources;
    for (int i = 0; i < connections; ++i) {
      sources.push_back(std::make_unique<Source>(per, index, chunk));
      MutexLock lock(sources.back()->mutex, nullptr);
      processor.connect_re(sources.back().get(), &ep.sa, copt);
    }
    done.wait();
    state.PauseTiming();
    // Sources close on WRITE_COMPLETE, before the sinks see EOS: nothing touches them now.
    sources.clear();
    acceptor.clear();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * per * connections);
  a->cancel();
}

void
BM_LoopbackTransfer(benchmark::State &state)
{
  run_transfer(state, netProcessor, {}, nullptr);
}
BENCHMARK(BM_LoopbackTransfer)
    ->Args({1, 4})
    ->Args({1, 32})
    ->Args({100, 4})
    ->Args({100, 32})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

/// The same through TLS (TLS 1.3, the default cipher, a P-256 certificate; peer not verified):
/// what the handshake and the encryption cost next to BM_LoopbackTransfer.
void
BM_TLSLoopbackTransfer(benchmark::State &state)
{
  static iocore::test::TestPKI pki;
  static auto leaf = pki.issue("localhost", {"DNS:localhost"});
  TLSServerConfig cfg;
  cfg.certificates.push_back({leaf.cert_file, leaf.key_file, {}});
  NetProcessor::AcceptOptions opt;
  opt.tls_context = TLSServerContext::create(cfg);
  NetVCOptions copt;
  copt.verify_peer = false;
  run_transfer(state, sslNetProcessor, opt, &copt);
}
BENCHMARK(BM_TLSLoopbackTransfer)->Args({1, 32})->Args({100, 32})->Unit(benchmark::kMillisecond)->UseRealTime();

/// Accepts and closes at once.
class CloseAcceptor : public Continuation
{
public:
  explicit CloseAcceptor(Latch &done) : _done(done) { set_handler(&CloseAcceptor::handle); }
  int handle(int event, void *data)
  {
    if (event == NET_EVENT_ACCEPT) {
      static_cast<NetVConnection *>(data)->do_io_close();
      _done.count_down();
    }
    return EVENT_DONE;
  }

private:
  Latch &_done;
};

/// Opens, then closes as soon as it is open.
class Opener : public Continuation
{
public:
  explicit Opener(Latch &done) : Continuation(new_ProxyMutex()), _done(done) { set_handler(&Opener::handle); }
  int handle(int event, void *data)
  {
    if (event == NET_EVENT_OPEN) {
      static_cast<NetVConnection *>(data)->do_io_close();
    }
    _done.count_down();
    return EVENT_DONE;
  }

private:
  Latch &_done;
};

void
BM_ConnectionRate(benchmark::State &state)
{
  runtime();
  constexpr int kBatch = 200;
  Latch done;
  CloseAcceptor acceptor(done);
  NetProcessor::AcceptOptions opt;
  opt.local_ip  = IpEndpoint::loopback(AF_INET);
  Action *a     = netProcessor.accept(&acceptor, opt);
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(NetProcessor::accept_port(a)));
  for (auto _ : state) {
    done.reset(2 * kBatch);
    std::vector<std::unique_ptr<Opener>> openers;
    for (int i = 0; i < kBatch; ++i) {
      openers.push_back(std::make_unique<Opener>(done));
      MutexLock lock(openers.back()->mutex, nullptr);
      netProcessor.connect_re(openers.back().get(), &ep.sa);
    }
    done.wait();
    state.PauseTiming();
    for (auto &o : openers) {
      MutexLock lock(o->mutex, nullptr); // the last call-back has returned
    }
    openers.clear();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["connections/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch), benchmark::Counter::kIsRate);
  a->cancel();
}
BENCHMARK(BM_ConnectionRate)->Unit(benchmark::kMillisecond)->UseRealTime();

/// A reader whose buffer is full; a foreign thread consumes and reenables, and the READ_READY that
/// follows ends one measurement.
class StalledReader : public Continuation
{
public:
  StalledReader() : Continuation(new_ProxyMutex()) { set_handler(&StalledReader::handle); }
  ~StalledReader() override
  {
    if (buf) {
      free_MIOBuffer(buf);
    }
  }
  int handle(int event, void *data)
  {
    if (event == NET_EVENT_ACCEPT) {
      vc     = static_cast<NetVConnection *>(data);
      buf    = new_MIOBuffer(BUFFER_SIZE_INDEX_128);
      reader = buf->alloc_reader();
      vio    = vc->do_io_read(this, INT64_MAX, buf);
      return EVENT_DONE;
    }
    if (event == VC_EVENT_READ_READY) {
      std::lock_guard<std::mutex> g(m);
      ++ready;
      cv.notify_all();
    }
    return EVENT_DONE;
  }
  NetVConnection *vc     = nullptr;
  MIOBuffer *buf         = nullptr;
  IOBufferReader *reader = nullptr;
  VIO *vio               = nullptr;
  std::mutex m;
  std::condition_variable cv;
  int ready = 0;
};

void
BM_ForeignReenableLatency(benchmark::State &state)
{
  runtime();
  StalledReader reader;
  NetProcessor::AcceptOptions opt;
  opt.local_ip  = IpEndpoint::loopback(AF_INET);
  Action *a     = netProcessor.accept(&reader, opt);
  int fd        = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  IpEndpoint ep = IpEndpoint::loopback(AF_INET, static_cast<uint16_t>(NetProcessor::accept_port(a)));
  if (::connect(fd, &ep.sa, ep.size()) != 0) {
    state.SkipWithError("connect failed");
    return;
  }
  std::string lots(1 << 20, 'r'); // far more than the 128-byte buffer: every reenable finds data
  (void)!::send(fd, lots.data(), lots.size(), MSG_DONTWAIT);
  {
    std::unique_lock<std::mutex> g(reader.m);
    reader.cv.wait(g, [&] { return reader.ready > 0; });
  }
  for (auto _ : state) {
    int before;
    {
      std::lock_guard<std::mutex> g(reader.m);
      before = reader.ready;
    }
    auto t0 = std::chrono::steady_clock::now();
    {
      MutexLock lock(reader.mutex, nullptr); // a thread that is not the connection's
      reader.reader->consume(reader.reader->read_avail());
      reader.vio->reenable();
    }
    std::unique_lock<std::mutex> g(reader.m);
    reader.cv.wait(g, [&] { return reader.ready > before; });
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (state.iterations() % 4096 == 0) {
      (void)!::send(fd, lots.data(), lots.size(), MSG_DONTWAIT);
    }
  }
  {
    MutexLock lock(reader.mutex, nullptr);
    reader.vc->do_io_close();
  }
  ::close(fd);
  a->cancel();
}
BENCHMARK(BM_ForeignReenableLatency)->UseManualTime()->Unit(benchmark::kMicrosecond)->Iterations(2000);
} // namespace
