"""Sockets the command did not make itself, and Unix-domain sockets: `--listen unix:PATH` /
`unix:@NAME`, `--upstream unix:...`, `--listen fd:N` and systemd socket activation (LISTEN_FDS /
LISTEN_PID). The readiness line names what is listened on; a socket file is removed on a clean exit,
a stale one is replaced, anything else at the path is left alone (exit 1)."""
import os
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest

from conftest import Deadline, iocore_bin, recv_exactly, recv_until_eof, run_iocore, wait_for


def listening_line(p, name, timeout=10):
    """The address in `iocore NAME listening on ADDRESS`, once printed."""
    prefix = f"iocore {name} listening on "

    def find():
        if p.proc.poll() is not None:
            raise AssertionError(f"iocore exited with {p.proc.returncode}: {p.stderr()}")
        return next((line[len(prefix):] for line in list(p.stdout_lines) if line.startswith(prefix)), None)

    return wait_for(find, timeout, what=f"the {name} listening line")


def unix_connect(path, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def echo_round_trip(sock, payload=b"over a unix socket"):
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload


@pytest.fixture
def sock_dir():
    """A short private directory under /tmp: sun_path holds 107 bytes, pytest's tmp_path can be longer."""
    path = tempfile.mkdtemp(prefix="iocore-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_echo_on_a_unix_path_names_it_and_removes_it_on_exit(start_iocore, sock_dir):
    path = os.path.join(sock_dir, "echo.sock")
    p = start_iocore("echo", "--listen", f"unix:{path}", "--threads", "2", expect_listeners=0)
    assert listening_line(p, "echo") == f"unix:{path}"
    assert p.stdout_lines[0] == f"iocore echo listening on unix:{path}"
    with unix_connect(path) as s:
        echo_round_trip(s)
        s.sendall(b"tail")
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == b"tail"
    assert p.terminate() == 0
    assert not os.path.exists(path)


def test_http_over_a_unix_path(start_iocore, sock_dir):
    path = os.path.join(sock_dir, "http.sock")
    p = start_iocore("http", "--listen", f"unix:{path}", "--body", "unix hello\n", "--threads", "1",
                     expect_listeners=0)
    listening_line(p, "http")
    with unix_connect(path) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = recv_until_eof(s)
    assert response.startswith(b"HTTP/1.1 200")
    assert response.endswith(b"unix hello\n")
    assert p.terminate() == 0


def test_abstract_name(start_iocore):
    name = f"iocore-test-{os.getpid()}"
    p = start_iocore("echo", "--listen", f"unix:@{name}", "--threads", "1", expect_listeners=0)
    assert listening_line(p, "echo") == f"unix:@{name}"
    with unix_connect("\0" + name) as s:
        echo_round_trip(s)
    assert p.terminate() == 0


def test_a_stale_socket_file_is_replaced(start_iocore, sock_dir):
    path = os.path.join(sock_dir, "stale.sock")
    old = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old.bind(path)
    old.listen(1)
    old.close()  # its server is gone; the file stays
    p = start_iocore("echo", "--listen", f"unix:{path}", "--threads", "1", expect_listeners=0)
    listening_line(p, "echo")
    with unix_connect(path) as s:
        echo_round_trip(s)
    assert p.terminate() == 0


def test_a_path_that_is_not_a_socket_is_refused_and_left_untouched(sock_dir):
    path = os.path.join(sock_dir, "notes.txt")
    with open(path, "w") as f:
        f.write("keep me")
    r = run_iocore("echo", "--listen", f"unix:{path}", "--threads", "1")
    assert r.returncode == 1, r
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and path in lines[0] and "not a socket" in lines[0], r.stderr
    with open(path) as f:
        assert f.read() == "keep me"


def test_a_live_listener_on_the_path_is_not_taken_over(sock_dir):
    path = os.path.join(sock_dir, "live.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
        live.bind(path)
        live.listen(4)
        r = run_iocore("echo", "--listen", f"unix:{path}", "--threads", "1")
        assert r.returncode == 1, r
        assert path in r.stderr and "another process" in r.stderr
        with unix_connect(path):
            pass  # still the other listener's


@pytest.mark.parametrize("flag", ["--listen", "--upstream"])
def test_a_path_longer_than_sun_path_is_a_usage_error(flag):
    long_path = "/tmp/" + "x" * 120
    args = ["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"]
    args[args.index(flag) + 1] = f"unix:{long_path}"
    r = run_iocore(*args)
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and "sun_path" in lines[0], r.stderr


def test_proxy_between_unix_sockets(start_iocore, sock_dir):
    origin_path = os.path.join(sock_dir, "origin.sock")
    proxy_path = os.path.join(sock_dir, "proxy.sock")
    origin = start_iocore("echo", "--listen", f"unix:{origin_path}", "--threads", "1", expect_listeners=0)
    listening_line(origin, "echo")
    proxy = start_iocore("proxy", "--listen", f"unix:{proxy_path}", "--upstream", f"unix:{origin_path}",
                         "--threads", "1", expect_listeners=0)
    listening_line(proxy, "proxy")
    payload = os.urandom(200_000)
    with unix_connect(proxy_path, timeout=10) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s, timeout=20) == payload
    assert proxy.terminate() == 0
    assert origin.terminate() == 0
    assert not os.path.exists(proxy_path) and not os.path.exists(origin_path)


def tcp_listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


class Passed:
    """iocore started with extra descriptors (subprocess pass_fds), optionally through a shell that
    sets systemd's variables for the exec'ed program's own pid."""

    def __init__(self, args, fds, shell_prefix=None):
        argv = [iocore_bin()] + list(args)
        if shell_prefix is not None:
            argv = ["/bin/bash", "-c", shell_prefix + ' exec "$0" "$@"'] + argv  # bash: fds above 9
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     pass_fds=fds)

    def line(self, timeout=10):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        d = Deadline(timeout)
        while not d.expired():
            if sel.select(d.left()):
                return self.proc.stdout.readline().rstrip("\n")
        raise AssertionError("no listening line")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def passed():
    started = []

    def start(*a, **kw):
        p = Passed(*a, **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait(5)


def test_listen_fd_serves_a_socket_the_caller_opened(passed):
    with tcp_listener() as lst:
        port = lst.getsockname()[1]
        p = passed(["echo", "--listen", f"fd:{lst.fileno()}", "--threads", "2"], [lst.fileno()])
        assert p.line() == f"iocore echo listening on 127.0.0.1:{port}"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            echo_round_trip(s, b"through a passed socket")
        assert p.stop() == 0
        # The caller's socket was closed by iocore but never shut down: it still listens.
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            lst.settimeout(5)
            conn, _ = lst.accept()
            conn.close()


def test_listen_fd_on_a_unix_socket_keeps_the_callers_file(passed, sock_dir):
    path = os.path.join(sock_dir, "passed.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as lst:
        lst.bind(path)
        lst.listen(4)
        p = passed(["echo", "--listen", f"fd:{lst.fileno()}", "--threads", "1"], [lst.fileno()])
        assert p.line() == f"iocore echo listening on unix:{path}"
        with unix_connect(path) as s:
            echo_round_trip(s)
        assert p.stop() == 0
        assert os.path.exists(path), "the file is the caller's"


@pytest.mark.parametrize("kind,mentions", [("file", "not a socket"), ("udp", "not a stream socket"),
                                           ("unlistened", "not a listening socket"), ("closed", "not open")])
def test_listen_fd_refuses_what_it_cannot_serve(passed, kind, mentions):
    if kind == "file":
        obj = open(os.devnull)
    elif kind == "udp":
        obj = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    else:
        obj = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        obj.bind(("127.0.0.1", 0))
    with obj:
        fd = obj.fileno()
        fds = [fd] if kind != "closed" else []
        if kind == "closed":
            fd = 1000  # nothing open there in the child
        p = passed(["echo", "--listen", f"fd:{fd}", "--threads", "1"], fds)
        assert p.proc.wait(10) == 1
        err = p.proc.stderr.read()
        assert f"fd:{fd}" in err and f"descriptor {fd}" in err and mentions in err, err
        assert len(err.strip().splitlines()) == 1


def test_listen_fd_that_is_not_a_number_is_a_usage_error():
    r = run_iocore("echo", "--listen", "fd:three")
    assert r.returncode == 2 and "--listen" in r.stderr


SYSTEMD = "LISTEN_PID=$$ LISTEN_FDS={n}; export LISTEN_PID LISTEN_FDS; exec 3<&{fd};"


def test_systemd_socket_activation_without_listen(passed):
    with tcp_listener() as lst:
        port = lst.getsockname()[1]
        p = passed(["http", "--threads", "1"], [lst.fileno()],
                   shell_prefix=SYSTEMD.format(n=1, fd=lst.fileno()))
        assert p.line() == f"iocore http listening on 127.0.0.1:{port}"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert recv_until_eof(s).startswith(b"HTTP/1.1 200")
        assert p.stop() == 0


def test_socket_activation_for_another_process_is_ignored(passed):
    with tcp_listener() as lst:
        p = passed(["echo", "--threads", "1"], [lst.fileno()],
                   shell_prefix=f"LISTEN_PID=1 LISTEN_FDS=1; export LISTEN_PID LISTEN_FDS; exec 3<&{lst.fileno()};")
        assert p.proc.wait(10) == 2
        assert "--listen" in p.proc.stderr.read()


def test_socket_activation_with_more_sockets_than_listeners_is_refused(passed):
    with tcp_listener() as a, tcp_listener() as b:
        prefix = (f"LISTEN_PID=$$ LISTEN_FDS=2; export LISTEN_PID LISTEN_FDS; "
                  f"exec 3<&{a.fileno()} 4<&{b.fileno()};")
        p = passed(["echo", "--threads", "1"], [a.fileno(), b.fileno()], shell_prefix=prefix)
        assert p.proc.wait(10) == 2
        err = p.proc.stderr.read()
        assert "LISTEN_FDS" in err and "fd:N" in err, err

