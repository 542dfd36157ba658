"""`iocore proxy`: real clients (curl, sockets) through the proxy to real origins (nginx, the
built-in http responder, `iocore echo`, scripted peers): bulk data both ways with a small buffer,
half-closes, upstream failures and failover, bounded memory with a client that never reads,
--max-connections, the idle timeout, the SIGTERM drain, the access log and /metrics; each with
--splice auto (the default) and --splice off."""
import errno
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import (Deadline, echo_through, connect, echo_handler, http_get_raw, net_threads, parse_prometheus, recv_exactly,
                      recv_until_eof, wait_for)


# Every test runs twice: with --splice auto (the default: plain TCP both sides, each direction
# starts buffered and moves to splice(2) once it shows bulk flow) and --splice off (the MIOBuffer
# tunnel only); the behaviour asked of the proxy is the same. IOCORE_TEST_SPLICE_MODES narrows it
# (the io_uring copy runs only auto, which has both paths: small exchanges stay buffered, bulk ones
# switch).
_splice_mode = "auto"
_SPLICE_MODES = os.environ.get("IOCORE_TEST_SPLICE_MODES", "auto off").split()


@pytest.fixture(autouse=True, params=_SPLICE_MODES, ids=[f"splice-{m}" for m in _SPLICE_MODES])
def splice_mode(request):
    global _splice_mode
    _splice_mode = request.param
    yield request.param
    _splice_mode = "auto"


def start_proxy(start_iocore, upstreams, *extra, stats=False):
    args = ["proxy", "--listen", "127.0.0.1:0", "--upstream", ",".join(upstreams), "--threads", net_threads(),
            "--splice", _splice_mode, *extra]
    if stats:
        args += ["--stats", "127.0.0.1:0"]
    return start_iocore(*args, expect_listeners=2 if stats else 1)


def curl(url, timeout=10):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout), "-o", "-", "-w", "\n%{http_code}", url],
                          capture_output=True, text=True, timeout=timeout + 5)


# --- origins -------------------------------------------------------------------------------------

@pytest.fixture
def nginx_origin():
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if nginx is None:
        pytest.skip("nginx is not installed (the CI script installs it: apt-get install nginx-light)")
    tmp = Path(tempfile.mkdtemp(prefix="iocore-nginx-"))
    tmp.chmod(0o755)  # the worker may run as another user
    # nginx takes over a socket we bound to a kernel-chosen port (its NGINX variable, as in a binary
    # upgrade): no window in which another program could take the port. (nginx 1.22 crashed when
    # given one with master_process off.)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)
    port = lsock.getsockname()[1]
    (tmp / "logs").mkdir()
    (tmp / "html").mkdir()
    (tmp / "html" / "index.html").write_text("hello from nginx\n")
    (tmp / "nginx.conf").write_text(f"""
daemon off;
master_process on;
worker_processes 1;
error_log {tmp}/logs/error.log;
pid {tmp}/nginx.pid;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/tmp; proxy_temp_path {tmp}/tmp; fastcgi_temp_path {tmp}/tmp;
  uwsgi_temp_path {tmp}/tmp; scgi_temp_path {tmp}/tmp;
  server {{ listen 127.0.0.1:{port}; root {tmp}/html; location = /ok {{ return 200 "ok\\n"; }} }}
}}
""")
    proc = None
    try:
        proc = subprocess.Popen([nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(lsock.fileno(),),
                                env=dict(os.environ, NGINX=f"{lsock.fileno()};"))
        lsock.close()

        def up():
            if proc.poll() is not None:
                pytest.fail(f"nginx exited with {proc.returncode}: {proc.stderr.read()}")
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"GET /ok HTTP/1.0\r\n\r\n")
                return recv_until_eof(s, timeout=5).startswith(b"HTTP/1.1 200")
        wait_for(up, 10, what="nginx to answer")
        yield ("127.0.0.1", port)
    finally:
        lsock.close()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


def test_curl_through_proxy_to_nginx(start_iocore, nginx_origin):
    p = start_proxy(start_iocore, [f"127.0.0.1:{nginx_origin[1]}"])
    port = p.port()
    r = curl(f"http://127.0.0.1:{port}/")
    assert r.stdout == "hello from nginx\n\n200", r.stderr
    r = curl(f"http://127.0.0.1:{port}/ok")
    assert r.stdout == "ok\n\n200"
    assert p.terminate() == 0


