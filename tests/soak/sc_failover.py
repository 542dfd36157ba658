"""Scenario 6, upstreams that die: `iocore proxy` in front of two `iocore http` upstreams under
steady load; one upstream is killed with SIGKILL and started again on its port 2 s later. The
sessions it was serving end cleanly (the client sees the close), new sessions go to the other
upstream at once and come back to the restarted one, and no client waits longer than the connect
timeout. The two upstreams serve bodies of different sizes, which tells the client who served it."""
import asyncio
import multiprocessing
import signal
import socket
import time

from soaklib import Iocore, Result, log, scenario_processes, settle_back

BODY = 24 << 20  # more than the sockets on the way can buffer: a kill cuts sessions short
CONNECT_TIMEOUT = 2
REQUEST = b"GET /failover HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n"


async def _session(loop, addr, sizes):
    rec = dict(start=time.monotonic(), first_byte=None, end=None, upstream=None, received=0, complete=False, error=None)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        await loop.sock_connect(s, addr)
        await loop.sock_sendall(s, REQUEST)
        buf = b""
        length = None
        while True:
            data = await asyncio.wait_for(loop.sock_recv(s, 65536), 30)
            if not data:
                break
            if rec["first_byte"] is None:
                rec["first_byte"] = time.monotonic()
            if length is None:
                buf += data
                head, sep, body = buf.partition(b"\r\n\r\n")
                if sep:
                    for line in head.split(b"\r\n")[1:]:
                        k, _, v = line.partition(b":")
                        if k.strip().lower() == b"content-length":
                            length = int(v)
                    rec["upstream"] = sizes.get(length, f"unknown length {length}")
                    rec["received"] = len(body)
                    buf = b""
            else:
                rec["received"] += len(data)
        rec["complete"] = length is not None and rec["received"] == length
    except (OSError, asyncio.TimeoutError) as e:
        rec["error"] = type(e).__name__
    finally:
        s.close()
        rec["end"] = time.monotonic()
    return rec


async def _load(addr, sizes, lanes, until):
    loop = asyncio.get_running_loop()
    records = []

    async def lane():
        while time.monotonic() < until:
            records.append(await _session(loop, addr, sizes))
    await asyncio.gather(*(lane() for _ in range(lanes)))
    return records


def _load_proc(addr, sizes, lanes, until, out):
    out.put(asyncio.run(_load(addr, sizes, lanes, until)))


def start_upstream(ps, binary, workdir, name, size, port=0):
    return ps.add(Iocore(binary, ["http", "--listen", f"127.0.0.1:{port}", "--threads", "1", "--body-size", str(size)],
                         name, workdir=workdir))


