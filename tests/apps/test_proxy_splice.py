"""`iocore proxy --splice`: which tunnels are spliced (with auto, a direction of a plain TCP tunnel
that shows bulk flow; none with off), that bytes through a direction that switched from its buffer to
splice(2) arrive intact and in order, half-closes included, and that the access log and the byte
metrics count a spliced tunnel exactly as a buffered one. The TLS fallback is in test_tls.py."""
import os
import re
import socket
import struct
import threading

import pytest

from conftest import (connect, echo_through, http_connect, http_get_raw, net_threads, parse_prometheus,
                      read_http_response, recv_exactly, recv_until_eof, wait_for)

SWITCH_RE = re.compile(r"proxy \S+: (client->upstream|upstream->client) switches to splice after (\d+) bytes "
                       r"\((\d+) still buffered\)")
BOTH_ENDS_RE = re.compile(r"proxy \S+: (client->upstream|upstream->client) spliced both ends \((\d+) bytes in the pipe\)")


def start_proxy(start_iocore, upstream_port, *extra):
    return start_iocore("proxy", "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{upstream_port}",
                        "--threads", net_threads(), "--stats", "127.0.0.1:0", *extra, expect_listeners=2)


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_large_transfer_is_intact_and_counted_alike(start_iocore, tmp_path, mode):
    mib = min(64, int(os.environ.get("IOCORE_TEST_BULK_MIB", "64")))
    echo = start_iocore("echo", "--listen", "127.0.0.1:0", "--threads", net_threads())
    log = tmp_path / "access.log"
    p = start_proxy(start_iocore, echo.port(), "--splice", mode, "--access-log", str(log), "--buffer-size", "64K")
    sent, got, received = echo_through(p.addr("proxy"), mib, 11)
    assert received == mib << 20
    assert got == sent
    wait_for(lambda: log.exists() and log.read_text().strip() != "", 5, what="the access log line")
    line = log.read_text().strip()
    assert f"bytes_in={mib << 20} " in line and f"bytes_out={mib << 20} " in line and "end=eof" in line, line
    m = parse_prometheus(http_get_raw(p.addr("stats"), "/metrics")[2].decode())
    assert m["iocore_proxy_spliced_tunnels_total"] == (1 if mode == "auto" else 0)
    assert m["iocore_proxy_client_to_upstream_bytes_total"] == mib << 20
    assert m["iocore_proxy_upstream_to_client_bytes_total"] == mib << 20
    assert m["iocore_net_read_bytes_total"] >= 2 * (mib << 20)
    assert m["iocore_net_write_bytes_total"] >= 2 * (mib << 20)
    assert p.terminate() == 0


def test_auto_is_the_default(start_iocore, origin):
    # No --splice: a bulk answer switches its direction, as with --splice auto.
    payload = os.urandom(4 << 20)
    o = origin(lambda conn: conn.sendall(payload))
    p = start_proxy(start_iocore, o.port, "--log-level", "debug")
    with connect(p.addr("proxy"), timeout=30) as s:
        # The client reads only once the direction has switched: a stalled destination lets the
        # buffer fill, so the switch cannot be missed.
        wait_for(lambda: "upstream->client" in switches(p), 30, what="the upstream->client switch")
        assert recv_until_eof(s, timeout=60) == payload
    m = parse_prometheus(http_get_raw(p.addr("stats"), "/metrics")[2].decode())
    assert m["iocore_proxy_spliced_tunnels_total"] == 1
    assert p.terminate() == 0


def test_help_describes_splice():
    from conftest import run_iocore
    r = run_iocore("proxy", "--help")
    assert r.returncode == 0
    assert "--splice auto|off" in r.stdout


def pipes_of(pid):
    """How many pipe ends the process holds."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:")
        except OSError:
            pass  # closed meanwhile
    return n


def switches(p):
    """{direction: (bytes before the switch, bytes still buffered then)} from the proxy's debug log."""
    return {m.group(1): (int(m.group(2)), int(m.group(3))) for m in SWITCH_RE.finditer(p.stderr())}