def test_curl_through_proxy_to_builtin_http_origin(start_iocore):
    origin = start_iocore("http", "--listen", "127.0.0.1:0", "--body", "from-origin", "--threads", "1")
    p = start_proxy(start_iocore, [f"127.0.0.1:{origin.port()}"])
    r = curl(f"http://127.0.0.1:{p.port()}/")
    assert r.stdout == "from-origin\n200"
    assert p.terminate() == 0 and origin.terminate() == 0


# --- bulk data and half-closes ---------------------------------------------------------------------

def test_bulk_random_data_both_ways_with_4k_buffer(start_iocore):
    mib = int(os.environ.get("IOCORE_TEST_BULK_MIB", "256"))
    echo = start_iocore("echo", "--listen", "127.0.0.1:0", "--threads", net_threads())
    p = start_proxy(start_iocore, [f"127.0.0.1:{echo.port()}"], "--buffer-size", "4096")
    sent, got, received = echo_through(p.addr(), mib, 7)
    assert received == mib << 20
    assert got == sent
    assert p.terminate() == 0


def test_client_half_close_is_propagated(start_iocore, origin):
    seen = {}

    def handler(conn):
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        seen["request"] = data
        conn.sendall(b"reply after your FIN")
        conn.shutdown(socket.SHUT_WR)

    o = origin(handler)
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"])
    with connect(p.addr()) as s:
        s.sendall(b"request body")
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == b"reply after your FIN"
    assert seen["request"] == b"request body"


def test_upstream_half_close_is_propagated(start_iocore, origin):
    seen = {}
    got_fin = threading.Event()

    def handler(conn):
        conn.sendall(b"banner")
        conn.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        seen["data"] = data
        got_fin.set()

    o = origin(handler)
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"])
    with connect(p.addr()) as s:
        assert recv_until_eof(s) == b"banner"  # the upstream's FIN reached us
        s.sendall(b"still talking")  # our direction is still open
        s.shutdown(socket.SHUT_WR)
        assert got_fin.wait(5)
        assert recv_until_eof(s) == b""
    assert seen["data"] == b"still talking"


# --- upstream failures -------------------------------------------------------------------------------

def test_upstream_refused_closes_client_promptly(start_iocore, refused_port):
    # The refusal itself must end the attempt: the connect timeout, the slower way to the same end,
    # is a minute away.
    p = start_proxy(start_iocore, [f"127.0.0.1:{refused_port()}"], "--connect-timeout", "60", stats=True)
    t0 = time.monotonic()
    with connect(p.addr("proxy")) as s:
        assert recv_until_eof(s, timeout=15) == b""
    assert time.monotonic() - t0 < 15
    m = parse_prometheus(http_get_raw(p.addr("stats"), "/metrics")[2].decode())
    assert m["iocore_proxy_upstream_connect_failures_total"] == 1
    assert m["iocore_proxy_no_upstream_total"] == 1


def blackhole():
    """A listener whose accept queue is full: further SYNs are dropped, so connects hang."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(lsock.getsockname())
        except BlockingIOError:
            pass
        fillers.append(c)
    return lsock, fillers


def test_upstream_silent_closes_client_within_connect_timeout(start_iocore):
    lsock, fillers = blackhole()
    try:
        p = start_proxy(start_iocore, [f"127.0.0.1:{lsock.getsockname()[1]}"], "--connect-timeout", "1")
        t0 = time.monotonic()
        with connect(p.addr()) as s:
            assert recv_until_eof(s, timeout=10) == b""
        elapsed = time.monotonic() - t0
        assert 0.9 <= elapsed < 4.0, elapsed  # never before the timeout; late by less than 3 timeouts
    finally:
        for c in fillers:
            c.close()
        lsock.close()


def test_failover_to_second_upstream(start_iocore, origin, refused_port):
    o = origin(echo_handler)
    down = refused_port()
    p = start_proxy(start_iocore, [f"127.0.0.1:{down}", f"127.0.0.1:{o.port}"], "--access-log", "-")
    for _ in range(4):  # round-robin starts at each upstream in turn; every client must get through
        with connect(p.addr()) as s:
            s.sendall(b"hi")
            assert recv_exactly(s, 2) == b"hi"
    assert o.accepted == 4


def test_retries_zero_does_not_fail_over(start_iocore, origin, refused_port):
    o = origin(echo_handler)
    p = start_proxy(start_iocore, [f"127.0.0.1:{refused_port()}", f"127.0.0.1:{o.port}"], "--retries", "0")
    outcomes = []
    for _ in range(2):
        with connect(p.addr()) as s:
            try:
                s.sendall(b"x")
                s.shutdown(socket.SHUT_WR)
                outcomes.append(recv_until_eof(s, timeout=5))
            except OSError as e:  # closed by the proxy before or while we wrote: reset, or already gone
                if e.errno not in (errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE):
                    raise
                outcomes.append(b"")
    assert sorted(outcomes) == [b"", b"x"]


# --- resets from either side ---------------------------------------------------------------------------

def reset(sock):
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def closed_by_peer(sock, timeout=10):
    """Read until the peer's FIN or RST; returns the bytes that came before it."""
    d = Deadline(timeout)
    chunks = []
    while True:
        sock.settimeout(max(0.01, d.left()))
        try:
            data = sock.recv(1 << 16)
        except ConnectionResetError:
            return b"".join(chunks)
        except socket.timeout:
            raise AssertionError(f"not closed within {timeout}s (got {sum(map(len, chunks))} bytes)")
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def no_tunnel_left(p):
    """Wait until the proxy serves no tunnel and holds no connection but the metrics scrape's own."""
    def idle():
        m = parse_prometheus(http_get_raw(p.addr("stats"), "/metrics")[2].decode())
        return m["iocore_proxy_active_tunnels"] == 0 and m["iocore_net_connections_currently_open"] == 1
    wait_for(idle, 10, interval=0.1, what="no tunnel and no connection left in the proxy")


