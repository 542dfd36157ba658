"""Shared machinery of the soak and chaos suite: running the real `iocore` binary (and other peers)
as processes, reading what the kernel says about them (/proc/PID/fd, /proc/PID/status,
/proc/PID/stat), scraping the metrics endpoint, and recording each scenario's checks and figures.
Only what this module started is ever signalled, always by PID."""
import contextlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LISTEN_RE = re.compile(r"^iocore (\w+) listening on (.+):(\d+)$")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# What a sanitizer prints at the start of each report (ASan, LSan, UBSan, TSan).
SANITIZER_RE = re.compile(r"^(==\d+==ERROR: (AddressSanitizer|LeakSanitizer)|.*: runtime error: |WARNING: ThreadSanitizer: |"
                          r"SUMMARY: UndefinedBehaviorSanitizer)")
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=23",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    "TSAN_OPTIONS": "halt_on_error=1:second_deadlock_stack=1:exitcode=66",
}


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def expired(self):
        return time.monotonic() >= self.end


def wait_until(predicate, timeout, interval=0.05):
    """Poll predicate until it returns something true or timeout passes; returns its last value."""
    d = Deadline(timeout)
    while True:
        value = predicate()
        if value or d.expired():
            return value
        time.sleep(interval)


def raise_nofile_limit():
    """The peers hold thousands of sockets: take the hard limit as the soft one."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def proc_status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_cpu_seconds(pid):
    """user + system CPU time of the process (all threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return None


def proc_tree_cpu_seconds(pid):
    """proc_cpu_seconds of the process and its children (nginx's and HAProxy's workers)."""
    total = proc_cpu_seconds(pid)
    if total is None:
        return None
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    for kid in kids:
        total += proc_cpu_seconds(int(kid)) or 0
    return total


def proc_fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class Proc:
    """A process this suite started, with stdout and stderr in files (no pipe can fill up)."""

    def __init__(self, argv, name, env=None, workdir=None, prefix=(), pass_fds=()):
        self.name = name
        self.argv = list(prefix) + list(argv)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="iocore-soak-"))
        self.stdout_path = self.workdir / f"{name}.out"
        self.stderr_path = self.workdir / f"{name}.err"
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=full_env,
                                         pass_fds=pass_fds)
        self.pid = self.proc.pid
        self.signalled = False

    def alive(self):
        return self.proc.poll() is None

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def signal(self, sig):
        if self.alive():
            self.signalled = True
            self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.alive():
            self.signalled = True
            self.proc.kill()
            self.proc.wait(10)


class Iocore(Proc):
    """A running `iocore MODE ...` with its listeners (name -> (host, port)) read from its
    "listening on" lines, and the state the suite watches: descriptors, RSS, CPU, metrics."""

    def __init__(self, binary, args, name, expect_listeners=1, timeout=30, env=None, prefix=(), nofile=None,
                 workdir=None):
        if nofile is not None:
            prefix = list(prefix) + ["prlimit", f"--nofile={nofile}:{nofile}", "--"]
        super().__init__([binary] + list(args), name, env=env, prefix=prefix, workdir=workdir)
        self.listeners = {}
        d = Deadline(timeout)
        while len(self.listeners) < expect_listeners:
            for line in self.stdout().splitlines():
                m = LISTEN_RE.match(line)
                if m:
                    host = m.group(2).strip("[]")
                    self.listeners[m.group(1)] = (host, int(m.group(3)))
            if len(self.listeners) >= expect_listeners:
                break
            if not self.alive():
                raise RuntimeError(f"{name}: iocore exited with {self.proc.returncode}: {self.stderr()[-2000:]}")
            if d.expired():
                self.kill()
                raise RuntimeError(f"{name}: no listening line within {timeout}s: {self.stderr()[-2000:]}")
            time.sleep(0.05)

    def addr(self, listener):
        return self.listeners[listener]

    def fds(self):
        return proc_fd_count(self.pid)

    def rss_kib(self):
        return proc_status_kib(self.pid, "VmRSS")

    def cpu_seconds(self):
        return proc_cpu_seconds(self.pid)

    def metrics(self, timeout=10):
        """The metrics endpoint's samples: {name{labels}: value}."""
        return scrape_metrics(self.addr("stats"), timeout)

    def open_connections(self):
        """iocore_net_connections_currently_open, less the scrape's own connection."""
        return int(self.metrics()["iocore_net_connections_currently_open"]) - 1

    def stop(self, timeout=60):
        """SIGTERM, and wait: returns (exit code or None if it had to be killed, problem or None)."""
        died_early = not self.alive() and not self.signalled
        self.signal(signal.SIGTERM)
        code = self.wait(timeout)
        if code is None:
            self.kill()
            return None, f"{self.name}: still running {timeout}s after SIGTERM (killed)"
        if died_early:
            return code, f"{self.name}: died (exit {code}) before it was stopped"
        if code != 0:
            return code, f"{self.name}: exit {code} on SIGTERM"
        return code, None

    def sanitizer_reports(self):
        return [line for line in self.stderr().splitlines() if SANITIZER_RE.match(line)]