def test_small_exchanges_never_splice(start_iocore):
    # Requests and responses far smaller than the buffer: however many a connection carries, its
    # directions stay buffered, so no tunnel holds pipes or pays for splice calls.
    http = start_iocore("http", "--listen", "127.0.0.1:0", "--threads", "1", "--body", "ok!")
    p = start_proxy(start_iocore, http.port(), "--splice", "auto", "--log-level", "debug")
    idle_pipes = pipes_of(p.pid())
    socks = [http_connect(p.addr("proxy")) for _ in range(4)]
    try:
        for _ in range(50):
            for s in socks:
                s.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
                status, _, body = read_http_response(s)
                assert status == 200 and body == b"ok!"
        # Pipelined: 40 requests in one segment, their answers back to back.
        socks[0].sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n" * 40)
        for _ in range(40):
            assert read_http_response(socks[0])[2] == b"ok!"
        # All four tunnels are open and have carried traffic both ways: none holds a pipe.
        assert pipes_of(p.pid()) == idle_pipes
        m = parse_prometheus(http_get_raw(p.addr("stats"), "/metrics")[2].decode())
        assert m["iocore_proxy_active_tunnels"] == 4
        assert m["iocore_proxy_spliced_tunnels_total"] == 0
        assert switches(p) == {}
    finally:
        for s in socks:
            s.close()
    assert p.terminate() == 0


def test_bulk_both_ways_switches_each_direction_in_order(start_iocore, origin, tmp_path):
    # Both directions at once, each switching on its own. Each receiver holds off until the
    # direction towards it has switched (a stalled destination lets the buffer fill, so the switch
    # cannot be missed). Both streams must arrive whole and in order, and each side's half-close
    # (sent after its direction switched) must reach the other side.
    mib = min(8, int(os.environ.get("IOCORE_TEST_BULK_MIB", "8")))
    to_origin = os.urandom(mib << 20)
    to_client = os.urandom(mib << 20)
    up_switched, down_switched = threading.Event(), threading.Event()
    got = {}

    def send_then_shut(sock, data):
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)

    def handler(conn):
        t = threading.Thread(target=send_then_shut, args=(conn, to_client))
        t.start()
        if up_switched.wait(60):
            got["origin"] = recv_until_eof(conn, timeout=60)
        t.join(60)

    o = origin(handler)
    log = tmp_path / "access.log"
    p = start_proxy(start_iocore, o.port, "--splice", "auto", "--log-level", "debug", "--access-log", str(log))
    idle_pipes = pipes_of(p.pid())
    with connect(p.addr("proxy"), timeout=60) as s:
        t = threading.Thread(target=send_then_shut, args=(s, to_origin))
        t.start()
        try:
            wait_for(lambda: "client->upstream" in switches(p), 30, what="the client->upstream switch")
            up_switched.set()
            wait_for(lambda: "upstream->client" in switches(p), 30, what="the upstream->client switch")
            down_switched.set()
            got["client"] = recv_until_eof(s, timeout=60)
        finally:
            up_switched.set()
            t.join(60)
    wait_for(lambda: "origin" in got, 60, what="the origin to read to EOF")
    assert got["origin"] == to_origin
    assert got["client"] == to_client
    for direction, (before, buffered) in switches(p).items():
        assert 0 < buffered <= before < mib << 20, (direction, before, buffered)
    wait_for(lambda: log.exists() and log.read_text().strip() != "", 10, what="the access log line")
    line = log.read_text().strip()
    assert f"bytes_in={mib << 20} " in line and f"bytes_out={mib << 20} " in line and "end=eof" in line, line
    m = parse_prometheus(http_get_raw(p.addr("stats"), "/metrics")[2].decode())
    assert m["iocore_proxy_spliced_tunnels_total"] == 1
    assert m["iocore_proxy_client_to_upstream_bytes_total"] == mib << 20
    assert m["iocore_proxy_upstream_to_client_bytes_total"] == mib << 20
    wait_for(lambda: pipes_of(p.pid()) == idle_pipes, 10, what="the tunnel's pipes to be closed")
    assert p.terminate() == 0


def test_a_keep_alive_connection_switches_only_for_its_bulk_response(start_iocore, origin):
    # One connection: small answers (buffered), one large answer (its direction switches), then
    # small answers again, now through the pipe. The requests never fill a buffer: that direction
    # stays buffered.
    big = 4 << 20
    payload = os.urandom(big)

    def handler(conn):
        f = conn.makefile("rb")
        for line in f:
            n = int(line)
            conn.sendall(payload[:n] if n > 100 else bytes([48 + n % 10]) * n)

    o = origin(handler)
    p = start_proxy(start_iocore, o.port, "--splice", "auto", "--log-level", "debug")
    with connect(p.addr("proxy"), timeout=30) as s:
        for n in range(1, 30):
            s.sendall(b"%d\n" % n)
            assert recv_exactly(s, n) == bytes([48 + n % 10]) * n
        assert switches(p) == {}
        s.sendall(b"%d\n" % big)
        # The client reads only once the direction has switched: the switch finds the client stalled.
        wait_for(lambda: "upstream->client" in switches(p), 30, what="the upstream->client switch")
        assert recv_exactly(s, big, timeout=60) == payload
        for n in range(1, 30):
            s.sendall(b"%d\n" % n)
            assert recv_exactly(s, n) == bytes([48 + n % 10]) * n
    assert list(switches(p)) == ["upstream->client"]
    m = parse_prometheus(http_get_raw(p.addr("stats"), "/metrics")[2].decode())
    assert m["iocore_proxy_spliced_tunnels_total"] == 1
    assert p.terminate() == 0


