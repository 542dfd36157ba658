"""Sessions whose bytes are checked end to end: a client and an origin, each in a process of its
own, exchange known data (slices of one seeded random pool) through whatever sits between them,
and each side checks what it received against what the other sent (SHA-256, and the bytes as they
come: a session cut short must still have received an intact prefix). A plan says, per session,
the sizes both ways, when each side half-closes, and whether and where a side resets (close with
SO_LINGER 0: an RST) -- the fault injector. Every wait is bounded: a side that does not end within
the session deadline is reported as hung."""
import asyncio
import hashlib
import math
import multiprocessing
import os
import random
import socket
import struct
import time
from dataclasses import dataclass

HEADER = struct.Struct("!4sI")  # magic, session id: the client's first bytes
MAGIC = b"SOAK"
RST_LINGER = struct.pack("ii", 1, 0)


@dataclass
class Reset:
    on: str   # "send" or "recv": the stream position that triggers it
    at: int   # payload bytes sent (or received) when the side resets


@dataclass
class Plan:
    sid: int
    up: int            # client -> origin payload bytes
    down: int          # origin -> client payload bytes
    client_early: bool  # half-close (SHUT_WR) as soon as its payload is sent; else once it has all it expects
    origin_early: bool
    client_reset: Reset = None
    origin_reset: Reset = None

    def reset(self):
        return self.client_reset is not None or self.origin_reset is not None


def make_pool(size, seed):
    return random.Random(seed).randbytes(size)


def slice_offset(sid, direction, size, pool_len):
    return (sid * 2654435761 + direction * 40503) % (pool_len - size + 1)


def log_uniform(rng, lo, hi):
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1)))) if hi > lo else lo


@dataclass
class PlanSpec:
    """How sessions are drawn: each session's plan follows from its id alone, so the origin needs
    no list (the client's header names the session)."""
    seed: int
    max_size: int
    min_size: int = 1
    client_reset_share: float = 0.0
    origin_reset_share: float = 0.0

    def plan(self, sid):
        rng = random.Random(self.seed * 1_000_003 + sid)
        p = Plan(sid, log_uniform(rng, self.min_size, self.max_size), log_uniform(rng, self.min_size, self.max_size),
                 rng.random() < 0.5, rng.random() < 0.5)
        if rng.random() < self.client_reset_share:
            on = rng.choice(("send", "recv"))
            p.client_reset = Reset(on, rng.randrange(p.up if on == "send" else p.down))
        if rng.random() < self.origin_reset_share:
            on = rng.choice(("send", "recv"))
            p.origin_reset = Reset(on, rng.randrange(p.down if on == "send" else p.up))
        return p


class _ResetNow(Exception):
    pass