def scrape_metrics(addr, timeout=10):
    s = socket.create_connection(addr, timeout=timeout)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"metrics: {head[:100]!r}")
    samples = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    known_open: bool = False  # a failure that belongs to an open issue, kept visible


@dataclass
class Result:
    """One scenario's outcome: the checks, and the figures of the RESULTS table."""
    scenario: str
    load: str = ""
    faults: str = "-"
    bytes_lost: int = 0
    sessions_hung: int = 0
    leaks: str = ""
    crashes: int = 0
    sanitizer_reports: int = 0
    duration_s: float = 0.0
    skipped: str = ""  # why the scenario did not run
    checks: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def check(self, name, ok, detail="", known_open=False):
        self.checks.append(Check(name, bool(ok), detail, known_open))
        state = "ok" if ok else ("KNOWN OPEN" if known_open else "FAIL")
        log(f"  [{state}] {name}{': ' + detail if detail else ''}")
        return ok

    def failed(self, include_known_open=True):
        return [c for c in self.checks if not c.ok and (include_known_open or not c.known_open)]


class Processes:
    """The iocore processes of one scenario: stopped (SIGTERM, exit 0 required) at the end, with
    crashes and sanitizer reports counted into the result."""

    def __init__(self, result):
        self.result = result
        self.procs = []
        self.others = []

    def add(self, p):
        self.procs.append(p)
        return p

    def add_other(self, p):
        self.others.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.others):
            if p.alive():
                p.signal(signal.SIGTERM)
                if p.wait(10) is None:
                    p.kill()
        for p in reversed(self.procs):
            code, problem = p.stop()
            reports = p.sanitizer_reports()
            self.result.sanitizer_reports += len(reports)
            if problem:
                self.result.crashes += 1
                tail = "\n".join(p.stderr().splitlines()[-30:])
                self.result.check(f"{p.name} exits 0 on SIGTERM", False, f"{problem}; stderr tail:\n{tail}")
            else:
                self.result.check(f"{p.name} exits 0 on SIGTERM", True)
            if reports:
                self.result.check(f"{p.name}: no sanitizer reports", False, f"{len(reports)}: {reports[:3]}")


@contextlib.contextmanager
def scenario_processes(result):
    ps = Processes(result)
    try:
        yield ps
    finally:
        ps.stop_all()


def settle_back(result, proc, base_fds, what="", timeout=15, check_gauge=True):
    """Wait (bounded) for proc's descriptors, and its open-connection gauge, to return to their
    baseline, and record the checks. Closes are graceful (a lingering close may hold a socket up
    to 2 s), hence the wait. Returns the descriptors left over the baseline."""
    seen = {}

    def back():
        # Descriptors first: a scrape's own connection is closed gracefully and may hold one a
        # moment after it.
        seen["fds"] = proc.fds()
        seen["gauge"] = proc.open_connections() if check_gauge else 0
        return seen["fds"] == base_fds and seen["gauge"] == 0
    t0 = time.monotonic()
    ok = wait_until(back, timeout, interval=0.2)
    took = time.monotonic() - t0
    suffix = f" {what}" if what else ""
    result.check(f"{proc.name}: descriptors back to baseline{suffix}", seen["fds"] == base_fds,
                 f"{seen['fds']} open, baseline {base_fds} (after {took:.1f}s)")
    if check_gauge:
        result.check(f"{proc.name}: open-connection gauge 0{suffix}", seen["gauge"] == 0, f"gauge {seen['gauge']}")
    return seen["fds"] - base_fds


def machine_line():
    model = "?"
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = open("/proc/loadavg").read().split()[:3]
    return (f"{os.cpu_count()} cores ({model}); Linux {os.uname().release}; load average at start "
            f"{' '.join(load)}")


def is_root():
    return os.geteuid() == 0


def sha256_hex(data):
    import hashlib
    return hashlib.sha256(data).hexdigest()
