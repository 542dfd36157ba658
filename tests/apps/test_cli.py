"""The command-line contract of `iocore`: help and version, one "listening on" line per listener
with the real port, exit code 2 with a one-line message for every kind of bad invocation, and a
clean exit 0 on SIGTERM / SIGINT."""
import os
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import connect, http_get_raw, iocore_bin, parse_prometheus, run_iocore, wait_for


def test_help_lists_every_mode():
    r = run_iocore("--help")
    assert r.returncode == 0
    for mode in ("proxy", "http", "echo", "demo", "--version"):
        assert mode in r.stdout


@pytest.mark.parametrize("mode,flag", [("proxy", "--upstream"), ("http", "--body-size"), ("echo", "--listen"),
                                       ("demo", "--threads")])
def test_mode_help(mode, flag):
    r = run_iocore(mode, "--help")
    assert r.returncode == 0
    assert flag in r.stdout


def test_help_shows_the_default_timeouts_and_limits():
    for mode in ("proxy", "http", "echo", "demo"):
        r = run_iocore(mode, "--help")
        assert "--inactivity-timeout SEC  close a connection idle this long (default 60; 0: never)" in r.stdout, mode
        assert "--request-head-timeout SEC" in r.stdout and "(default 10; 0: none)" in r.stdout, mode
    r = run_iocore("http", "--help")
    assert "--max-body-size BYTES" in r.stdout and "(default 1M; 0: no limit)" in r.stdout


@pytest.mark.parametrize("args,limits", [
    (["echo", "--listen", "127.0.0.1:0"], "inactivity timeout 60s, active timeout none"),
    (["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"], "inactivity timeout 60s, active timeout none"),
    (["http", "--listen", "127.0.0.1:0"],
     "inactivity timeout 60s, active timeout none, request head timeout 10s, max body size 1048576"),
    (["echo", "--listen", "127.0.0.1:0", "--stats", "127.0.0.1:0", "--inactivity-timeout", "2.5"],
     "inactivity timeout 2.5s, active timeout none, request head timeout 10s"),
])
def test_startup_log_shows_the_limits_in_force(start_iocore, args, limits):
    # The defaults are what a run without flags applies (too long to wait for in a test).
    p = start_iocore(*args, "--threads", "1", expect_listeners=2 if "--stats" in args else 1)
    wait_for(lambda: "limits:" in p.stderr(), 5, what="the limits line")
    assert f"iocore: info: limits: {limits}" in p.stderr().splitlines()
    assert p.terminate() == 0