async def run_side(loop, sock, plan, side, pool, deadline):
    """One side of one session; returns its record. side: "client" (sends the header first) or
    "origin" (the header has been read already)."""
    send_size, recv_size = (plan.up, plan.down) if side == "client" else (plan.down, plan.up)
    send_off = slice_offset(plan.sid, 0 if side == "client" else 1, send_size, len(pool))
    recv_off = slice_offset(plan.sid, 1 if side == "client" else 0, recv_size, len(pool))
    early = plan.client_early if side == "client" else plan.origin_early
    reset = plan.client_reset if side == "client" else plan.origin_reset
    rec = dict(sid=plan.sid, side=side, sent=0, received=0, prefix_ok=True, intact=False, eof=False, error=None,
               reset_at=None, first_close=None, end=None, hung=False)
    pool_view = memoryview(pool)
    digest = hashlib.sha256()
    rng = random.Random(plan.sid * 7 + (side == "origin"))
    state = dict(sent_all=False, got_all=recv_size == 0, shut=False)

    def maybe_shutdown():
        if not state["shut"] and state["sent_all"] and (early or state["got_all"]):
            state["shut"] = True
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def note_close():
        if rec["first_close"] is None:
            rec["first_close"] = time.monotonic()

    async def sender():
        pos = 0
        while pos < send_size:
            n = min(send_size - pos, rng.choice((1, 100, 1500, 16384, 65536, 262144)))
            if reset and reset.on == "send" and pos <= reset.at < pos + n:
                n = reset.at - pos
                if n:
                    await loop.sock_sendall(sock, pool_view[send_off + pos:send_off + pos + n])
                    rec["sent"] += n
                raise _ResetNow()
            await loop.sock_sendall(sock, pool_view[send_off + pos:send_off + pos + n])
            pos += n
            rec["sent"] = pos
        if reset and reset.on == "send":
            raise _ResetNow()
        state["sent_all"] = True
        maybe_shutdown()

    async def receiver():
        while True:
            if reset and reset.on == "recv" and rec["received"] >= reset.at:
                raise _ResetNow()
            want = 262144
            if reset and reset.on == "recv":
                want = max(1, min(want, reset.at - rec["received"]))
            data = await loop.sock_recv(sock, want)
            if not data:
                rec["eof"] = True
                note_close()
                return
            got = rec["received"]
            if got + len(data) > recv_size or pool_view[recv_off + got:recv_off + got + len(data)] != data:
                rec["prefix_ok"] = False
            digest.update(data)
            rec["received"] = got + len(data)
            if rec["received"] >= recv_size:
                state["got_all"] = True
                maybe_shutdown()

    tasks = [asyncio.ensure_future(sender()), asyncio.ensure_future(receiver())]
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, timeout=deadline - time.monotonic(),
                                               return_when=asyncio.FIRST_EXCEPTION)
            if not done:
                rec["hung"] = True
                break
            for t in done:
                exc = t.exception()
                if isinstance(exc, _ResetNow):
                    rec["reset_at"] = time.monotonic()
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST_LINGER)
                    pending = set()
                    break
                if exc is not None:
                    note_close()
                    if rec["error"] is None:
                        rec["error"] = type(exc).__name__
                    # A failed send ends the sending; the receiving goes on to its EOF or error.
                    if t is tasks[1]:
                        pending = set()
                        break
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sock.close()
    rec["end"] = time.monotonic()
    rec["intact"] = (rec["received"] == recv_size and rec["prefix_ok"] and rec["eof"]
                     and digest.hexdigest() == hashlib.sha256(pool_view[recv_off:recv_off + recv_size]).hexdigest())
    return rec


async def _client_main(addr, plans, pool, concurrency, session_timeout, family):
    loop = asyncio.get_running_loop()
    queue = list(reversed(plans))
    records = []

    async def lane():
        while queue:
            plan = queue.pop()
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setblocking(False)
            deadline = time.monotonic() + session_timeout
            try:
                await asyncio.wait_for(loop.sock_connect(s, addr), session_timeout)
                await loop.sock_sendall(s, HEADER.pack(MAGIC, plan.sid))
            except (OSError, asyncio.TimeoutError) as e:
                s.close()
                records.append(dict(sid=plan.sid, side="client", error=f"connect: {e!r}", hung=False, intact=False,
                                    prefix_ok=True, received=0, sent=0, eof=False, reset_at=None,
                                    first_close=time.monotonic(), end=time.monotonic()))
                continue
            records.append(await run_side(loop, s, plan, "client", pool, deadline))
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return records


async def _origin_main(lsock, spec, pool, session_timeout, stop_event, out):
    loop = asyncio.get_running_loop()
    tasks = set()

    async def serve(conn):
        deadline = time.monotonic() + session_timeout
        head = b""
        try:
            while len(head) < HEADER.size:
                chunk = await asyncio.wait_for(loop.sock_recv(conn, HEADER.size - len(head)), session_timeout)
                if not chunk:
                    break
                head += chunk
        except (OSError, asyncio.TimeoutError) as e:
            out.put(("anon", repr(e)))
            conn.close()
            return
        if len(head) < HEADER.size or HEADER.unpack(head)[0] != MAGIC:
            out.put(("anon", f"header {head!r}"))
            conn.close()
            return
        out.put(("origin", await run_side(loop, conn, spec.plan(HEADER.unpack(head)[1]), "origin", pool, deadline)))

    lsock.setblocking(False)
    # One accept at a time, never cancelled while the origin runs: cancelling a sock_accept whose
    # connection the kernel has just handed over (asyncio.wait_for's timeout) drops that socket,
    # which the proxy then sees reset by its upstream -- a session lost by the test, not the proxy.
    accepting = None
    while not stop_event.is_set():
        if accepting is None:
            accepting = asyncio.ensure_future(loop.sock_accept(lsock))
        done, _ = await asyncio.wait({accepting}, timeout=0.2)
        if not done:
            continue
        conn, _ = accepting.result()
        accepting = None
        conn.setblocking(False)
        t = asyncio.ensure_future(serve(conn))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    if accepting is not None:
        accepting.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=session_timeout)


