"""Real peers the scenarios start: an nginx origin and an HAProxy (each takes over a socket bound
to a kernel-chosen port, so no other program can take the port meanwhile) and wrk runs whose output
is parsed into figures."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from soaklib import Proc, wait_until


def nginx_binary():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


def listening_socket(host):
    """A socket listening on a kernel-chosen port, for a peer to take over."""
    lsock = socket.socket()
    lsock.bind((host, 0))
    lsock.listen(4096)
    return lsock


def wait_answering(peer, what):
    """Wait until peer (a Proc with .addr) answers GET /ok with a 200 (nginx's, directly or through
    a proxy); kill it and raise if it does not within 15 s."""
    def up():
        if not peer.alive():
            raise RuntimeError(f"{what} exited with {peer.proc.returncode}: {peer.stderr()}")
        try:
            with socket.create_connection(peer.addr, timeout=2) as s:
                s.sendall(b"GET /ok HTTP/1.0\r\n\r\n")
                return s.recv(100).startswith(b"HTTP/1.1 200")
        except OSError:
            return False
    if not wait_until(up, 15, interval=0.1):
        peer.kill()
        raise RuntimeError(f"{what} did not answer within 15s")


class Nginx(Proc):
    """nginx with one worker serving `locations` (nginx location blocks, text) and files from
    html/ (files: name -> size; made sparse: no disk space, all zeros)."""

    def __init__(self, locations, files=None, http_extra="", workdir=None, host="127.0.0.1"):
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (scripts/test.sh installs nginx-light)")
        tmp = Path(tempfile.mkdtemp(prefix="iocore-soak-nginx-", dir=workdir))
        # The worker runs as another user (www-data) when the master is root: it must be able to
        # reach html/ through every directory above it, or each file is a 403.
        tmp.chmod(0o755)
        if workdir is not None:
            wd = Path(workdir)
            wd.chmod(wd.stat().st_mode | 0o111)
        (tmp / "logs").mkdir()
        (tmp / "html").mkdir()
        (tmp / "html").chmod(0o755)
        for name, size in (files or {}).items():
            with open(tmp / "html" / name, "wb") as f:
                f.truncate(size)
            (tmp / "html" / name).chmod(0o644)
        lsock = listening_socket(host)
        self.port = lsock.getsockname()[1]
        self.addr = (host, self.port)
        (tmp / "nginx.conf").write_text(f"""
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
error_log {tmp}/logs/error.log;
pid {tmp}/nginx.pid;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/tmp; proxy_temp_path {tmp}/tmp; fastcgi_temp_path {tmp}/tmp;
  uwsgi_temp_path {tmp}/tmp; scgi_temp_path {tmp}/tmp;
  keepalive_requests 1000000;
  {http_extra}
  server {{ listen {host}:{self.port}; root {tmp}/html; location = /ok {{ return 200 "ok\\n"; }} {locations} }}
}}
""")
        env = {"NGINX": f"{lsock.fileno()};"}
        self._lsock = lsock
        super().__init__([binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf")], "nginx", env=env, workdir=tmp,
                         pass_fds=(lsock.fileno(),))
        lsock.close()
        wait_answering(self, "nginx")


class Haproxy(Proc):
    """HAProxy (Debian's package) as a TCP proxy to `upstream`, `threads` threads, idle sides closed
    after `timeout_s` (as `iocore proxy --inactivity-timeout`), buffers of `bufsize` bytes: the
    reference a proxy scenario measures the machine with. It takes over a socket bound to a
    kernel-chosen port (`bind fd@N`), as the nginx peer does."""

    def __init__(self, upstream, threads=2, timeout_s=6, bufsize=32768, workdir=None, host="127.0.0.1"):
        binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
        if binary is None:
            raise RuntimeError("haproxy is not installed")
        tmp = Path(tempfile.mkdtemp(prefix="iocore-soak-haproxy-", dir=workdir))
        lsock = listening_socket(host)
        self.port = lsock.getsockname()[1]
        self.addr = (host, self.port)
        (tmp / "haproxy.cfg").write_text(f"""
global
  nbthread {threads}
  maxconn 9000
  tune.bufsize {bufsize}
defaults
  mode tcp
  maxconn 9000
  timeout connect 5s
  timeout client {timeout_s}s
  timeout server {timeout_s}s
frontend fe
  bind fd@{lsock.fileno()}
  default_backend be
backend be
  server origin {upstream[0]}:{upstream[1]}
""")
        super().__init__([binary, "-f", str(tmp / "haproxy.cfg"), "-db"], "haproxy", workdir=tmp,
                         pass_fds=(lsock.fileno(),))
        lsock.close()
        wait_answering(self, "haproxy")


def parse_duration_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk_script(path, per_request_delay_ms):
    """A wrk script that waits per_request_delay_ms before each request of a connection: a fixed
    offered load instead of a saturating one (whose latency only measures the CPU left)."""
    Path(path).write_text(f"function delay()\n  return {per_request_delay_ms}\nend\n")
    return str(path)


def run_wrk(url, seconds, connections=10, threads=1, script=None, timeout_s=10):
    """Run wrk; returns dict(requests, rps, p50_ms, p99_ms, errors (socket errors + non-2xx), raw)."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", f"--timeout={timeout_s}s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    res = {"raw": out, "errors": 0, "requests": 0, "rps": 0.0, "p50_ms": None, "p99_ms": None}
    m = re.search(r"^\s+(\d+) requests in", out, re.M)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        if m:
            res[key] = parse_duration_ms(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["errors"] += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["errors"] += int(m.group(1))
    if res["p99_ms"] is None:
        res["errors"] += 1  # no figures: wrk failed
    return res
