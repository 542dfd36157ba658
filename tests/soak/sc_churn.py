"""Scenario 1, churn: many short connections (one request each, then closed) through `iocore
proxy` to `iocore http`, each with two net threads. Afterwards nothing may be left behind: the
open-connection gauge is 0, the descriptors are back at their starting count, and the RSS has
stayed within 10 % of its value after the first tenth of the run."""
import asyncio
import multiprocessing
import socket
import time

from soaklib import Iocore, Result, log, scenario_processes, settle_back

BODY = b"churn"
REQUEST = b"GET /churn HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n"
EXPECTED_TAIL = b"\r\n\r\n" + BODY


async def _one(loop, addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        await loop.sock_connect(s, addr)
        await loop.sock_sendall(s, REQUEST)
        data = b""
        while True:
            chunk = await loop.sock_recv(s, 4096)
            if not chunk:
                break
            data += chunk
            if len(data) > 4096:
                return "response too long"
        if not data.startswith(b"HTTP/1.1 200 ") or not data.endswith(EXPECTED_TAIL):
            return f"bad response {data[:60]!r}"
        return None
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    finally:
        s.close()


async def _worker(addr, count, concurrency, deadline, progress):
    loop = asyncio.get_running_loop()
    done = 0
    errors = []
    next_index = 0

    async def lane():
        nonlocal done, next_index
        while next_index < count and time.monotonic() < deadline:
            next_index += 1
            err = await asyncio.wait_for(_one(loop, addr), 30)
            if err:
                errors.append(err)
            done += 1
            if progress is not None and done % 1000 == 0:
                progress.value += 1000
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    if progress is not None:
        progress.value += done % 1000
    return done, errors


def _worker_main(addr, count, concurrency, deadline_s, progress, out):
    try:
        done, errors = asyncio.run(_worker(addr, count, concurrency, time.monotonic() + deadline_s, progress))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        done, errors = 0, [f"worker failed: {e!r}"]
    out.put((done, errors[:20], len(errors)))


def run_clients(addr, total, workers, concurrency, deadline_s, on_progress=None, progress_every=None):
    """Open `total` connections across `workers` processes; calls on_progress(done) as they go.
    Returns (completed, error samples, error count)."""
    ctx = multiprocessing.get_context("fork")
    progress = ctx.Value("q", 0, lock=False)
    out = ctx.Queue()
    share = [total // workers + (1 if i < total % workers else 0) for i in range(workers)]
    procs = [ctx.Process(target=_worker_main, args=(addr, n, concurrency, deadline_s, progress, out)) for n in share]
    for p in procs:
        p.start()
    end = time.monotonic() + deadline_s + 60
    last_mark = 0
    results = []
    while len(results) < workers and time.monotonic() < end:
        try:
            results.append(out.get(timeout=0.2))
        except Exception:  # noqa: BLE001 - queue.Empty
            pass
        if on_progress and progress_every and progress.value - last_mark >= progress_every:
            last_mark = progress.value - progress.value % progress_every
            on_progress(progress.value)
    for p in procs:
        p.join(5)
        if p.is_alive():
            p.kill()
    done = sum(r[0] for r in results)
    samples = [e for r in results for e in r[1]]
    nerr = sum(r[2] for r in results) + (workers - len(results))
    return done, samples, nerr


def run(binary, workdir, connections, deadline_s=3600, sanitizer=False):
    r = Result("1. churn")
    r.load = f"{connections:,} connections, 1 request each, proxy -> http, 2 net threads"
    r.faults = "-"
    t0 = time.monotonic()
    with scenario_processes(r) as ps:
        http = ps.add(Iocore(binary, ["http", "--listen", "127.0.0.1:0", "--threads", "2", "--body", BODY.decode(),
                                      "--stats", "127.0.0.1:0"], "http", expect_listeners=2, workdir=workdir))
        proxy = ps.add(Iocore(binary, ["proxy", "--listen", "127.0.0.1:0", "--threads", "2", "--upstream",
                                       "%s:%d" % http.addr("http"), "--stats", "127.0.0.1:0"], "proxy",
                              expect_listeners=2, workdir=workdir))
        base = {p: p.fds() for p in (http, proxy)}
        rss_marks = {}
        # The reference point: after the first tenth, or after 10,000 connections in a short run
        # (until then the allocator's pools and the threads' free lists are still filling).
        tenth = max(1, connections // 10, min(10_000, connections // 2))

        def on_progress(done):
            if "after_first_tenth" not in rss_marks and done >= tenth:
                rss_marks["after_first_tenth"] = (proxy.rss_kib(), http.rss_kib())
            log(f"  churn: {done:,} of {connections:,}; RSS proxy {proxy.rss_kib()} KiB, http {http.rss_kib()} KiB")

        started = time.monotonic()
        done, samples, nerr = run_clients(proxy.addr("proxy"), connections, workers=2, concurrency=32,
                                          deadline_s=deadline_s, on_progress=on_progress,
                                          progress_every=max(1000, connections // 20))
        elapsed = time.monotonic() - started
        rate = done / elapsed if elapsed else 0
        r.figures["connections_per_s"] = round(rate)
        log(f"  churn: {done:,} connections in {elapsed:.1f}s ({rate:.0f}/s), {nerr} errors")
        r.check("every connection completed", done == connections, f"{done} of {connections}")
        r.check("every request answered 200 with the body", nerr == 0, f"{nerr} errors: {samples[:5]}")
        r.bytes_lost = nerr * len(BODY)
        left = {p: settle_back(r, p, base[p], "after the churn") for p in (proxy, http)}
        rss_end = (proxy.rss_kib(), http.rss_kib())
        rss_first = rss_marks.get("after_first_tenth", rss_end)
        leaks = []
        for i, p in enumerate((proxy, http)):
            grew = rss_end[i] - rss_first[i]
            leaks.append(f"{p.name} fds {left[p]:+d}, RSS {grew:+d} KiB")
            if not sanitizer:
                r.check(f"{p.name}: RSS within 10 % of its value after the first {tenth:,} connections", rss_end[i] <= rss_first[i] * 1.10,
                        f"{rss_first[i]} -> {rss_end[i]} KiB")
        r.leaks = "; ".join(leaks)
    r.duration_s = time.monotonic() - t0
    return r