def _client_proc(addr, plans, pool_args, concurrency, session_timeout, family, out, netns):
    enter_netns(netns)
    pool = make_pool(*pool_args)
    try:
        out.put(("client", asyncio.run(_client_main(addr, plans, pool, concurrency, session_timeout, family))))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        out.put(("client-error", repr(e)))


def _origin_proc(lsock, spec, pool_args, session_timeout, stop_event, out):
    pool = make_pool(*pool_args)
    try:
        asyncio.run(_origin_main(lsock, spec, pool, session_timeout, stop_event, out))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        out.put(("origin-error", repr(e)))
    out.put(("origin-exit", None))


CLONE_NEWNET = 0x40000000


def setns(fd):
    """setns(2) into the network namespace open at fd (os.setns only exists from Python 3.12)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def enter_netns(name):
    """Move this process into the network namespace `name` (ip netns add), if any."""
    if not name:
        return
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        setns(fd)
    finally:
        os.close(fd)


class Origin:
    """The origin side: a process serving sessions of `spec` until stop(); listening as soon as it
    is made (its address is known before the proxy starts). Each session's record is sent to the
    parent as the session ends."""

    def __init__(self, spec, pool_args, session_timeout, host="127.0.0.1", netns=None):
        self.ctx = multiprocessing.get_context("fork")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        parent = None
        if netns:
            # The listening socket belongs to the namespace it is created in.
            parent = os.open("/proc/self/ns/net", os.O_RDONLY)
            enter_netns(netns)
        try:
            lsock = socket.socket(family, socket.SOCK_STREAM)
            lsock.bind((host, 0))
            lsock.listen(4096)
        finally:
            if parent is not None:
                setns(parent)
                os.close(parent)
        self.addr = lsock.getsockname()[:2]
        self.session_timeout = session_timeout
        self.out = self.ctx.Queue()
        self.stop_event = self.ctx.Event()
        self.proc = self.ctx.Process(target=_origin_proc, args=(lsock, spec, pool_args, session_timeout,
                                                                self.stop_event, self.out))
        self.proc.start()
        lsock.close()  # the child has it
        self.records = {}
        self.anonymous = []
        self.problems = []

    def collect(self, timeout):
        """Take what the origin has reported, waiting up to timeout for the first item."""
        import queue
        try:
            item = self.out.get(timeout=timeout)
        except queue.Empty:
            return False
        kind, value = item
        if kind == "origin":
            self.records[value["sid"]] = value
        elif kind == "anon":
            self.anonymous.append(value)
        elif kind == "origin-error":
            self.problems.append(value)
        return True

    def stop(self):
        self.stop_event.set()
        self.proc.join(self.session_timeout + 10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
            self.problems.append("the origin process did not stop")


def run_sessions(origin, addr, plans, pool_args, concurrency, session_timeout, total_timeout, netns=None):
    """Run the plans' clients against addr (origin listening behind it). Returns (client records,
    origin records of these sessions, anonymous origin connections seen meanwhile, problems)."""
    import queue
    ctx = origin.ctx
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    cout = ctx.Queue()
    anon_before = len(origin.anonymous)
    cproc = ctx.Process(target=_client_proc, args=(addr, plans, pool_args, concurrency, session_timeout, family,
                                                   cout, netns))
    cproc.start()
    problems = []
    client = None
    end = time.monotonic() + total_timeout
    sids = {p.sid for p in plans}
    while client is None and time.monotonic() < end:
        while origin.collect(0):
            pass
        try:
            client = cout.get(timeout=0.2)
        except queue.Empty:
            if not cproc.is_alive() and cout.empty():
                problems.append(f"the client process died (exit {cproc.exitcode})")
                break
    if client is None and not problems:
        problems.append(f"the clients did not finish within {total_timeout}s")
    # The origin's last records follow within a session's time (a hung one is reported by then).
    settle_end = time.monotonic() + session_timeout + 5
    while time.monotonic() < settle_end:
        seen = sum(1 for s in sids if s in origin.records) + len(origin.anonymous) - anon_before
        if seen >= len(sids):
            break
        origin.collect(0.2)
    cproc.join(10)
    if cproc.is_alive():
        cproc.kill()
        cproc.join(5)
    client_recs = []
    if client is not None:
        if client[0] == "client":
            client_recs = client[1]
        else:
            problems.append(client[1])
    problems += origin.problems
    origin_recs = [origin.records[s] for s in sids if s in origin.records]
    return client_recs, origin_recs, origin.anonymous[anon_before:], problems


def judge(result, plans, client_recs, origin_recs, anonymous, close_bound):
    """The checks of an integrity run: intact data in every session without a reset, an intact
    prefix in every reset one, the reset seen closed by the other side within close_bound seconds,
    and no side hung. Fills bytes_lost and sessions_hung."""
    by_plan = {p.sid: p for p in plans}
    cl = {r["sid"]: r for r in client_recs}
    og = {r["sid"]: r for r in origin_recs}
    damaged, lost, hung, slow, corrupt, missing = [], 0, [], [], [], []
    close_times = []
    for sid, p in by_plan.items():
        c, o = cl.get(sid), og.get(sid)
        if c is None:
            missing.append(f"{sid}: no client record")
            continue
        if c.get("hung") or (o is not None and o.get("hung")):
            hung.append(sid)
        if not c["prefix_ok"] or (o is not None and not o["prefix_ok"]):
            corrupt.append(sid)
        if not p.reset():
            if o is None:
                missing.append(f"{sid}: the origin never saw it ({c.get('error')})")
                lost += p.up + p.down
                continue
            if not (c["intact"] and o["intact"]):
                damaged.append(f"{sid}: up {o['received']}/{p.up} intact={o['intact']} ({o['error']}), "
                               f"down {c['received']}/{p.down} intact={c['intact']} ({c['error']})")
                lost += (p.up - o["received"] if not o["intact"] else 0) + (p.down - c["received"] if not c["intact"] else 0)
            continue
        # A reset session: the side that reset first; the other must have seen its end in time.
        resets = [(r["reset_at"], name) for r, name in ((c, "client"), (o, "origin")) if r and r.get("reset_at")]
        if not resets:
            if o is None and p.client_reset is not None:
                continue  # reset before the origin knew the session (counted among the anonymous)
            missing.append(f"{sid}: planned reset did not happen (client {c.get('error')})")
            continue
        t_reset, who = min(resets)
        other = o if who == "client" else c
        if other is None:
            continue
        if other.get("reset_at") and other["reset_at"] <= t_reset + close_bound:
            continue  # it reset too, at about the same time
        # What the other side saw: its first EOF or error after the reset, or else its end (its
        # reading had ended before: the reset then shows on its writing, or it finished).
        seen = other["first_close"] if other["first_close"] and other["first_close"] >= t_reset else other["end"]
        took = seen - t_reset
        close_times.append(took)
        if took > close_bound:
            slow.append(f"{sid}: {who} reset ({p}), the {other['side']} saw the end {took:.2f}s later "
                        f"(ended after {other['end'] - t_reset:.2f}s, {other['error']})")
    n_reset = sum(p.reset() for p in plans)
    result.sessions_hung += len(hung)
    result.bytes_lost += lost
    result.check("every session ran to its end on both sides (none hung)", not hung, f"hung: {hung[:10]}")
    result.check("every session without a reset intact both ways (SHA-256)", not damaged and not missing,
                 f"{len(plans) - n_reset} sessions; damaged: {damaged[:5]}; missing: {missing[:5]}")
    result.check("every reset session delivered an intact prefix", not corrupt, f"corrupt: {corrupt[:10]}")
    close_times.sort()
    worst = close_times[-1] if close_times else 0.0
    median = close_times[len(close_times) // 2] if close_times else 0.0
    result.figures["reset_close_median_s"] = round(median, 3)
    result.figures["reset_close_max_s"] = round(worst, 3)
    result.check(f"every reset seen closed by the other side within {close_bound:g}s", not slow,
                 f"{len(close_times)} resets, median {median:.3f}s, slowest {worst:.3f}s; {slow[:5]}")
    result.figures["anonymous_origin_connections"] = len(anonymous)
    return n_reset