def test_client_reset_closes_the_upstream_and_is_logged(start_iocore, origin, tmp_path):
    ended = threading.Event()

    def handler(conn):
        assert recv_exactly(conn, 4) == b"ping"
        conn.sendall(b"pong")
        closed_by_peer(conn)  # the proxy must close its side once the client is gone
        ended.set()

    o = origin(handler)
    log = tmp_path / "access.log"
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"], "--access-log", str(log), stats=True)
    s = connect(p.addr("proxy"))
    s.sendall(b"ping")
    assert recv_exactly(s, 4) == b"pong"
    reset(s)
    assert ended.wait(10), "the upstream connection stayed open after the client's reset"
    no_tunnel_left(p)
    wait_for(lambda: "end=" in log.read_text(), 5, what="the access log line")
    line = log.read_text()
    assert "end=error detail=client_ECONNRESET" in line, line
    assert "bytes_in=4 bytes_out=4 " in line, line


def test_upstream_reset_closes_the_client_and_is_logged(start_iocore, origin, tmp_path):
    def handler(conn):
        assert recv_exactly(conn, 4) == b"ping"
        reset(conn)

    o = origin(handler)
    log = tmp_path / "access.log"
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"], "--access-log", str(log), stats=True)
    with connect(p.addr("proxy")) as s:
        s.sendall(b"ping")
        assert closed_by_peer(s) == b""
    no_tunnel_left(p)
    wait_for(lambda: "end=" in log.read_text(), 5, what="the access log line")
    line = log.read_text()
    assert "end=error detail=upstream_ECONNRESET" in line, line


def test_upstream_data_sent_before_its_reset_reaches_the_client(start_iocore, origin):
    # The upstream sends while the client does not read yet, so the bytes pile up in the proxy,
    # then resets. Every byte the proxy's side acknowledged before the reset must reach the
    # client, before the client is closed.
    arrived = {}
    reset_done = threading.Event()

    def handler(conn):
        assert recv_exactly(conn, 4) == b"ping"
        stream = os.urandom(16 << 20)  # more than the sockets and the proxy's buffer hold
        conn.setblocking(False)
        n = 0
        try:
            while n < len(stream):
                n += conn.send(stream[n:n + 65536])
        except BlockingIOError:
            pass  # everything between here and the client is full
        # Until the send queue stops shrinking: what is still in it never reaches the proxy.
        d = Deadline(10)
        left = _unacked_bytes(conn)
        while left and not d.expired():
            select.select([], [conn], [], 0.2)
            now_left = _unacked_bytes(conn)
            if now_left == left:
                break
            left = now_left
        arrived["data"] = stream[:n - left]
        arrived["stream"] = stream
        reset(conn)
        reset_done.set()

    o = origin(handler)
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"], stats=True)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(10)
    s.connect(p.addr("proxy"))
    try:
        s.sendall(b"ping")
        assert reset_done.wait(30)
        got = closed_by_peer(s, timeout=30)
        expected = arrived["data"]
        # Acknowledgements after the count above only add bytes.
        assert got == arrived["stream"][:len(got)], "bytes changed on the way"
        assert len(got) >= len(expected), f"{len(got)} of {len(expected)} bytes reached the client"
    finally:
        s.close()
    no_tunnel_left(p)


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as t:
            t.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_ipv6_client_and_upstream(start_iocore, origin, tmp_path):
    if not ipv6_loopback():
        pytest.skip("no ::1 on this host")
    o = origin(echo_handler, family=socket.AF_INET6, host="::1")
    log = tmp_path / "access.log"
    p = start_iocore("proxy", "--listen", "[::1]:0", "--upstream", f"[::1]:{o.port}", "--threads", net_threads(),
                     "--access-log", str(log))
    assert p.addr()[0] == "::1"
    payload = os.urandom(100_000)
    with socket.create_connection(p.addr(), timeout=10) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == payload
    wait_for(lambda: "end=" in log.read_text(), 5, what="the access log line")
    line = log.read_text()
    assert f"upstream=[::1]:{o.port} " in line and "client=[::1]:" in line and "end=eof" in line, line


