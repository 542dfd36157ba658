"""Shared helpers of the `iocore` command tests: start the program, wait for its "listening on"
lines with a deadline, talk to it over loopback sockets, and clean up only what a test started.
Every `iocore` a test starts is stopped with SIGTERM at teardown and must exit 0 (a crash, a
sanitizer report or a leak found at exit fails the test); origin helpers' errors fail it too."""
import hashlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LISTEN_RE = re.compile(r"^iocore (\w+) listening on (.+):(\d+)$")


def iocore_bin():
    return os.environ.get("IOCORE_BIN") or str(REPO / "build" / "dev" / "apps" / "iocore" / "iocore")


def pytest_sessionstart(session):
    # Every test here runs the binary: without one, stop at once instead of skipping the lot.
    path = iocore_bin()
    if not os.access(path, os.X_OK):
        raise pytest.UsageError(f"the iocore binary is missing: {path} is not an executable file "
                                "(build it, e.g. cmake --build --preset dev, or set IOCORE_BIN)")


def net_threads():
    """--threads for tests that want several net threads: 2, or IOCORE_TEST_THREADS (the tsan stage
    runs the proxy and echo tests with 4)."""
    return os.environ.get("IOCORE_TEST_THREADS", "2")


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def expired(self):
        return time.monotonic() >= self.end


def wait_for(predicate, timeout, interval=0.02, what="condition"):
    """Poll predicate until true; fail the test with `what` at the deadline."""
    d = Deadline(timeout)
    while True:
        value = predicate()
        if value:
            return value
        if d.expired():
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Iocore:
    """A running `iocore` process. listeners maps a listener name (proxy, http, echo, stats) to
    (host, port)."""

    def __init__(self, args, expect_listeners=1, timeout=10, env=None, command=None):
        self.args = (command or [iocore_bin()]) + list(args)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.signalled = False  # the test (or teardown) stopped it: an exit is expected
        self.expected_exit = None  # set by expect_exit()
        self.listeners = {}
        self.stdout_lines = []
        self.stderr_lines = []
        self._lines_cv = threading.Condition()
        self._stderr_thread = threading.Thread(target=self._pump_stderr, daemon=True)
        self._stderr_thread.start()
        self._stdout_thread = threading.Thread(target=self._pump_stdout, daemon=True)
        self._stdout_thread.start()
        d = Deadline(timeout)
        with self._lines_cv:
            while len(self.listeners) < expect_listeners:
                if self.proc.poll() is not None and not self._stdout_thread.is_alive():
                    self._stderr_thread.join(2)
                    raise AssertionError(f"iocore exited with {self.proc.returncode}: {self.stderr()}")
                if d.expired():
                    self.kill()
                    raise AssertionError(f"iocore did not report {expect_listeners} listener(s) within {timeout}s: "
                                         f"{self.stdout_lines}; stderr: {self.stderr()}")
                self._lines_cv.wait(0.05)

    def _pump_stdout(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self._lines_cv:
                self.stdout_lines.append(line)
                m = LISTEN_RE.match(line)
                if m:
                    host = m.group(2)
                    if host.startswith("["):
                        host = host[1:-1]
                    self.listeners[m.group(1)] = (host, int(m.group(3)))
                self._lines_cv.notify_all()

    def _pump_stderr(self):
        for line in self.proc.stderr:
            with self._lines_cv:
                self.stderr_lines.append(line.rstrip("\n"))

    def stderr(self):
        with self._lines_cv:
            return "\n".join(self.stderr_lines)

    def addr(self, name=None):
        if name is None:
            name = next(iter(self.listeners))
        return self.listeners[name]

    def port(self, name=None):
        return self.addr(name)[1]

    def pid(self):
        return self.proc.pid

    def send_signal(self, sig):
        """Signal the process without waiting (teardown then expects it to have exited 0)."""
        self.signalled = True
        self.proc.send_signal(sig)

    def terminate(self, sig=signal.SIGTERM, timeout=15):
        """Send sig (unless it has exited already) and wait for exit; returns the exit code."""
        self.signalled = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"iocore did not exit within {timeout}s of signal {sig}")
        self._stdout_thread.join(2)
        self._stderr_thread.join(2)
        if self.proc.returncode != 0:  # shown by pytest with the failure (e.g. a sanitizer report)
            print(f"iocore exited with {self.proc.returncode}; its stderr:\n{self.stderr()}", file=sys.stderr)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.signalled = True
            self.proc.kill()
            self.proc.wait(5)

    def expect_exit(self, code):
        """The test makes the process end on its own with `code` (e.g. a failure it provokes):
        teardown then wants exactly that exit, before it sends any signal."""
        self.expected_exit = code

    def stop_and_check(self, timeout=30):
        """Teardown: stop with SIGTERM unless already stopped, and return a description of what was
        wrong (None if it exited 0). A process that ended before anyone signalled it is wrong even
        with exit 0; one still running `timeout` seconds after SIGTERM is killed."""
        if self.expected_exit is not None:
            code = self.proc.poll()
            if code is None:
                self.kill()
                return f"{' '.join(self.args)}: still running, expected to exit with {self.expected_exit}"
            self._stderr_thread.join(2)
            if code != self.expected_exit:
                return (f"{' '.join(self.args)}: exited with {code}, expected {self.expected_exit}; "
                        f"its stderr:\n{self.stderr()}")
            return None
        died_early = self.proc.poll() is not None and not self.signalled
        try:
            code = self.terminate(timeout=timeout)
        except AssertionError as e:
            return f"{' '.join(self.args)}: {e}; its stderr:\n{self.stderr()}"
        if died_early:
            return f"{' '.join(self.args)}: exited with {code} before the test stopped it; its stderr:\n{self.stderr()}"
        if code != 0:
            return f"{' '.join(self.args)}: exited with {code} on SIGTERM (expected 0); its stderr:\n{self.stderr()}"
        return None

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


