"""TLS in the `iocore` command: --tls-cert/--tls-key on the http, echo and proxy listeners, and
--upstream-tls on the proxy, against real peers (curl, openssl s_client, Python's ssl module) with
certificates made by the openssl command for this test run."""
import select
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from conftest import http_get_raw, parse_prometheus, recv_until_eof, run_iocore, wait_for

BODY = "hello-over-tls"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, and a server certificate it signs for localhost and 127.0.0.1; plus an unrelated CA."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    d = tmp_path_factory.mktemp("pki")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    for ca in ("ca", "other-ca"):
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(d / f"{ca}.key"), "-out", str(d / f"{ca}.pem"), "-days", "2",
            "-subj", f"/CN=iocore test {ca}")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"), "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                               "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
        "-CAcreateserial", "-out", str(d / "server.pem"), "-days", "2", "-extfile", str(d / "ext.cnf"))
    # One file with certificate and key, for --tls-cert without --tls-key.
    (d / "combined.pem").write_text((d / "server.pem").read_text() + (d / "server.key").read_text())
    return d


def tls_connect(addr, cafile, server_hostname="localhost", timeout=10):
    ctx = ssl.create_default_context(cafile=str(cafile))
    raw = socket.create_connection(addr, timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname=server_hostname)


def curl(url, *extra, timeout=20):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    return subprocess.run(["curl", "-sS", "--max-time", "10", *extra, url], capture_output=True, text=True,
                          timeout=timeout)


def test_http_over_tls_with_curl(start_iocore, pki):
    srv = start_iocore("http", "--listen", "127.0.0.1:0", "--body", BODY, "--threads", "2",
                       "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"))
    host, port = srv.addr()
    r = curl(f"https://localhost:{port}/", "--cacert", str(pki / "ca.pem"),
             "--resolve", f"localhost:{port}:127.0.0.1", "-w", "%{http_code} %{ssl_verify_result}")
    assert r.returncode == 0, r.stderr
    assert r.stdout == BODY + "200 0"
    # Keep-alive over TLS: several requests on one connection.
    r = curl(f"https://localhost:{port}/a", "--cacert", str(pki / "ca.pem"),
             "--resolve", f"localhost:{port}:127.0.0.1", "-o", "/dev/null", "-w", "%{num_connects}\n",
             "--next", "--cacert", str(pki / "ca.pem"), "--resolve", f"localhost:{port}:127.0.0.1",
             "-o", "/dev/null", "-w", "%{num_connects}\n", f"https://localhost:{port}/b")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "0"], "the second request should reuse the TLS connection"


def test_plain_http_to_a_tls_listener_is_refused_and_the_server_keeps_serving(start_iocore, pki):
    srv = start_iocore("http", "--listen", "127.0.0.1:0", "--body", BODY,
                       "--tls-cert", str(pki / "combined.pem"), "--stats", "127.0.0.1:0", expect_listeners=2)
    s = socket.create_connection(srv.addr(), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        data = recv_until_eof(s)  # at most a TLS alert, then the close
    except ConnectionResetError:
        data = b""  # closed with the request unread: the kernel answers with a reset
    assert not data.startswith(b"HTTP/"), data
    s.close()
    with tls_connect(srv.addr(), pki / "ca.pem") as t:
        t.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert recv_until_eof(t).endswith(BODY.encode())
    # One failed handshake (the plain request), one that completed.
    m = parse_prometheus(http_get_raw(srv.addr("stats"), "/metrics")[2].decode())
    assert m["iocore_net_tls_handshake_failures_total"] == 1, m
    assert m["iocore_net_tls_handshakes_total"] == 1, m


def test_http_over_tls_with_openssl_s_client(start_iocore, pki):
    srv = start_iocore("http", "--listen", "127.0.0.1:0", "--body", BODY, "--tls-cert", str(pki / "server.pem"),
                       "--tls-key", str(pki / "server.key"))
    host, port = srv.addr()
    # -quiet keeps s_client reading after its input ends; the server's close (Connection: close)
    # ends it.
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                        "-verify_return_error", "-CAfile", str(pki / "ca.pem"), "-quiet"],
                       input="GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("HTTP/1.1 200 OK"), r.stdout
    assert r.stdout.endswith(BODY)


def test_echo_over_tls_returns_every_byte(start_iocore, pki):
    srv = start_iocore("echo", "--listen", "127.0.0.1:0", "--tls-cert", str(pki / "combined.pem"))
    t = tls_connect(srv.addr(), pki / "ca.pem")
    data = bytes(range(256)) * 4096  # 1 MiB, more than the socket buffers: write and read at once
    # One thread drives both directions: an SSL connection must not be read and written from two
    # threads at once (OpenSSL's SSL object is not thread-safe; Python then fails "internal error").
    t.setblocking(False)
    sent, got = 0, bytearray()
    deadline = time.monotonic() + 30
    while len(got) < len(data):
        assert time.monotonic() < deadline, f"echoed {len(got)} of {len(data)} bytes"
        select.select([t], [t] if sent < len(data) else [], [], 0.5)
        if sent < len(data):
            try:
                sent += t.send(data[sent:sent + 16384])
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
        try:
            while True:  # read all OpenSSL holds, not only what the socket signals
                chunk = t.recv(65536)
                assert chunk, f"the server closed after echoing {len(got)} bytes"
                got.extend(chunk)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
    assert bytes(got) == data
    t.close()


