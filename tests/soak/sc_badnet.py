"""Scenario 3, a bad network: two network namespaces made for the run, joined by a veth pair whose
both ends delay (20 ms +- 5 ms), lose (1 %) and reorder (0.5 %) packets with `tc netem`. The
clients and `iocore proxy` live in one namespace, the origin in the other, so every proxied
transfer crosses the bad link once, as a direct transfer from the clients to the origin does. All
transfers, proxied and direct, must arrive intact (SHA-256); the throughput of both is reported.
Root only (skipped with a message otherwise, or when the kernel has no netem); the namespaces are
removed at the end whatever happened."""
import contextlib
import os
import subprocess
import time

import integrity
from soaklib import Iocore, Result, is_root, log, scenario_processes, settle_back

NETEM = ["delay", "20ms", "5ms", "loss", "1%", "reorder", "0.5%"]
ADDR_CLIENT, ADDR_ORIGIN = "10.231.0.1", "10.231.0.2"


class FixedSpec(integrity.PlanSpec):
    """Downloads of one size: a small request up, `down` bytes back, both sides closing once done."""

    def __init__(self, seed, down, up=1024):
        super().__init__(seed, down)
        self.down, self.up = down, up

    def plan(self, sid):
        return integrity.Plan(sid, self.up, self.down, False, False)


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


class Namespaces:
    """The client and origin namespaces and the link between them; removed by close()."""

    def __init__(self, netem):
        tag = f"{os.getpid()}"
        self.client, self.origin = f"iocsoak-c{tag}", f"iocsoak-o{tag}"
        self.made = []
        self.netem_error = None
        for ns in (self.client, self.origin):
            _ip("netns", "add", ns)
            self.made.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", self.client, "link", "add", "vc", "type", "veth", "peer", "name", "vo", "netns", self.origin)
        for ns, dev, addr in ((self.client, "vc", ADDR_CLIENT), (self.origin, "vo", ADDR_ORIGIN)):
            _ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            if netem:
                done = subprocess.run(["tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "netem", *NETEM],
                                      capture_output=True, text=True, timeout=30)
                if done.returncode != 0:
                    self.netem_error = done.stderr.strip() or f"tc exit {done.returncode}"

    def close(self):
        for ns in reversed(self.made):
            _ip("netns", "del", ns, check=False)  # takes the veth pair with it
        self.made = []


@contextlib.contextmanager
def inside(ns):
    """Run the block with this process in namespace ns (what it starts inherits it)."""
    back = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        integrity.enter_netns(ns)
        yield
    finally:
        integrity.setns(back)
        os.close(back)


def _transfers(r, label, origin, addr, plans, pool_args, session_timeout):
    started = time.monotonic()
    c, o, anon, problems = integrity.run_sessions(origin, addr, plans, pool_args, concurrency=len(plans),
                                                  session_timeout=session_timeout,
                                                  total_timeout=session_timeout + 60)
    took = time.monotonic() - started
    moved = sum(x["received"] for x in c if x.get("intact"))
    mib_s = moved / 2**20 / took if took else 0.0
    log(f"  {label}: {len(plans)} transfers of {plans[0].down >> 20} MiB in {took:.1f}s, {mib_s:.1f} MiB/s in total")
    r.check(f"{label}: the peers ran to their end", not problems, "; ".join(problems))
    integrity.judge(r, plans, c, o, anon, close_bound=1.0)
    return mib_s, took


def run(binary, workdir, transfers, size, sanitizer=False, require_netem=True, seed=20261207):
    r = Result("3. a bad network")
    t0 = time.monotonic()
    if not is_root():
        r.skipped = "needs root (network namespaces, veth, tc netem)"
        log(f"  skipped: {r.skipped}")
        return r
    session_timeout = 900
    pool_args = (size + (1 << 20), seed)
    spec = FixedSpec(seed, size)
    ns = None
    try:
        ns = Namespaces(netem=True)
        if ns.netem_error and require_netem:
            r.skipped = f"tc netem is not available on this kernel: {ns.netem_error}"
            log(f"  skipped: {r.skipped}")
            return r
        link = "clean veth (no netem)" if ns.netem_error else "veth with netem " + " ".join(NETEM)
        origin = integrity.Origin(spec, pool_args, session_timeout, host=ADDR_ORIGIN, netns=ns.origin)
        try:
            with inside(ns.client), scenario_processes(r) as ps:
                proxy = ps.add(Iocore(binary, ["proxy", "--listen", "127.0.0.1:0", "--threads", "2",
                                               "--upstream", "%s:%d" % origin.addr, "--stats", "127.0.0.1:0",
                                               "--inactivity-timeout", "120"],
                                      "proxy", expect_listeners=2, workdir=workdir))
                base = proxy.fds()
                direct_plans = [spec.plan(sid) for sid in range(transfers)]
                direct, _ = _transfers(r, "direct", origin, origin.addr, direct_plans, pool_args, session_timeout)
                proxied_plans = [spec.plan(sid) for sid in range(transfers, 2 * transfers)]
                proxied, took = _transfers(r, "proxied", origin, proxy.addr("proxy"), proxied_plans, pool_args,
                                           session_timeout)
                left = settle_back(r, proxy, base, "after the transfers")
                r.leaks = f"proxy fds {left:+d}"
        finally:
            origin.stop()
        r.figures["throughput_MiB_s"] = f"proxied {proxied:.1f}, direct {direct:.1f} (all transfers together)"
        r.load = (f"{transfers} concurrent direct transfers of {size >> 20} MiB, then as many proxied; "
                  f"proxied {proxied:.1f} MiB/s vs direct {direct:.1f} MiB/s")
        r.faults = link
    finally:
        if ns is not None:
            ns.close()
        for name in (f"iocsoak-c{os.getpid()}", f"iocsoak-o{os.getpid()}"):  # even if making them failed
            _ip("netns", "del", name, check=False)
        left_ns = [n for n in (f"iocsoak-c{os.getpid()}", f"iocsoak-o{os.getpid()}")
                   if n in _ip("netns", "list", check=False).stdout]
        if not r.skipped:
            r.check("the namespaces are removed", not left_ns, f"left: {left_ns}")
    r.duration_s = time.monotonic() - t0
    return r