@pytest.fixture
def start_iocore(origin):
    """start(*args) runs `iocore *args` and waits for its listeners. At teardown each process gets
    SIGTERM and must exit 0. (It depends on `origin` so that the origins outlive the processes:
    teardown stops iocore first, and the origin handlers then see their connections end.)"""
    started = []

    def start(*args, expect_listeners=1, timeout=10, command=None):
        p = Iocore(args, expect_listeners=expect_listeners, timeout=timeout, command=command)
        started.append(p)
        return p

    yield start
    problems = [problem for p in reversed(started) if (problem := p.stop_and_check()) is not None]
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def run_iocore(*args, timeout=10):
    """Run iocore to completion (for --help, errors); returns CompletedProcess."""
    return subprocess.run([iocore_bin()] + list(args), capture_output=True, text=True, timeout=timeout)


def connect(addr, timeout=5):
    s = socket.create_connection(addr, timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_until_eof(sock, timeout=10, limit=1 << 31):
    """Read until the peer closes (or half-closes); fails at the deadline."""
    d = Deadline(timeout)
    chunks = []
    total = 0
    while True:
        sock.settimeout(max(0.01, d.left()))
        try:
            data = sock.recv(1 << 16)
        except socket.timeout:
            raise AssertionError(f"no EOF within {timeout}s (got {total} bytes)")
        if not data:
            return b"".join(chunks)
        chunks.append(data)
        total += len(data)
        if total > limit:
            raise AssertionError("more data than expected")


def recv_exactly(sock, n, timeout=10):
    d = Deadline(timeout)
    buf = bytearray()
    while len(buf) < n:
        sock.settimeout(max(0.01, d.left()))
        try:
            data = sock.recv(n - len(buf))
        except socket.timeout:
            raise AssertionError(f"only {len(buf)} of {n} bytes within {timeout}s")
        if not data:
            raise AssertionError(f"EOF after {len(buf)} of {n} bytes")
        buf += data
    return bytes(buf)


def read_http_response(sock, timeout=10, head_request=False):
    """Read one HTTP/1.1 response with Content-Length; returns (status, headers dict, body)."""
    d = Deadline(timeout)
    buf = getattr(sock, "_pending", b"")
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.01, d.left()))
        data = sock.recv(65536)
        if not data:
            raise AssertionError(f"EOF before a response head: {buf!r}")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    length = 0 if head_request else int(headers.get("content-length", "0"))
    while len(rest) < length:
        sock.settimeout(max(0.01, d.left()))
        data = sock.recv(65536)
        if not data:
            raise AssertionError("EOF inside a response body")
        rest += data
    sock._pending = rest[length:]
    return status, headers, rest[:length]