def test_proxy_terminates_tls_in_front_of_a_plain_origin(start_iocore, pki):
    origin = start_iocore("http", "--listen", "127.0.0.1:0", "--body", BODY)
    proxy = start_iocore("proxy", "--listen", "127.0.0.1:0", "--upstream", "%s:%d" % origin.addr(),
                         "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"))
    host, port = proxy.addr()
    r = curl(f"https://localhost:{port}/", "--cacert", str(pki / "ca.pem"),
             "--resolve", f"localhost:{port}:127.0.0.1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == BODY


@pytest.mark.parametrize("how", ["verify-by-name", "verify-by-address", "insecure"])
def test_proxy_speaks_tls_to_its_upstream(start_iocore, pki, how):
    origin = start_iocore("http", "--listen", "127.0.0.1:0", "--body", BODY,
                          "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"))
    extra = {"verify-by-name": ["--upstream-tls", "verify", "--upstream-ca", str(pki / "ca.pem"),
                                "--upstream-sni", "localhost"],
             "verify-by-address": ["--upstream-tls", "verify", "--upstream-ca", str(pki / "ca.pem")],
             "insecure": ["--upstream-tls", "insecure"]}[how]
    proxy = start_iocore("proxy", "--listen", "127.0.0.1:0", "--upstream", "%s:%d" % origin.addr(), *extra)
    r = curl("http://%s:%d/" % proxy.addr())
    assert r.returncode == 0, r.stderr
    assert r.stdout == BODY


@pytest.mark.parametrize("tls_side", ["listener", "upstream"])
def test_proxy_with_tls_falls_back_to_buffers_under_splice_auto(start_iocore, pki, tmp_path, tls_side):
    # A TLS byte stream must pass through OpenSSL: with --splice auto such a tunnel uses the buffer
    # tunnel, works, and is counted the same.
    cert = ["--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")]
    origin = start_iocore("http", "--listen", "127.0.0.1:0", "--body", BODY, *(cert if tls_side == "upstream" else []))
    log = tmp_path / "access.log"
    extra = cert if tls_side == "listener" else ["--upstream-tls", "verify", "--upstream-ca", str(pki / "ca.pem")]
    proxy = start_iocore("proxy", "--listen", "127.0.0.1:0", "--upstream", "%s:%d" % origin.addr(), "--splice", "auto",
                         "--stats", "127.0.0.1:0", "--access-log", str(log), *extra, expect_listeners=2)
    host, port = proxy.addr("proxy")
    if tls_side == "listener":
        r = curl(f"https://localhost:{port}/", "--cacert", str(pki / "ca.pem"), "--resolve", f"localhost:{port}:127.0.0.1")
    else:
        r = curl(f"http://{host}:{port}/")
    assert r.returncode == 0, r.stderr
    assert r.stdout == BODY
    wait_for(lambda: log.exists() and log.read_text().strip() != "", 5, what="the access log line")
    m = parse_prometheus(http_get_raw(proxy.addr("stats"), "/metrics")[2].decode())
    assert m["iocore_proxy_tunnels_total"] == 1
    assert m["iocore_proxy_spliced_tunnels_total"] == 0
    line = log.read_text().strip()
    assert f"bytes_out={int(m['iocore_proxy_upstream_to_client_bytes_total'])} " in line, line
    assert "end=eof" in line, line


def test_proxy_drops_the_client_when_the_upstream_certificate_does_not_verify(start_iocore, pki, tmp_path):
    origin = start_iocore("http", "--listen", "127.0.0.1:0", "--body", BODY,
                          "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"))
    log = tmp_path / "access.log"
    proxy = start_iocore("proxy", "--listen", "127.0.0.1:0", "--upstream", "%s:%d" % origin.addr(),
                         "--upstream-tls", "verify", "--upstream-ca", str(pki / "other-ca.pem"),
                         "--access-log", str(log))
    s = socket.create_connection(proxy.addr(), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert recv_until_eof(s) == b""
    s.close()
    proxy.terminate()
    text = log.read_text()
    assert "ETLS" in text, text


@pytest.mark.parametrize("args,message", [
    (["http", "--listen", "127.0.0.1:0", "--tls-key", "/tmp/k.pem"], "--tls-key needs --tls-cert"),
    (["http", "--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent/cert.pem"], "/nonexistent/cert.pem"),
    (["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--upstream-ca", "/tmp/ca.pem"],
     "--upstream-ca needs --upstream-tls"),
    (["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--upstream-tls", "maybe"],
     "expected verify or insecure"),
    (["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--upstream-tls", "verify",
      "--upstream-ca", "/nonexistent/ca.pem"], "/nonexistent/ca.pem"),
    (["echo", "--listen", "127.0.0.1:0", "--upstream-tls", "verify"], "does not apply"),
])
def test_tls_command_line_errors_exit_2_naming_the_problem(args, message):
    r = run_iocore(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert "listening" not in r.stdout


def test_mismatched_key_is_a_start_up_error(pki):
    r = run_iocore("http", "--listen", "127.0.0.1:0", "--tls-cert", str(pki / "server.pem"),
                   "--tls-key", str(pki / "ca.key"))
    assert r.returncode == 2
    assert "does not match" in r.stderr
