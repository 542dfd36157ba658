"""Memory of `iocore proxy` over a flood of connections: what a flood of idle proxied sessions
needed goes back to the system after the last one closed (RSS returns near its value before the
flood), instead of staying cached in free lists and fragmented malloc heaps."""
import os
import resource
import socket

import pytest

from conftest import connect, wait_for

SESSIONS = 3000


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture
def enough_fds():
    """The flood needs a descriptor per client here: raise the soft limit (up to the hard one) for
    this test, and skip if even that is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = SESSIONS + 256
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need) if hard == resource.RLIM_INFINITY else hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_memory_of_a_flood_of_idle_sessions_goes_back_after_it(start_iocore, enough_fds):
    # Each flood: SESSIONS idle clients, each tunnelled to its own upstream connection, all open at
    # once, then all closed. Before free lists were trimmed and malloc was asked to return free
    # pages, RSS went from ~5 MB to ~40 MB over three floods of 3,000 and stayed there.
    if os.environ.get("IOCORE_SANITIZER"):
        pytest.skip("ASan's shadow memory and quarantine are not the program's")
    echo = start_iocore("echo", "--listen", "127.0.0.1:0", "--threads", "1", "--max-connections", str(4 * SESSIONS))
    p = start_iocore("proxy", "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{echo.port()}", "--threads", "2",
                     "--max-connections", str(4 * SESSIONS))
    base_fds = open_fds(p.pid())
    base_rss = p.rss_kib()
    peak_rss = base_rss
    for _ in range(3):
        clients = []
        try:
            for _ in range(SESSIONS):
                clients.append(connect(p.addr()))
            wait_for(lambda: open_fds(p.pid()) >= base_fds + 2 * SESSIONS, 60, interval=0.1,
                     what=f"{SESSIONS} clients and their upstream connections to be open")
            peak_rss = max(peak_rss, p.rss_kib())
        finally:
            for c in clients:
                c.close()
        wait_for(lambda: open_fds(p.pid()) <= base_fds, 60, interval=0.1, what="every session to close")
    assert peak_rss > 2 * base_rss, f"the flood did not need memory: RSS {base_rss} -> {peak_rss} KiB"
    try:
        wait_for(lambda: p.rss_kib() <= 2 * base_rss, 60, interval=0.5, what="RSS to come back within 2x")
    except AssertionError:
        raise AssertionError(f"RSS {p.rss_kib()} KiB a minute after the last session closed: more than twice the "
                             f"{base_rss} KiB before the flood (peak {peak_rss} KiB)") from None


IDLE_SESSIONS = 1000


def test_idle_proxied_sessions_hold_no_buffer_memory(start_iocore, enough_fds):
    # A tunnel's buffers get a block with their first byte, not when the tunnel starts: 1,000
    # sessions that never sent anything cost ~2 KB each (the two connections and the tunnel), where
    # a 32 KiB block per direction, allocated at once, made it ~8 KB. The bound is generous.
    if os.environ.get("IOCORE_SANITIZER"):
        pytest.skip("ASan's shadow memory and quarantine are not the program's")
    echo = start_iocore("echo", "--listen", "127.0.0.1:0", "--threads", "1")
    p = start_iocore("proxy", "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{echo.port()}", "--threads", "2",
                     "--max-connections", str(4 * IDLE_SESSIONS))
    base_fds = open_fds(p.pid())
    base_rss = p.rss_kib()
    clients = []
    try:
        for _ in range(IDLE_SESSIONS):
            clients.append(connect(p.addr()))
        wait_for(lambda: open_fds(p.pid()) >= base_fds + 2 * IDLE_SESSIONS, 60, interval=0.1,
                 what=f"{IDLE_SESSIONS} clients and their upstream connections to be open")
        per_session = (p.rss_kib() - base_rss) * 1024 / IDLE_SESSIONS
        assert per_session < 5000, f"{per_session:.0f} bytes of RSS per idle proxied session"
    finally:
        for c in clients:
            c.close()
