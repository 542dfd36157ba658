"""Hostile clients, in a process of their own: slowloris (a request head that never ends, one
header byte every few seconds), idle connections (nothing sent), and clients that never read
(one request for a huge response, or requests pipelined until the server stops taking them). Each
lane keeps one such connection open until the phase ends, opening a new one whenever the server
closes its connection, and records when the connection was opened, when the client last made
progress (bytes sent, or the server's bytes arriving), and when it saw the server close it (EOF, reset, or -- for a client that does not read
-- its socket leaving the ESTABLISHED state)."""
import asyncio
import fcntl
import multiprocessing
import random
import socket
import struct
import termios
import time

TCP_ESTABLISHED = 1


def tcp_state(sock):
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    except OSError:
        return 0


async def _connect(loop, addr, rec):
    rec["start"] = rec["progress"] = time.monotonic()  # before the connect: its wait counts
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # a reader that stops fills up soon
    await asyncio.wait_for(loop.sock_connect(s, addr), 10)
    rec["port"] = s.getsockname()[1]  # names the connection in the server's access log
    return s


async def _wait_closed_by_reading(loop, s, until):
    """Read (discarding) until EOF or error; the time it came, or None at `until`."""
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return None
        try:
            data = await asyncio.wait_for(loop.sock_recv(s, 4096), left)
        except asyncio.TimeoutError:
            return None
        except OSError:
            return time.monotonic()
        if not data:
            return time.monotonic()


def queued_bytes(sock):
    """Bytes waiting unread in the socket's receive queue (FIONREAD)."""
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return -1


def note_arrivals(sock, rec):
    """A client that does not read still sees the server's progress: its receive queue grows while
    the server is still sending. The server's last write is between the client's last send
    (rec["sent"]) and the last growth seen here (rec["progress"]): bytes written into the server's
    send buffer may reach this queue a while later."""
    q = queued_bytes(sock)
    if q > rec.get("queued", 0):
        rec["queued"] = q
        rec["progress"] = time.monotonic()


async def _wait_closed_by_state(s, until, rec):
    while time.monotonic() < until:
        if tcp_state(s) != TCP_ESTABLISHED:
            return time.monotonic()
        note_arrivals(s, rec)
        await asyncio.sleep(0.1)
    return None


async def slowloris(loop, addr, path, until, rec):
    s = await _connect(loop, addr, rec)
    try:
        await loop.sock_sendall(s, f"GET {path} HTTP/1.1\r\nHost: soak\r\n".encode())
        closed = asyncio.ensure_future(_wait_closed_by_reading(loop, s, until))
        header = b"X-Slow: " + b"a" * 10000
        i = 0
        while not closed.done() and time.monotonic() < until:
            await asyncio.wait([closed], timeout=random.uniform(1.5, 3.0))
            if closed.done():
                break
            try:
                await loop.sock_sendall(s, header[i:i + 1])
                rec["progress"] = time.monotonic()
                i += 1
            except OSError:
                break
        rec["closed"] = await closed
    finally:
        s.close()


async def idle(loop, addr, path, until, rec):
    s = await _connect(loop, addr, rec)
    try:
        rec["closed"] = await _wait_closed_by_reading(loop, s, until)
    finally:
        s.close()


async def nonreader(loop, addr, path, until, rec):
    """One request for a (huge) response, never read."""
    s = await _connect(loop, addr, rec)
    try:
        await loop.sock_sendall(s, f"GET {path} HTTP/1.1\r\nHost: soak\r\n\r\n".encode())
        rec["progress"] = rec["sent"] = time.monotonic()
        rec["closed"] = await _wait_closed_by_state(s, until, rec)
    finally:
        s.close()


async def pipeliner(loop, addr, path, until, rec, count=4096):
    """`count` requests pipelined (as far as the server takes them); the responses never read."""
    s = await _connect(loop, addr, rec)
    pending = memoryview(f"GET {path} HTTP/1.1\r\nHost: soak\r\n\r\n".encode() * count)
    try:
        while time.monotonic() < until:
            if tcp_state(s) != TCP_ESTABLISHED:
                rec["closed"] = time.monotonic()
                return
            note_arrivals(s, rec)
            if pending:
                try:
                    n = s.send(pending)
                    if n > 0:
                        rec["progress"] = rec["sent"] = time.monotonic()
                        pending = pending[n:]
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    rec["closed"] = time.monotonic()
                    return
            await asyncio.sleep(0.1)
    finally:
        s.close()


KINDS = {"slowloris": slowloris, "idle": idle, "nonreader": nonreader, "pipeliner": pipeliner}


async def _main(groups, until):
    """groups: [(kind, target name, addr, path, lanes)]"""
    loop = asyncio.get_running_loop()
    records = []

    async def lane(kind, target, addr, path, stagger):
        await asyncio.sleep(stagger)
        while time.monotonic() < until:
            rec = dict(kind=kind, target=target, start=None, progress=None, closed=None, error=None, port=None,
                       closed_wall=None)
            try:
                await KINDS[kind](loop, addr, path, until, rec)
            except (OSError, asyncio.TimeoutError) as e:
                rec["error"] = f"{type(e).__name__}: {e}"
                if rec["closed"] is None and rec["start"] is not None:
                    rec["closed"] = time.monotonic()
                await asyncio.sleep(0.2)
            if rec["closed"] is not None:
                rec["closed_wall"] = time.time() - (time.monotonic() - rec["closed"])
            records.append(rec)
    await asyncio.gather(*(lane(kind, target, addr, path, i * 0.001)
                           for kind, target, addr, path, n in groups for i in range(n)))
    return records


def _proc(groups, until, out):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        out.put(asyncio.run(_main(groups, until)))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        out.put(repr(e))


class Hostiles:
    def __init__(self, groups, seconds):
        ctx = multiprocessing.get_context("fork")
        self.out = ctx.Queue()
        self.until = time.monotonic() + seconds
        self.proc = ctx.Process(target=_proc, args=(groups, self.until, self.out))
        self.proc.start()

    def result(self):
        """The records once the phase has ended (a string if the process failed)."""
        try:
            value = self.out.get(timeout=max(0, self.until - time.monotonic()) + 60)
        except Exception as e:  # noqa: BLE001 - queue.Empty
            value = f"no result: {e!r}"
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
        return value