def tcp_queues(local, remote):
    """(send queue, receive queue) of the IPv4 TCP connection local -> remote, from /proc/net/tcp:
    bytes sent and not yet acknowledged, bytes received and not yet read by the socket's owner."""
    def hex_addr(addr):
        return "%08X:%04X" % (struct.unpack("<I", socket.inet_aton(addr[0]))[0], addr[1])
    want = (hex_addr(local), hex_addr(remote))
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (fields[1], fields[2]) == want:
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    raise AssertionError(f"no TCP connection {local} -> {remote} in /proc/net/tcp")


def test_a_switch_with_the_destination_stalled_writes_the_buffer_before_the_pipe(start_iocore, origin, tmp_path):
    # The origin reads nothing at first. The client sends 12 KiB pieces (too large for the buffer's
    # small-message block), each once the proxy has read the one before, so no read takes more than
    # a piece: the buffer fills only once the upstream side has stalled. The switch then leaves
    # bytes in the buffer that cannot be written, and the client's next bytes go into the pipe. Once
    # the origin reads, it must get the buffer's bytes, then the pipe's, in order, then the FIN the
    # client sent after the switch; the origin's answer and FIN must come back.
    piece_size = 12 << 10
    limit = 32 << 20  # the upstream side stalls after a few MiB (socket buffers); bounded anyway
    go = threading.Event()
    got = {}

    def handler(conn):
        if go.wait(60):
            got["origin"] = recv_until_eof(conn, timeout=60)
            conn.sendall(b"bye")
            conn.shutdown(socket.SHUT_WR)

    o = origin(handler)
    o.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    log = tmp_path / "access.log"
    p = start_proxy(start_iocore, o.port, "--splice", "auto", "--log-level", "debug", "--access-log", str(log))
    pieces = []
    try:
        with connect(p.addr("proxy"), timeout=60) as s:
            mine, proxy_side = s.getsockname(), s.getpeername()

            def send_piece():
                # Each 8-byte word carries its piece's number: a piece out of place is seen.
                pieces.append(struct.pack(">Q", len(pieces)) * (piece_size // 8))
                s.sendall(pieces[-1])

            def unread_by_proxy():
                return tcp_queues(proxy_side, mine)[1] + tcp_queues(mine, proxy_side)[0]

            while "client->upstream" not in switches(p):
                assert len(pieces) * piece_size < limit, "the client->upstream direction never switched"
                send_piece()
                wait_for(lambda: unread_by_proxy() == 0 or "client->upstream" in switches(p), 30, interval=0.001,
                         what="the proxy to read a piece")
            before, buffered = switches(p)["client->upstream"]
            assert buffered >= 16 << 10, (before, buffered)  # at least half of the default 32 KiB buffer

            def in_pipe():
                return len(pieces) * piece_size - before - unread_by_proxy()

            # The destination is stalled: what the proxy reads from now on stays in the pipe.
            send_piece()
            wait_for(lambda: in_pipe() > 0, 30, interval=0.001, what="bytes in the pipe")
            go.set()
            s.shutdown(socket.SHUT_WR)
            assert recv_until_eof(s, timeout=60) == b"bye"
    finally:
        go.set()
    wait_for(lambda: "origin" in got, 60, what="the origin to read to EOF")
    sent = b"".join(pieces)
    assert len(got["origin"]) == len(sent) and got["origin"] == sent
    pipe_at_switch = {m.group(1): int(m.group(2)) for m in BOTH_ENDS_RE.finditer(p.stderr())}
    assert pipe_at_switch.get("client->upstream", 0) > 0, pipe_at_switch
    assert "upstream->client" not in switches(p)
    wait_for(lambda: log.exists() and log.read_text().strip() != "", 10, what="the access log line")
    line = log.read_text().strip()
    assert f"bytes_in={len(sent)} " in line and "bytes_out=3 " in line and "end=eof" in line, line
    m = parse_prometheus(http_get_raw(p.addr("stats"), "/metrics")[2].decode())
    assert m["iocore_proxy_client_to_upstream_bytes_total"] == len(sent)
    assert m["iocore_proxy_upstream_to_client_bytes_total"] == 3
    assert p.terminate() == 0
