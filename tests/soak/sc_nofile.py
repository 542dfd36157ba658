"""Scenario 5, out of descriptors: `iocore` under RLIMIT_NOFILE 256 (prlimit) and 2,000 clients
connecting at once, each sending a keep-alive request and then holding its connection. The
process must neither spin (at most 5 % CPU while it has no descriptor left) nor die; once the
clients leave, accepting resumes within the bound and every new connection is served. Run
against `iocore http` and against `iocore proxy` (two descriptors per session)."""
import selectors
import socket
import time

from soaklib import Iocore, Result, log, scenario_processes, settle_back, wait_until

REQUEST = b"GET /nofile HTTP/1.1\r\nHost: soak\r\n\r\n"
NOFILE = 256


class Crowd:
    """clients non-blocking connections opened at once; each sends REQUEST when connected and
    counts as served once a whole response head and body arrived."""

    def __init__(self, addr, clients):
        self.sel = selectors.DefaultSelector()
        self.socks = []
        self.served = 0
        self.failed = 0
        for _ in range(clients):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(addr)
            self.socks.append(s)
            self.sel.register(s, selectors.EVENT_WRITE, {"state": "connecting", "buf": b""})

    def pump(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for key, ev in self.sel.select(timeout=max(0.0, min(0.1, end - time.monotonic()))):
                s, st = key.fileobj, key.data
                if st["state"] == "connecting":
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        self._drop(s, failed=True)
                        continue
                    try:
                        s.send(REQUEST)
                    except OSError:
                        self._drop(s, failed=True)
                        continue
                    st["state"] = "waiting"
                    self.sel.modify(s, selectors.EVENT_READ, st)
                else:
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        self._drop(s, failed=st["state"] != "served")
                        continue
                    st["buf"] += data
                    if st["state"] == "waiting" and response_complete(st["buf"]):
                        st["state"] = "served"
                        self.served += 1

    def _drop(self, s, failed):
        self.sel.unregister(s)
        self.failed += failed

    def close(self):
        for s in self.socks:
            s.close()
        self.sel.close()


def response_complete(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


def get_once(addr, timeout):
    """One new connection, one request: True if answered 200 completely."""
    try:
        with socket.create_connection(addr, timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(REQUEST)
            buf = b""
            while not response_complete(buf):
                chunk = s.recv(65536)
                if not chunk:
                    return False
                buf += chunk
            return buf.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def one_target(r, ps, binary, workdir, mode, clients, resume_bound, upstream=None):
    args = [mode, "--listen", "127.0.0.1:0", "--threads", "2", "--stats", "127.0.0.1:0"]
    if mode == "proxy":
        args += ["--upstream", "%s:%d" % upstream]
    p = ps.add(Iocore(binary, args, f"{mode} (nofile {NOFILE})", expect_listeners=2, workdir=workdir, nofile=NOFILE))
    base = p.fds()
    addr = p.addr(mode)
    crowd = Crowd(addr, clients)
    # Served until the descriptors run out: wait for the count to stop growing.
    last, stable_since = -1, time.monotonic()
    end = time.monotonic() + 60
    while time.monotonic() < end and time.monotonic() - stable_since < 3:
        crowd.pump(0.5)
        if crowd.served != last:
            last, stable_since = crowd.served, time.monotonic()
    fds_exhausted = p.fds()
    log(f"  {mode}: {crowd.served} of {clients} served before the descriptors ran out ({fds_exhausted} open, "
        f"limit {NOFILE}), {crowd.failed} refused or closed")
    r.check(f"{mode}: descriptors exhausted (the limit was reached)", fds_exhausted is not None and fds_exhausted >= NOFILE - 8,
            f"{fds_exhausted} open of {NOFILE}")
    # While exhausted: no spinning.
    cpu0, t0 = p.cpu_seconds(), time.monotonic()
    crowd.pump(5)
    cpu1, t1 = p.cpu_seconds(), time.monotonic()
    share = (cpu1 - cpu0) / (t1 - t0) if cpu0 is not None and cpu1 is not None else 1.0
    r.figures[f"{mode}_cpu_while_exhausted_pct"] = round(share * 100, 1)
    r.check(f"{mode}: at most 5 % CPU while out of descriptors", share <= 0.05, f"{share * 100:.1f} % over {t1 - t0:.1f}s")
    r.check(f"{mode}: alive while out of descriptors", p.alive(), "")
    # The clients leave; a new connection must be served soon after.
    crowd.close()
    left_at = time.monotonic()
    ok = wait_until(lambda: get_once(addr, timeout=max(0.2, resume_bound)), resume_bound + 10, interval=0.01)
    took = time.monotonic() - left_at
    r.figures[f"{mode}_resume_s"] = round(took, 3)
    r.check(f"{mode}: a new connection served within {resume_bound:g}s of the clients leaving", ok and took <= resume_bound,
            f"{'served' if ok else 'not served'} after {took:.2f}s")
    failures = sum(not get_once(addr, timeout=10) for _ in range(200))
    r.check(f"{mode}: every new connection served afterwards", failures == 0, f"{failures} of 200 failed")
    left = settle_back(r, p, base, "after the clients left")
    return left


def run(binary, workdir, clients=2000, resume_bound=1.0):
    r = Result("5. out of descriptors")
    r.load = f"{clients} clients at once against http and against proxy, RLIMIT_NOFILE {NOFILE}"
    r.faults = "descriptor exhaustion"
    t0 = time.monotonic()
    leaks = []
    with scenario_processes(r) as ps:
        leaks.append(f"http fds {one_target(r, ps, binary, workdir, 'http', clients, resume_bound):+d}")
        origin = ps.add(Iocore(binary, ["http", "--listen", "127.0.0.1:0", "--threads", "1"], "origin http",
                               workdir=workdir))
        leaks.append(f"proxy fds {one_target(r, ps, binary, workdir, 'proxy', clients, resume_bound, origin.addr('http')):+d}")
    r.leaks = "; ".join(leaks)
    r.duration_s = time.monotonic() - t0
    return r
