"""Scenario 2, integrity under resets: proxied sessions of random sizes (log-uniform, both ways),
each side half-closing at a random moment, while the fault injector resets 10 % of the client
sockets and 10 % of the upstream sockets at random points of their streams. Every session that
was not reset is intact both ways by SHA-256; a reset one delivered an intact prefix and its other
side saw the end within the bound; no session hangs; the proxy keeps nothing afterwards."""
import time

import integrity
from soaklib import Iocore, Result, log, scenario_processes, settle_back

POOL_SIZE = 17 << 20


def run(binary, workdir, sessions, max_size, sanitizer=False, seconds=0, close_bound=1.0, threads=2, name=None,
        env=None, seed=20261207):
    """seconds > 0: keep running rounds of `sessions` until that long has passed (one proxy and
    one origin for all rounds: the leak checks cover the whole time)."""
    r = Result(name or "2. integrity under resets")
    t0 = time.monotonic()
    pool_args = (POOL_SIZE, seed)
    session_timeout = 120 if sanitizer else 60
    spec = integrity.PlanSpec(seed, max_size, client_reset_share=0.10, origin_reset_share=0.10)
    total = {"sessions": 0, "resets": 0, "client": 0, "origin": 0, "bytes": 0, "rounds": 0}
    origin = integrity.Origin(spec, pool_args, session_timeout)
    try:
        with scenario_processes(r) as ps:
            proxy = ps.add(Iocore(binary, ["proxy", "--listen", "127.0.0.1:0", "--threads", str(threads),
                                           "--upstream", "%s:%d" % origin.addr, "--stats", "127.0.0.1:0",
                                           "--access-log", str(workdir / f"resets-{seed}-{threads}.log")],
                                  "proxy", expect_listeners=2, workdir=workdir, env=env))
            base = proxy.fds()
            while True:
                first = total["rounds"] * sessions
                plans = [spec.plan(sid) for sid in range(first, first + sessions)]
                started = time.monotonic()
                c, o, anon, problems = integrity.run_sessions(origin, proxy.addr("proxy"), plans, pool_args,
                                                              concurrency=16, session_timeout=session_timeout,
                                                              total_timeout=max(900, sessions * 3))
                took = time.monotonic() - started
                moved = sum(rec["received"] for rec in c + o)
                total["rounds"] += 1
                log(f"  round {total['rounds']}: {len(plans)} sessions, {moved / 2**20:.0f} MiB checked in {took:.1f}s; "
                    f"{len(anon)} origin connections without a session header")
                r.check(f"round {total['rounds']}: the peers ran to their end", not problems, "; ".join(problems))
                total["resets"] += integrity.judge(r, plans, c, o, anon, close_bound)
                total["sessions"] += len(plans)
                total["client"] += sum(p.client_reset is not None for p in plans)
                total["origin"] += sum(p.origin_reset is not None for p in plans)
                total["bytes"] += moved
                if not proxy.alive() or seconds <= 0 or time.monotonic() - t0 >= seconds:
                    break
            left = settle_back(r, proxy, base, "after the sessions")
            r.leaks = f"proxy fds {left:+d}"
    finally:
        origin.stop()
    r.load = (f"{total['sessions']:,} proxied sessions ({total['rounds']} round(s)), 1 B - {max_size >> 20} MiB each way, "
              f"{total['bytes'] / 2**30:.1f} GiB checked")
    r.faults = f"{total['client']} client + {total['origin']} upstream resets ({total['resets']} sessions)"
    r.duration_s = time.monotonic() - t0
    return r