# --- bounded memory ------------------------------------------------------------------------------------

def test_client_that_never_reads_keeps_proxy_memory_bounded(start_iocore, origin):
    sent = {"n": 0}
    stop = threading.Event()

    def streamer(conn):
        conn.settimeout(0.2)
        chunk = b"z" * (1 << 20)
        while not stop.is_set() and sent["n"] < (1 << 30):
            try:
                sent["n"] += conn.send(chunk)
            except socket.timeout:
                continue
            except OSError:
                return

    o = origin(streamer)
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"])
    idle_rss = p.rss_kib()
    s = connect(p.addr())
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    try:
        # Wait until the upstream is stalled: its byte count stops growing.
        last = {"n": -1, "since": time.monotonic()}

        def stalled():
            n = sent["n"]
            if n != last["n"]:
                last["n"], last["since"] = n, time.monotonic()
                return False
            return n > 0 and time.monotonic() - last["since"] > 1.0
        wait_for(stalled, 30, interval=0.1, what="the upstream to stall")
        grown_kib = p.rss_kib() - idle_rss
        if not os.environ.get("IOCORE_SANITIZER"):  # ASan's shadow memory and quarantine are not the proxy's
            assert grown_kib < 4 * 1024, f"proxy RSS grew by {grown_kib} KiB"
        assert sent["n"] < 64 << 20, f"upstream could push {sent['n']} bytes into a non-reading client"
    finally:
        stop.set()
        s.close()


# --- limits and timeouts -----------------------------------------------------------------------------------

def test_max_connections_queues_extra_clients(start_iocore, origin):
    o = origin(echo_handler)
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"], "--max-connections", "2")
    a = connect(p.addr())
    b = connect(p.addr())
    for s in (a, b):
        s.sendall(b"1")
        assert recv_exactly(s, 1) == b"1"
    c = connect(p.addr())  # completes in the kernel's queue, not accepted by the proxy
    c.sendall(b"3")
    c.settimeout(0.5)
    with pytest.raises(socket.timeout):
        c.recv(1)
    a.close()
    assert recv_exactly(c, 1, timeout=5) == b"3"
    b.close()
    c.close()


def test_idle_timeout_closes_tunnel(start_iocore, origin):
    o = origin(echo_handler)
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"], "--inactivity-timeout", "1", "--access-log", "-")
    with connect(p.addr()) as s:
        s.sendall(b"x")
        assert recv_exactly(s, 1) == b"x"
        t0 = time.monotonic()
        assert recv_until_eof(s, timeout=5) == b""
        assert 0.9 <= time.monotonic() - t0 < 4
    wait_for(lambda: any("end=timeout" in line for line in p.stdout_lines), 5, what="access log line")


