#!/usr/bin/python3
"""Open N idle connections to a server and keep them open until stdin closes.

    hold_conns.py PORT N [--request]

With --request each connection first sends one keep-alive GET and reads the whole response, so
the server (and, through a proxy, the tunnel and its upstream connection) has really set the
session up; then the connection stays idle. Prints "ready N" on stdout once all N are open (or
"failed K: reason" after K), then waits for stdin to reach EOF and closes everything. The whole
set-up is bounded by a deadline so a stuck server cannot hang the benchmark.
"""
import socket
import sys
import time

REQUEST = b"GET /tiny HTTP/1.1\r\nHost: bench\r\n\r\n"
DEADLINE_S = 120


def read_response(sock):
    """Read one HTTP response with a Content-Length body; return False on EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            return False
        body += chunk
    return True


def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    with_request = "--request" in sys.argv[3:]
    deadline = time.monotonic() + DEADLINE_S
    socks = []
    try:
        for _ in range(count):
            if time.monotonic() > deadline:
                raise TimeoutError("deadline passed")
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            socks.append(s)
            if with_request:
                s.sendall(REQUEST)
                if not read_response(s):
                    raise ConnectionError("server closed before answering")
    except Exception as e:  # report and let the caller decide
        print(f"failed {len(socks)}: {e}", flush=True)
        return 1
    print(f"ready {len(socks)}", flush=True)
    sys.stdin.read()
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
