"""`iocore http`: keep-alive, pipelining, HEAD, request bodies (Content-Length and chunked),
HTTP/1.0 and Connection: close, the error answers (400 malformed or without Host, 405 CONNECT,
431 oversized head, 501 overlong method, 505 other HTTP versions), /metrics counters that add up,
and a short wrk run without socket errors."""
import email.utils
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import (http_connect, read_http_response, recv_until_eof, parse_prometheus, http_get_raw)

BODY = "hello-iocore"


@pytest.fixture
def http_server(start_iocore):
    return start_iocore("http", "--listen", "127.0.0.1:0", "--body", BODY, "--threads", "2",
                        "--stats", "127.0.0.1:0", expect_listeners=2)


def req(path="/", method="GET", extra=""):
    return f"{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()


def test_keep_alive_serves_several_requests_on_one_connection(http_server):
    s = http_connect(http_server.addr("http"))
    for _ in range(5):
        s.sendall(req())
        status, headers, body = read_http_response(s)
        assert status == 200
        assert body == BODY.encode()
        assert headers["content-length"] == str(len(BODY))
        assert headers["content-type"].startswith("text/plain")
        assert headers.get("connection", "") != "close"
        # The head is formatted once per second per thread: its Date must still be today's form.
        date = email.utils.parsedate_to_datetime(headers["date"])
        assert date.tzinfo is not None and abs(time.time() - date.timestamp()) < 60
    s.close()


def test_pipelining_100_requests_in_one_write(http_server):
    s = http_connect(http_server.addr("http"))
    s.sendall(req() * 99 + req(extra="Connection: close\r\n"))
    for i in range(100):
        status, _, body = read_http_response(s)
        assert (status, body) == (200, BODY.encode()), i
    assert s._pending == b""
    assert recv_until_eof(s) == b""
    s.close()


def test_head_has_length_but_no_body(http_server):
    s = http_connect(http_server.addr("http"))
    s.sendall(req(method="HEAD") + req())
    status, headers, body = read_http_response(s, head_request=True)
    assert status == 200 and headers["content-length"] == str(len(BODY)) and body == b""
    status, _, body = read_http_response(s)
    assert body == BODY.encode()
    s.close()


def test_request_bodies_are_read_and_discarded(http_server):
    s = http_connect(http_server.addr("http"))
    s.sendall(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world")
    s.sendall(b"POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
    s.sendall(req("/c"))
    for _ in range(3):
        status, _, body = read_http_response(s)
        assert (status, body) == (200, BODY.encode())
    s.close()


def test_http10_and_connection_close_are_honoured(http_server):
    for request in (b"GET / HTTP/1.0\r\n\r\n", req(extra="Connection: close\r\n")):
        s = http_connect(http_server.addr("http"))
        s.sendall(request)
        status, headers, body = read_http_response(s)
        assert status == 200 and body == BODY.encode()
        assert headers["connection"] == "close"
        assert recv_until_eof(s, timeout=5) == b""
        s.close()
    s = http_connect(http_server.addr("http"))
    s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2)
    for _ in range(2):
        status, headers, _ = read_http_response(s)
        assert status == 200 and headers["connection"].lower() == "keep-alive"
    s.close()


@pytest.mark.parametrize("bad", [
    b"NONSENSE\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nnot-hex\r\n",
    b"GET / HTTP/1.1\r\nUser-Agent: no-host\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
])
def test_malformed_requests_get_400_and_close(http_server, bad):
    s = http_connect(http_server.addr("http"))
    s.sendall(bad)
    status, headers, _ = read_http_response(s)
    assert status == 400 and headers["connection"] == "close"
    assert recv_until_eof(s, timeout=5) == b""
    s.close()


@pytest.mark.parametrize("request_bytes,status", [
    (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405),
    (b"GET / HTTP/9.9\r\nHost: t\r\n\r\n", 505),
    (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    # No line end: the answer must not wait for one (nor for the head deadline).
    (b"M" * 33, 501),
    (b"M" * 100000, 501),
    # A TLS ClientHello's first bytes on a plain port.
    (bytes.fromhex("160301020001000001fc0303") + b"\x00" * 32, 400),
])
def test_refused_requests_are_answered_at_once_and_closed(http_server, request_bytes, status):
    s = http_connect(http_server.addr("http"))
    try:
        s.sendall(request_bytes)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the answer may come, and the server stop reading, before the client is done sending
    got, headers, body = read_http_response(s, timeout=5)
    assert got == status and headers["connection"] == "close"
    if status == 405:
        assert "GET" in headers["allow"] and "CONNECT" not in headers["allow"]
    assert recv_until_eof(s, timeout=5) == b""
    s.close()


def test_good_request_then_garbage_answers_both(http_server):
    s = http_connect(http_server.addr("http"))
    s.sendall(req() + b"\x00\x01garbage\r\n\r\n")
    assert read_http_response(s)[0] == 200
    assert read_http_response(s)[0] == 400
    s.close()


def test_oversized_head_gets_431_and_close(http_server):
    s = http_connect(http_server.addr("http"))
    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * (17 * 1024) + b"\r\n\r\n")
    status, headers, _ = read_http_response(s)
    assert status == 431 and headers["connection"] == "close"
    assert recv_until_eof(s, timeout=5) == b""
    s.close()
    s = http_connect(http_server.addr("http"))
    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * (15 * 1024) + b"\r\n\r\n")
    assert read_http_response(s)[0] == 200
    s.close()