def test_long_transfers_that_keep_moving_are_not_cut(start_iocore, origin):
    # The timeout is on inactivity, per connection: a download (the client only reads) and an
    # upload (the origin only reads) that each last 3.5x the timeout are not cut.
    def trickling_origin(conn):
        first = conn.recv(16)
        if first.startswith(b"download"):
            for _ in range(14):
                conn.sendall(b"d" * 100)
                time.sleep(0.25)  # the pace of a slow but live origin
            conn.shutdown(socket.SHUT_WR)
            conn.recv(16)
        else:
            total = len(first)
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                total += len(data)
            conn.sendall(str(total).encode())
    o = origin(trickling_origin)
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"], "--inactivity-timeout", "1", "--access-log", "-")
    down = connect(p.addr(), timeout=10)
    down.sendall(b"download")
    up = connect(p.addr(), timeout=10)
    up.sendall(b"upload")
    for _ in range(14):
        up.sendall(b"u" * 100)
        time.sleep(0.25)
    up.shutdown(socket.SHUT_WR)
    assert recv_until_eof(up, timeout=10) == str(6 + 1400).encode()
    assert recv_until_eof(down, timeout=10) == b"d" * 1400
    down.close()
    up.close()
    assert not o.errors
    assert not any("end=timeout" in line for line in p.stdout_lines), p.stdout_lines


def test_sigterm_drains_open_tunnels(start_iocore, origin):
    o = origin(echo_handler)
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"], "--drain-timeout", "10")
    s = connect(p.addr())
    s.sendall(b"before")
    assert recv_exactly(s, 6) == b"before"
    p.send_signal(signal.SIGTERM)
    # Accepting stops at once...
    def refused():
        try:
            socket.create_connection(p.addr(), timeout=0.5).close()
            return False
        except OSError:
            return True
    wait_for(refused, 5, what="the listener to close")
    # ...but the open tunnel keeps working until the client finishes.
    s.sendall(b"during")
    assert recv_exactly(s, 6) == b"during"
    assert p.proc.poll() is None
    s.shutdown(socket.SHUT_WR)
    assert recv_until_eof(s) == b""
    s.close()
    assert p.terminate(timeout=5) == 0


def test_drain_timeout_closes_remaining_tunnels(start_iocore, origin, tmp_path):
    o = origin(echo_handler)
    log = tmp_path / "access.log"
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"], "--drain-timeout", "1", "--access-log", str(log))
    s = connect(p.addr())
    s.sendall(b"x")
    assert recv_exactly(s, 1) == b"x"
    t0 = time.monotonic()
    assert p.terminate(timeout=6) == 0
    assert time.monotonic() - t0 < 4
    assert recv_until_eof(s, timeout=2) == b""
    s.close()
    assert "end=drain" in log.read_text()


# --- access log and metrics ----------------------------------------------------------------------------------

def test_access_log_and_metrics_add_up(start_iocore, origin, tmp_path):
    o = origin(echo_handler)
    log = tmp_path / "access.log"
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"], "--access-log", str(log), stats=True)
    sizes = [1, 1000, 70000]
    for n in sizes:
        with connect(p.addr("proxy")) as s:
            s.sendall(b"q" * n)
            s.shutdown(socket.SHUT_WR)
            assert len(recv_until_eof(s)) == n
    wait_for(lambda: log.exists() and len(log.read_text().splitlines()) == 3, 5, what="3 access log lines")
    # A client sees its EOF a moment before the proxy writes that tunnel's line, so the next tunnel
    # (on another thread) may log first: match the lines by size, not by order.
    lines = sorted(log.read_text().splitlines(), key=lambda line: int(line.split("bytes_in=")[1].split()[0]))
    for n, line in zip(sizes, lines):
        assert f"bytes_in={n} " in line and f"bytes_out={n} " in line, line
        assert f"upstream=127.0.0.1:{o.port}" in line and "end=eof" in line and "duration_ms=" in line
        assert "client=127.0.0.1:" in line
    m = parse_prometheus(http_get_raw(p.addr("stats"), "/metrics")[2].decode())
    assert m["iocore_proxy_tunnels_total"] == 3
    assert m["iocore_proxy_active_tunnels"] == 0
    assert m["iocore_proxy_client_to_upstream_bytes_total"] == sum(sizes)
    assert m["iocore_proxy_upstream_to_client_bytes_total"] == sum(sizes)
    assert m["iocore_net_connects_total"] == 3
    assert m["iocore_net_read_bytes_total"] >= 2 * sum(sizes)
    assert m["iocore_net_write_bytes_total"] >= 2 * sum(sizes)


# --- resets ----------------------------------------------------------------------------------------------------

def _unacked_bytes(sock):
    import fcntl
    import struct
    import termios
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]