class SocketWithPending(socket.socket):
    """A socket that can carry bytes read past one response (read_http_response)."""
    _pending = b""


def http_connect(addr, timeout=5):
    s = SocketWithPending(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(addr)
    return s


@pytest.fixture
def refused_port():
    """refused_port() -> a port on 127.0.0.1 where connections are refused for the rest of the
    test: a socket is bound there but never listens, so nobody else can take the port meanwhile."""
    held = []

    def make(host="127.0.0.1"):
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        s.bind((host, 0))
        held.append(s)
        return s.getsockname()[1]

    yield make
    for s in held:
        s.close()


class OriginServer:
    """A scriptable TCP peer in a thread: handler(conn) runs per connection. An exception a handler
    raises is recorded in `errors`, and the `origin` fixture fails the test with it unless the test
    said it expects errors (expect_errors=True) and looked at them itself."""

    def __init__(self, handler, family=socket.AF_INET, host="127.0.0.1", expect_errors=False):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.host = host
        self.handler = handler
        self.expect_errors = expect_errors
        self.accepted = 0
        self.errors = []
        self._stop = False
        self._lock = threading.Lock()
        self._handlers = []  # (thread, conn)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                self._handlers.append((t, conn))
            t.start()

    def _serve(self, conn):
        try:
            self.handler(conn)
        except Exception as e:  # noqa: BLE001 - recorded for the test to assert on
            if not self._stop:
                self.errors.append(e)
        finally:
            conn.close()

    def close(self, timeout=10):
        """Stop accepting and wait for the handlers; returns what went wrong (None if nothing)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(timeout)
        d = Deadline(timeout)
        with self._lock:
            handlers = list(self._handlers)
        stuck = 0
        for t, _ in handlers:
            t.join(d.left())
            stuck += t.is_alive()
        problems = []
        if self.errors and not self.expect_errors:
            problems.append(f"origin on port {self.port}: handler error(s): {self.errors!r}")
        if stuck:
            problems.append(f"origin on port {self.port}: {stuck} handler(s) still running {timeout}s after the test")
        self._stop = True
        for t, conn in handlers:  # unblock what is left; errors from here on are not the test's
            if t.is_alive():
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        return "; ".join(problems) or None


@pytest.fixture
def origin():
    """origin(handler) starts an OriginServer. At teardown (after any `iocore` the test started has
    stopped) every handler must have finished without raising."""
    servers = []

    def make(handler, **kw):
        s = OriginServer(handler, **kw)
        servers.append(s)
        return s

    yield make
    problems = [problem for s in servers if (problem := s.close()) is not None]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def echo_handler(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            conn.shutdown(socket.SHUT_WR)
            return
        conn.sendall(data)


def parse_prometheus(text):
    """Parse the text exposition format strictly enough for tests: returns {name{labels}: value}
    and checks that every sample belongs to a family declared with # HELP and # TYPE."""
    samples = {}
    types = {}
    helps = set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            helps.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+]+|NaN|[+-]Inf)$', line)
        assert m, f"not a Prometheus sample line: {line!r}"
        name = m.group(1)
        assert name in types and name in helps, f"{name} has no # TYPE / # HELP"
        assert name.startswith("iocore_"), name
        samples[name + (m.group(2) or "")] = float(m.group(3))
    return samples


def http_get_raw(addr, path="/", timeout=5):
    s = http_connect(addr, timeout)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return read_http_response(s, timeout)
    finally:
        s.close()


def echo_through(addr, mib, seed):
    """Send mib MiB of random bytes through an echoing path, half-close, read the echo to EOF; returns
    (sent sha256, received sha256, bytes received)."""
    block = os.urandom(1 << 20)
    rng = random.Random(seed)
    sent, got = hashlib.sha256(), hashlib.sha256()
    received = 0
    s = socket.create_connection(addr, timeout=60)

    def sender():
        for _ in range(mib):
            k = rng.randrange(1 << 20)
            chunk = block[k:] + block[:k]
            sent.update(chunk)
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=sender)
    t.start()
    d = Deadline(150)
    while True:
        s.settimeout(max(0.1, d.left()))
        data = s.recv(1 << 20)
        if not data:
            break
        got.update(data)
        received += len(data)
    t.join(30)
    s.close()
    return sent.hexdigest(), got.hexdigest(), received
