"""`iocore proxy --splice`: which tunnels are spliced (plain TCP both sides with auto; none with off),
that a large transfer through a spliced tunnel arrives intact, and that the access log and the byte
metrics count a spliced tunnel exactly as a buffered one. The TLS fallback is in test_tls.py."""
import os

import pytest

from conftest import echo_through, http_get_raw, net_threads, parse_prometheus, wait_for


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


def test_buffers_are_the_default(start_iocore):
    echo = start_iocore("echo", "--listen", "127.0.0.1:0", "--threads", "1")
    p = start_proxy(start_iocore, echo.port())
    sent, got, received = echo_through(p.addr("proxy"), 1, 3)
    assert received == 1 << 20 and got == sent
    m = parse_prometheus(http_get_raw(p.addr("stats"), "/metrics")[2].decode())
    assert m["iocore_proxy_spliced_tunnels_total"] == 0
    assert p.terminate() == 0


def test_help_describes_splice():
    from conftest import run_iocore
    r = run_iocore("proxy", "--help")
    assert r.returncode == 0
    assert "--splice auto|off" in r.stdout