def run(binary, workdir, short=True):
    r = Result("6. upstreams that die")
    t0 = time.monotonic()
    lanes = 8
    kill_at, restart_after, run_for = 3.0, 2.0, (10.0 if short else 30.0)
    with scenario_processes(r) as ps:
        u1 = start_upstream(ps, binary, workdir, "upstream 1", BODY + 1)
        u2 = start_upstream(ps, binary, workdir, "upstream 2", BODY + 2)
        port1 = u1.addr("http")[1]
        proxy = ps.add(Iocore(binary, ["proxy", "--listen", "127.0.0.1:0", "--threads", "2", "--upstream",
                                       "127.0.0.1:%d,127.0.0.1:%d" % (port1, u2.addr("http")[1]),
                                       "--connect-timeout", str(CONNECT_TIMEOUT), "--stats", "127.0.0.1:0"],
                              "proxy", expect_listeners=2, workdir=workdir))
        base = proxy.fds()
        sizes = {BODY + 1: 1, BODY + 2: 2}
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        start = time.monotonic()
        load = ctx.Process(target=_load_proc, args=(proxy.addr("proxy"), sizes, lanes, start + run_for, out))
        load.start()
        time.sleep(kill_at)
        u1.signal(signal.SIGKILL)
        killed = time.monotonic()
        u1.wait(10)
        dead = time.monotonic()  # its sockets are gone once the kernel has reaped it
        ps.procs.remove(u1)  # killed on purpose: not a crash
        time.sleep(restart_after)
        restart_begin = time.monotonic()
        restarted = None
        for attempt in range(20):  # the port was ours a moment ago; retry a taken port briefly
            try:
                u1 = start_upstream(ps, binary, workdir, "upstream 1 (restarted)", BODY + 1, port1)
                restarted = time.monotonic()
                break
            except RuntimeError as e:
                log(f"  restart on port {port1} failed ({str(e)[:120]}), retrying")
                time.sleep(0.1)
        r.check("upstream 1 restarted on its port", restarted is not None, f"port {port1}")
        try:
            records = out.get(timeout=run_for + 120)
        except Exception:  # noqa: BLE001 - queue.Empty
            records = []
        load.join(10)
        if load.is_alive():
            load.kill()
        restarted = restarted or float("inf")
        # In flight at the kill: sessions open across it that upstream 1 was serving, and those
        # that had no answer head yet (the proxy may have connected them to upstream 1 a moment
        # before it died; a tunnel cannot replay a request its upstream already took).
        inflight = [x for x in records if x["start"] < dead + 0.1 and x["end"] > killed and x["upstream"] in (1, None)]
        while_dead = [x for x in records if dead + 0.1 <= x["start"] < restart_begin]
        after = [x for x in records if x["start"] >= restarted]
        others = [x for x in records if x not in inflight]
        log(f"  {len(records)} sessions: {len(inflight)} in flight on upstream 1 at the kill, {len(while_dead)} started "
            f"while it was down, {len(after)} after its restart")
        r.check("sessions ran before, during and after", len(records) > 20 and while_dead and after,
                f"{len(records)} sessions, {len(while_dead)} while down, {len(after)} after")
        cut = [x for x in inflight if not x["complete"]]
        slow_end = [x for x in cut if x["end"] - killed > CONNECT_TIMEOUT]
        r.check("in-flight sessions on the killed upstream end (complete, or cut short with the client seeing the "
                f"close within {CONNECT_TIMEOUT}s)", inflight and not slow_end and all(x["error"] is None or x["error"] != "TimeoutError" for x in inflight),
                f"{len(inflight)} in flight, {len(cut)} cut short, the last of those seeing the close "
                f"{max((x['end'] - killed for x in cut), default=0):.2f}s after the kill")
        r.figures["inflight_cut_short"] = len(cut)
        bad_dead = [x for x in while_dead if not x["complete"] or x["upstream"] != 2]
        r.check("sessions started while it was down all served by the other upstream", not bad_dead,
                f"{len(bad_dead)} of {len(while_dead)} not: {bad_dead[:3]}")
        back = [x for x in after if x["upstream"] == 1 and x["complete"]]
        first_back = min((x["start"] for x in back), default=float("inf")) - restarted
        r.check("sessions come back to the restarted upstream", back and first_back < 1.0,
                f"{len(back)} of {len(after)} served by it, the first {first_back:.2f}s after the restart")
        bad_other = [x for x in others if not x["complete"]]
        r.check("every other session complete and intact", not bad_other, f"{len(bad_other)}: {bad_other[:3]}")
        waits = [x["first_byte"] - x["start"] for x in records if x["first_byte"]]
        worst = max(waits, default=0)
        r.figures["worst_wait_s"] = round(worst, 3)
        r.check(f"no client waited longer than the connect timeout ({CONNECT_TIMEOUT}s) for its first byte",
                worst <= CONNECT_TIMEOUT and all(x["first_byte"] or x["end"] - x["start"] <= CONNECT_TIMEOUT for x in records),
                f"worst {worst:.2f}s")
        r.sessions_hung = sum(x["error"] == "TimeoutError" for x in records)
        r.bytes_lost = sum((BODY - x["received"]) for x in bad_other)
        left = settle_back(r, proxy, base, "after the load")
        r.leaks = f"proxy fds {left:+d}"
        r.load = f"{len(records)} proxied 24 MiB downloads, {lanes} at a time, 2 upstreams"
        r.faults = "SIGKILL of one upstream, restarted 2 s later"
    r.duration_s = time.monotonic() - t0
    return r