def test_large_body_streams(start_iocore):
    # 3 MiB spans two of the shared body blocks; GET, HEAD, GET pipelined, then a closing GET.
    p = start_iocore("http", "--listen", "127.0.0.1:0", "--body-size", "3M", "--threads", "1")
    expected = b"x" * ((3 << 20) - 1) + b"\n"
    s = http_connect(p.addr())
    s.sendall(req() + req(method="HEAD") + req() + req(extra="Connection: close\r\n"))
    for i, head in enumerate([False, True, False, False]):
        status, headers, body = read_http_response(s, timeout=20, head_request=head)
        assert status == 200 and headers["content-length"] == str(len(expected)), i
        assert body == (b"" if head else expected), i
    assert recv_until_eof(s) == b""
    s.close()


def test_body_just_over_the_copy_limit_is_served_intact(start_iocore):
    # Bodies above 2 KiB are referenced from shared blocks, smaller ones copied: both sides of the line.
    for size in (2048, 2049, 65536):
        p = start_iocore("http", "--listen", "127.0.0.1:0", "--body-size", str(size), "--threads", "1")
        s = http_connect(p.addr())
        s.sendall(req() * 3)
        for _ in range(3):
            status, _, body = read_http_response(s)
            assert (status, body) == (200, b"x" * (size - 1) + b"\n"), size
        s.close()
        assert p.terminate() == 0


def test_metrics_count_requests_and_responses(http_server):
    for _ in range(3):
        assert http_get_raw(http_server.addr("http"))[0] == 200
    s = http_connect(http_server.addr("http"))
    s.sendall(b"BROKEN\r\n\r\n")
    assert read_http_response(s)[0] == 400
    recv_until_eof(s)
    s.close()
    status, headers, body = http_get_raw(http_server.addr("stats"), "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    m = parse_prometheus(body.decode())
    assert m['iocore_http_responses_total{status="200"}'] == 3
    assert m['iocore_http_responses_total{status="400"}'] == 1
    responses = sum(v for k, v in m.items() if k.startswith("iocore_http_responses_total{"))
    assert m["iocore_http_requests_total"] == responses == 4
    assert m["iocore_http_connections_total"] == 4
    assert m["iocore_net_accepts_total"] >= 5  # four clients and this scrape
    assert http_get_raw(http_server.addr("stats"), "/nope")[0] == 404


def test_wrk_runs_without_socket_errors(start_iocore):
    wrk = shutil.which("wrk")
    if wrk is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    p = start_iocore("http", "--listen", "127.0.0.1:0", "--threads", "2")
    host, port = p.addr()
    r = subprocess.run([wrk, "-t2", "-c50", "-d2s", f"http://{host}:{port}/"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert "Socket errors" not in r.stdout, r.stdout
    assert "Non-2xx" not in r.stdout, r.stdout
    reqs = int(re.search(r"(\d+) requests in", r.stdout).group(1))
    assert reqs > 100
    assert p.terminate() == 0


def test_sigterm_closes_idle_keep_alive_connections_at_once(start_iocore):
    p = start_iocore("http", "--listen", "127.0.0.1:0", "--threads", "2", "--drain-timeout", "10")
    s = http_connect(p.addr())
    s.sendall(req())
    assert read_http_response(s)[0] == 200
    p.proc.send_signal(15)
    assert recv_until_eof(s, timeout=3) == b""
    s.close()
    assert p.terminate(timeout=3) == 0
