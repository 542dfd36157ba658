// IO buffer micro benchmarks: MIOBuffer write + consume throughput with 4 KiB and 32 KiB chunks,
// moving data between buffers by sharing blocks (write(IOBufferReader*)) against copying it, and a
// std::vector<char> ring buffer as the baseline in the same run.
#include "iocore/eventsystem/IOBuffer.h"

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

using namespace iocore;

namespace {
/// The baseline: a fixed-capacity byte ring over std::vector<char>.
class VectorRing
{
public:
  explicit VectorRing(std::size_t capacity) : _buf(capacity) {}
  std::size_t write(const char *p, std::size_t n)
  {
    n = std::min(n, _buf.size() - _size);
    for (std::size_t done = 0; done < n;) {
      std::size_t tail  = (_head + _size) % _buf.size();
      std::size_t chunk = std::min(n - done, _buf.size() - tail);
      std::memcpy(_buf.data() + tail, p + done, chunk);
      done += chunk;
      _size += chunk;
    }
    return n;
  }
  /// Drop n bytes without copying them out.
  std::size_t consume(std::size_t n)
  {
    n     = std::min(n, _size);
    _head = (_head + n) % _buf.size();
    _size -= n;
    return n;
  }
  /// Move n bytes into `to` (one copy, as a flat buffer must).
  std::size_t move_to(VectorRing &to, std::size_t n)
  {
    n = std::min(n, _size);
    for (std::size_t done = 0; done < n;) {
      std::size_t chunk = std::min(n - done, _buf.size() - _head);
      chunk             = to.write(_buf.data() + _head, chunk);
      done += chunk;
      consume(chunk);
    }
    return n;
  }
  std::size_t read(char *p, std::size_t n)
  {
    n = std::min(n, _size);
    for (std::size_t done = 0; done < n;) {
      std::size_t chunk = std::min(n - done, _buf.size() - _head);
      std::memcpy(p + done, _buf.data() + _head, chunk);
      done += chunk;
      _head = (_head + chunk) % _buf.size();
      _size -= chunk;
    }
    return n;
  }

private:
  std::vector<char> _buf;
  std::size_t _head = 0;
  std::size_t _size = 0;
};

void
BM_MIOBufferWriteConsume(benchmark::State &state)
{
  const auto chunk = static_cast<std::size_t>(state.range(0));
  std::string data(chunk, 'd');
  MIOBuffer *b      = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
  IOBufferReader *r = b->alloc_reader();
  for (auto _ : state) {
    b->write(data.data(), static_cast<int64_t>(chunk));
    benchmark::DoNotOptimize(r->start());
    r->consume(r->read_avail());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(chunk));
  free_MIOBuffer(b);
}
BENCHMARK(BM_MIOBufferWriteConsume)->Arg(4096)->Arg(32768);

void
BM_VectorRingWriteConsume(benchmark::State &state)
{
  const auto chunk = static_cast<std::size_t>(state.range(0));
  std::string data(chunk, 'd');
  VectorRing ring(std::size_t{2} * 32768);
  for (auto _ : state) {
    ring.write(data.data(), chunk);
    benchmark::DoNotOptimize(ring.consume(chunk));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(chunk));
}
BENCHMARK(BM_VectorRingWriteConsume)->Arg(4096)->Arg(32768);

void
BM_MIOBufferWriteRead(benchmark::State &state)
{
  const auto chunk = static_cast<std::size_t>(state.range(0));
  std::string data(chunk, 'd');
  std::string out(chunk, '\0');
  MIOBuffer *b      = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
  IOBufferReader *r = b->alloc_reader();
  for (auto _ : state) {
    b->write(data.data(), static_cast<int64_t>(chunk));
    r->read(out.data(), static_cast<int64_t>(chunk));
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(chunk));
  free_MIOBuffer(b);
}
BENCHMARK(BM_MIOBufferWriteRead)->Arg(4096)->Arg(32768);

void
BM_VectorRingWriteRead(benchmark::State &state)
{
  const auto chunk = static_cast<std::size_t>(state.range(0));
  std::string data(chunk, 'd');
  std::string out(chunk, '\0');
  VectorRing ring(std::size_t{2} * 32768);
  for (auto _ : state) {
    ring.write(data.data(), chunk);
    ring.read(out.data(), chunk);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(chunk));
}
BENCHMARK(BM_VectorRingWriteRead)->Arg(4096)->Arg(32768);

/// Moving what one buffer holds into another: sharing blocks vs copying the bytes.
void
BM_MoveBetweenBuffers(benchmark::State &state)
{
  const bool share = state.range(0) == 1;
  const int64_t n  = state.range(1);
  std::string data(static_cast<std::size_t>(n), 'm');
  std::string tmp(static_cast<std::size_t>(n), '\0');
  MIOBuffer *src     = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
  MIOBuffer *dst     = new_MIOBuffer(BUFFER_SIZE_INDEX_32K);
  IOBufferReader *sr = src->alloc_reader();
  IOBufferReader *dr = dst->alloc_reader();
  for (auto _ : state) {
    src->write(data.data(), n);
    if (share) {
      dst->write(sr, n);
    } else {
      sr->memcpy(tmp.data(), n);
      dst->write(tmp.data(), n);
    }
    sr->consume(n);
    dr->consume(dr->read_avail());
  }
  state.SetBytesProcessed(state.iterations() * n);
  state.SetLabel(share ? "write(IOBufferReader*)" : "copy");
  free_MIOBuffer(src);
  free_MIOBuffer(dst);
}
BENCHMARK(BM_MoveBetweenBuffers)->Args({1, 32768})->Args({0, 32768})->Args({1, 262144})->Args({0, 262144});

/// The baseline of the above: fill one ring, move its bytes into a second, drain that.
void
BM_MoveBetweenVectorRings(benchmark::State &state)
{
  const auto n = static_cast<std::size_t>(state.range(0));
  std::string data(n, 'm');
  VectorRing src(n * 2);
  VectorRing dst(n * 2);
  for (auto _ : state) {
    src.write(data.data(), n);
    src.move_to(dst, n);
    benchmark::DoNotOptimize(dst.consume(n));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
}
BENCHMARK(BM_MoveBetweenVectorRings)->Arg(32768)->Arg(262144);
} // namespace
