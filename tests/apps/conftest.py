"""Shared helpers of the `iocore` command tests: start the program, wait for its "listening on"
lines with a deadline, talk to it over loopback sockets, and clean up only what a test started."""
import os
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
    path = os.environ.get("IOCORE_BIN") or str(REPO / "build" / "dev" / "apps" / "iocore" / "iocore")
    if not os.access(path, os.X_OK):
        pytest.skip(f"iocore binary not found at {path} (set IOCORE_BIN)")
    return path


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

    def __init__(self, args, expect_listeners=1, timeout=10, env=None):
        self.args = [iocore_bin()] + list(args)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
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
                    raise AssertionError(f"iocore exited with {self.proc.returncode}: {self.stderr()}")
                if d.expired():
                    self.kill()
                    raise AssertionError(f"iocore did not report {expect_listeners} listener(s): {self.stdout_lines}")
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

    def terminate(self, sig=signal.SIGTERM, timeout=15):
        """Send sig and wait for exit; returns the exit code."""
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
            self.proc.kill()
            self.proc.wait(5)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


@pytest.fixture
def start_iocore():
    started = []

    def start(*args, expect_listeners=1, timeout=10):
        p = Iocore(args, expect_listeners=expect_listeners, timeout=timeout)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


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


def free_port():
    """A port nobody listens on right now (for "upstream down")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OriginServer:
    """A scriptable TCP peer in a thread: handler(conn) runs per connection."""

    def __init__(self, handler, family=socket.AF_INET, host="127.0.0.1"):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.accepted = 0
        self.errors = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            self.handler(conn)
        except Exception as e:  # noqa: BLE001 - recorded for the test to assert on
            self.errors.append(e)
        finally:
            conn.close()

    def close(self):
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@pytest.fixture
def origin():
    servers = []

    def make(handler, **kw):
        s = OriginServer(handler, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


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
