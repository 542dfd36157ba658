"""`iocore echo`: bytes come back unchanged, for many concurrent clients with random sizes, and a
client's half-close is returned once everything is echoed."""
import os
import random
import socket
import threading
import time

from conftest import connect, net_threads, recv_until_eof, recv_exactly


def test_echo_returns_bytes_and_half_close(start_iocore):
    p = start_iocore("echo", "--listen", "127.0.0.1:0", "--threads", net_threads())
    with connect(p.addr()) as s:
        s.sendall(b"ping")
        assert recv_exactly(s, 4) == b"ping"
        s.sendall(b"tail")
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == b"tail"
    assert p.terminate() == 0


def test_echo_many_concurrent_clients_random_sizes(start_iocore):
    p = start_iocore("echo", "--listen", "127.0.0.1:0", "--threads", net_threads())
    rng = random.Random(1234)
    sizes = [rng.choice([0, 1, 100, 4096, 65537, 300_000, 1 << 20]) for _ in range(64)]
    failures = []

    def client(n):
        payload = os.urandom(n)
        try:
            with connect(p.addr(), timeout=20) as s:
                def send():
                    s.sendall(payload)
                    s.shutdown(socket.SHUT_WR)
                t = threading.Thread(target=send)
                t.start()
                got = recv_until_eof(s, timeout=30)
                t.join(30)
                if got != payload:
                    failures.append((n, len(got)))
        except Exception as e:  # noqa: BLE001
            failures.append((n, repr(e)))

    threads = [threading.Thread(target=client, args=(n,)) for n in sizes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures
    assert p.terminate() == 0


def test_echo_client_reset_does_not_hurt_others(start_iocore):
    p = start_iocore("echo", "--listen", "127.0.0.1:0", "--threads", "1")
    s = connect(p.addr())
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.sendall(b"x" * 100000)
    s.close()  # RST
    with connect(p.addr()) as s2:
        s2.sendall(b"still here")
        assert recv_exactly(s2, 10) == b"still here"
    assert p.terminate() == 0


def test_idle_clients_are_closed_but_active_ones_are_not(start_iocore):
    # The inactivity timeout (60 s by default, 1 s here) closes a silent client; a client that keeps
    # talking, for longer than the timeout, is left alone.
    p = start_iocore("echo", "--listen", "127.0.0.1:0", "--threads", "2", "--inactivity-timeout", "1")
    idle = [connect(p.addr(), timeout=10) for _ in range(3)]
    busy = connect(p.addr(), timeout=10)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.5:
        busy.sendall(b"tick")
        assert recv_exactly(busy, 4) == b"tick"
        time.sleep(0.25)  # the pace of a slow but live client
    for s in idle:
        assert recv_until_eof(s, timeout=10) == b""
        s.close()
    assert 0.9 <= time.monotonic() - t0 < 5
    busy.sendall(b"still")
    assert recv_exactly(busy, 5) == b"still"
    busy.close()
    assert p.terminate() == 0