def test_origin_answer_before_its_reset_reaches_the_client(start_iocore, origin):
    """An origin reads 10 bytes of a 256 KiB upload, answers 64 KiB and closes with the rest of the
    upload unread, so its kernel resets the connection: every byte of the answer reaches the client,
    then the close, every time; the access log says the upstream reset."""
    answer = os.urandom(65536)

    def handler(conn):
        got = b""
        while len(got) < 10:
            data = conn.recv(10 - len(got))
            if not data:
                return
            got += data
        conn.sendall(answer)  # then the close, with unread input: a reset

    o = origin(handler)
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"], "--access-log", "-")
    rounds = 20
    for i in range(rounds):
        s = connect(p.addr())
        upload = b"u" * (256 * 1024)

        def send_upload():
            try:
                s.sendall(upload)
            except OSError:
                pass  # the proxy stops reading once the origin is gone

        sender = threading.Thread(target=send_upload, daemon=True)
        sender.start()
        received = bytearray()
        d = Deadline(10)
        while True:
            s.settimeout(max(0.01, d.left()))
            try:
                data = s.recv(1 << 16)
            except socket.timeout:
                raise AssertionError(f"round {i}: no end within 10 s ({len(received)} bytes)")
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
        try:
            s.shutdown(socket.SHUT_RDWR)  # wakes the sender
        except OSError:
            pass  # already reset
        sender.join(10)
        s.close()
        assert bytes(received) == answer, f"round {i}: {len(received)} of {len(answer)} bytes reached the client"
    assert not o.errors
    wait_for(lambda: sum("end=error" in line and "upstream_" in line for line in p.stdout_lines) == rounds, 10,
             what="an access-log line naming the upstream's reset per round")


def test_client_data_before_its_reset_reaches_the_origin(start_iocore, origin):
    """The mirror image: a client sends 100 KB, reads a little of a long answer and closes with
    the rest unread (a reset): the origin receives all 100 KB, then the close."""
    received = []
    done = threading.Event()

    def handler(conn):
        total = 0
        stream = threading.Thread(target=lambda: _stream_until_closed(conn), daemon=True)
        stream.start()
        try:
            conn.settimeout(10)
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                total += len(data)
        except ConnectionResetError:
            pass
        finally:
            received.append(total)
            done.set()

    o = origin(handler)
    p = start_proxy(start_iocore, [f"127.0.0.1:{o.port}"], "--access-log", "-")
    s = connect(p.addr())
    s.sendall(b"c" * 100000)
    wait_for(lambda: _unacked_bytes(s) == 0, 10, what="the upload acknowledged by the proxy")
    recv_exactly(s, 10)
    s.close()  # the answer unread: a reset
    assert done.wait(10), "the origin saw no close"
    assert received == [100000]
    wait_for(lambda: any("end=error" in line and "client_" in line for line in p.stdout_lines), 10,
             what="an access-log line naming the client's reset")


def _stream_until_closed(conn):
    chunk = b"o" * 65536
    try:
        while True:
            conn.sendall(chunk)
    except OSError:
        pass


# --- connect failures: counters and logs that agree -------------------------------------------------------------

def test_refused_connects_agree_in_both_counters_and_warn_once(start_iocore, refused_port):
    up = f"127.0.0.1:{refused_port()}"
    p = start_proxy(start_iocore, [up], "--log-level", "warn", stats=True)
    for _ in range(5):
        with connect(p.addr("proxy")) as s:
            assert recv_until_eof(s) == b""
    m = parse_prometheus(http_get_raw(p.addr("stats"), "/metrics")[2].decode())
    assert m["iocore_proxy_upstream_connect_failures_total"] == 5
    assert m["iocore_net_connect_failures_total"] == 5
    def warnings():
        return [line for line in p.stderr().splitlines() if "warn" in line and up in line]
    wait_for(warnings, 10, what="a warning naming the upstream")  # stderr is read by another thread
    assert len(warnings()) == 1, p.stderr()
    assert "ECONNREFUSED" in warnings()[0]


def test_timed_out_connects_agree_in_both_counters(start_iocore):
    lsock, fillers = blackhole()
    try:
        p = start_proxy(start_iocore, [f"127.0.0.1:{lsock.getsockname()[1]}"], "--connect-timeout", "0.3", stats=True)
        for _ in range(2):
            with connect(p.addr("proxy")) as s:
                assert recv_until_eof(s) == b""
        m = parse_prometheus(http_get_raw(p.addr("stats"), "/metrics")[2].decode())
        assert m["iocore_proxy_upstream_connect_failures_total"] == 2
        assert m["iocore_net_connect_failures_total"] == 2
    finally:
        for c in fillers:
            c.close()
        lsock.close()