def test_version():
    r = run_iocore("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("iocore ")


@pytest.mark.parametrize("args,mentions", [
    ([], "mode"),
    (["frobnicate"], "frobnicate"),
    (["echo", "--listen", "127.0.0.1:0", "--no-such-flag"], "--no-such-flag"),
    (["echo", "--listen", "not-an-address"], "--listen"),
    (["echo", "--listen", "127.0.0.1"], "--listen"),
    (["echo", "--listen", "127.0.0.1:65536"], "--listen"),
    (["echo", "--listen", "[::1:80"], "--listen"),
    (["echo"], "--listen"),
    (["proxy", "--listen", "127.0.0.1:0"], "--upstream"),
    (["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1,bogus"], "--upstream"),
    (["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--buffer-size", "lots"], "--buffer-size"),
    (["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--splice", "bogus"], "--splice"),
    (["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--connect-timeout", "soon"],
     "--connect-timeout"),
    (["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--retries", "-1"], "--retries"),
    (["http", "--listen", "127.0.0.1:0", "--body", "a", "--body-size", "2"], "--body"),
    (["http", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"], "--upstream"),
    (["echo", "--listen", "127.0.0.1:0", "--threads", "many"], "--threads"),
    (["echo", "--listen", "127.0.0.1:0", "--threads"], "--threads"),
    (["echo", "--listen", "127.0.0.1:0", "--log-level", "chatty"], "--log-level"),
    (["echo", "--listen", "127.0.0.1:0", "--io-backend", "kqueue"], "--io-backend"),
    (["echo", "--listen", "127.0.0.1:0", "--stats", "nowhere"], "--stats"),
    (["echo", "--listen", "127.0.0.1:0", "--inactivity-timeout", "x"], "--inactivity-timeout"),
    (["http", "--listen", "127.0.0.1:0", "--request-head-timeout", "-1"], "--request-head-timeout"),
    (["http", "--listen", "127.0.0.1:0", "--max-body-size", "lots"], "--max-body-size"),
    (["echo", "--listen", "127.0.0.1:0", "--max-body-size", "1M"], "--max-body-size"),
    (["echo", "--listen", "127.0.0.1:0", "--max-connections", "0"], "--max-connections"),
    (["echo", "--listen", "127.0.0.1:0", "--drain-timeout", "-3"], "--drain-timeout"),
    (["echo", "--listen", "127.0.0.1:0", "--access-log", "/nonexistent-dir/x.log"], "access-log"),
])
def test_bad_arguments_exit_2_with_one_line(args, mentions):
    r = run_iocore(*args)
    assert r.returncode == 2, r
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert mentions in lines[0]


def test_port_in_use_exits_2_and_starts_nothing():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = run_iocore("echo", "--listen", f"127.0.0.1:{port}", "--threads", "1")
        assert r.returncode == 2
        assert "listening" not in r.stdout
        assert str(port) in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_stats_port_in_use_exits_2_without_listening_lines():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = run_iocore("echo", "--listen", "127.0.0.1:0", "--stats", f"127.0.0.1:{port}", "--threads", "1")
        assert r.returncode == 2
        assert r.stdout == ""


def test_listening_line_reports_real_port_ipv4(start_iocore):
    p = start_iocore("echo", "--listen", "127.0.0.1:0", "--threads", "2")
    host, port = p.addr("echo")
    assert host == "127.0.0.1" and port > 0
    assert p.stdout_lines[0] == f"iocore echo listening on 127.0.0.1:{port}"
    with connect((host, port)) as s:
        s.sendall(b"x")
        assert s.recv(1) == b"x"
    assert p.terminate() == 0


def test_listening_line_ipv6(start_iocore):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as t:
            t.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 on this host")
    p = start_iocore("echo", "--listen", "[::1]:0", "--threads", "1")
    host, port = p.addr("echo")
    assert p.stdout_lines[0] == f"iocore echo listening on [::1]:{port}"
    with socket.create_connection(("::1", port), timeout=5) as s:
        s.sendall(b"v6")
        assert s.recv(2) == b"v6"
    assert p.terminate() == 0


def test_proxy_and_stats_each_print_a_line(start_iocore, refused_port):
    p = start_iocore("proxy", "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{refused_port()}",
                     "--stats", "127.0.0.1:0", "--threads", "1", expect_listeners=2)
    assert set(p.listeners) == {"proxy", "stats"}
    assert p.stdout_lines[0].startswith("iocore proxy listening on 127.0.0.1:")
    assert p.stdout_lines[1].startswith("iocore stats listening on 127.0.0.1:")
    assert p.terminate() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_0_and_stops_accepting(start_iocore, sig):
    p = start_iocore("echo", "--listen", "127.0.0.1:0", "--threads", "2")
    port = p.port()
    assert p.terminate(sig) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_demo_runs_proxy_to_builtin_origin(start_iocore):
    # The demo listens on fixed ports (8080, 8081). So that it never depends on them being free, it
    # runs in a network namespace of its own, and the client (curl) is run inside that namespace.
    tools = [shutil.which(t) for t in ("unshare", "nsenter", "ip", "curl")]
    if os.geteuid() != 0 or not all(tools):
        pytest.skip("needs root and unshare, nsenter, ip and curl to give the demo its own network namespace")
    unshare, nsenter, ip, curl = tools
    p = start_iocore("demo", "--threads", "2", expect_listeners=2,
                     command=[unshare, "--net", "--", "/bin/sh", "-c", f'{ip} link set lo up && exec "$0" "$@"',
                              iocore_bin()])
    assert p.addr("proxy") == ("127.0.0.1", 8080)
    assert p.addr("http") == ("127.0.0.1", 8081)
    assert any("curl http://127.0.0.1:8080/" in line for line in p.stdout_lines)
    r = subprocess.run([nsenter, f"--net=/proc/{p.pid()}/ns/net", curl, "-sS", "--max-time", "10",
                        "-w", "\n%{http_code}", "http://127.0.0.1:8080/"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    body, status = r.stdout.rsplit("\n", 1)
    assert status == "200" and body, r.stdout


# --- a listener whose socket fails ----------------------------------------------------------------

def _shut_down_listening_sockets(pid, port):
    """Shut down, from outside, the listening sockets of process pid on port: its accept() then
    fails with EINVAL, as with any socket broken for good. Uses pidfd_getfd (Linux 5.6+, and the
    right to ptrace pid); skips the test where that is refused."""
    import ctypes
    import os
    import re
    inodes = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    assert inodes, f"no listening socket on port {port}"
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    copies = []
    try:
        # All copies first: the first shutdown makes iocore close its other sockets of the port.
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{name}")
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]$", target)
            if not m or m.group(1) not in inodes:
                continue
            fd = libc.syscall(438, pidfd, int(name), 0)  # pidfd_getfd
            if fd < 0:
                pytest.skip(f"pidfd_getfd refused: {os.strerror(ctypes.get_errno())}")
            copies.append(socket.socket(fileno=fd))
        assert len(copies) == len(inodes)
        for s in copies:
            s.shutdown(socket.SHUT_RDWR)
    finally:
        for s in copies:
            s.close()
        os.close(pidfd)


def test_failed_only_listener_exits_non_zero(start_iocore):
    p = start_iocore("http", "--listen", "127.0.0.1:0", "--threads", "2")
    p.expect_exit(1)
    _shut_down_listening_sockets(p.pid(), p.port("http"))
    try:
        p.proc.wait(10)
    except Exception:
        raise AssertionError("iocore kept running with no listener left")
    assert p.proc.returncode == 1
    p._stderr_thread.join(2)
    err = p.stderr()
    assert "http listener on 127.0.0.1:" in err and "Invalid argument" in err, err
    assert "no listener left" in err, err


def test_failed_stats_listener_is_logged_and_the_mode_goes_on(start_iocore):
    p = start_iocore("http", "--listen", "127.0.0.1:0", "--stats", "127.0.0.1:0", expect_listeners=2)
    _shut_down_listening_sockets(p.pid(), p.port("stats"))
    from conftest import http_get_raw, wait_for
    wait_for(lambda: "stats listener" in p.stderr(), 10, what="the stats listener's failure logged")
    status, _, body = http_get_raw(p.addr("http"))
    assert status == 200 and body
    assert p.terminate() == 0


# --- debug tags -----------------------------------------------------------------------------------

def _follow_one_connection(p, last_step="freed"):
    """Echo one message through p; once last_step is logged for it, return the stderr lines about
    that connection's id."""
    import re
    from conftest import recv_exactly, wait_for
    with connect(p.addr()) as s:
        s.sendall(b"hi")
        assert recv_exactly(s, 2) == b"hi"
    accepted = wait_for(lambda: re.search(r"debug accept .*vc (\d+): accepted", p.stderr()), 10, what="an accept line")
    who = f"vc {accepted.group(1)}: "
    wait_for(lambda: who + last_step in p.stderr(), 10, what=who + last_step)
    return [line for line in p.stderr().splitlines() if who in line]


def test_debug_tags_follow_one_connection_by_its_id(start_iocore):
    p = start_iocore("echo", "--listen", "127.0.0.1:0", "--debug-tags", "accept,iocore_net")
    lines = _follow_one_connection(p)
    text = "\n".join(lines)
    for step in ("accepted", "do_io_read", "read 2 bytes", "wrote 2 of 2 bytes", "do_io_close", "freed"):
        assert step in text, f"{step!r} missing from:\n{text}"
    assert not any(" debug socket " in line for line in p.stderr().splitlines()), "socket was not asked for"
    assert p.terminate() == 0


def test_debug_tags_from_the_environment(tmp_path):
    import os
    from conftest import Iocore
    env = dict(os.environ, IOCORE_DEBUG_TAGS="accept")
    p = Iocore(["echo", "--listen", "127.0.0.1:0"], env=env)
    try:
        lines = _follow_one_connection(p, last_step="accepted")
        assert lines
        assert not any(" debug iocore_net " in line for line in p.stderr().splitlines())
    finally:
        assert p.terminate() == 0


def test_unknown_debug_tag_is_a_usage_error():
    r = run_iocore("echo", "--listen", "127.0.0.1:0", "--debug-tags", "accept,bogus")
    assert r.returncode == 2
    assert "bogus" in r.stderr and "--debug-tags" in r.stderr


def test_log_level_debug_switches_every_debug_tag_on(start_iocore):
    p = start_iocore("echo", "--listen", "127.0.0.1:0", "--log-level", "debug")
    text = "\n".join(_follow_one_connection(p))
    assert " debug accept " in text and " debug iocore_net " in text and " debug socket " in text, text
    assert p.terminate() == 0


@pytest.mark.parametrize("backend", ["epoll", "io_uring"])
def test_io_backend_flag_runs_the_net_threads_on_that_backend(start_iocore, monkeypatch, backend):
    # The library's NetBackend tests cover the choice itself; here: the flag reaches it and says so.
    monkeypatch.delenv("IOCORE_IO_BACKEND", raising=False)
    p = start_iocore("http", "--listen", "127.0.0.1:0", "--threads", "1", "--io-backend", backend, "--stats",
                     "127.0.0.1:0", expect_listeners=2)
    wait_for(lambda: "net thread(s) on" in p.stderr(), 5, what="the running line")
    assert f"net thread(s) on {backend};" in p.stderr()
    with connect(p.addr("http")) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 200")
    status, _, body = http_get_raw(p.addr("stats"), "/metrics")
    assert status == 200
    assert parse_prometheus(body.decode())[f'iocore_net_io_backend{{backend="{backend}"}}'] == 1
    assert p.terminate() == 0
