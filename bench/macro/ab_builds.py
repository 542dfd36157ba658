#!/usr/bin/python3
"""A/B of two builds of the `iocore` command on the request path: `iocore http` and `iocore proxy` in
front of an nginx origin, one net thread pinned to CPU 0, wrk with 100 connections, the two builds
alternated (A B, then B A, ...) so that drift on a shared host falls on both. Reports each build's CPU
(user + system) per request, the median per build and the paired differences round by round.

    ab_builds.py BEFORE_BIN AFTER_BIN [--rounds N] [--seconds S] [--before-args "..."] [--after-args "..."]

--before-args / --after-args are extra proxy options for one build (e.g. --after-args "--splice off"
to compare a build that has the option with one that has not). Uses the soak suite's peers
(tests/soak/peers.py: nginx, wrk), so it needs what the tests need (nginx-light, wrk).
"""
import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "soak"))
from peers import Nginx, run_wrk  # noqa: E402
from soaklib import Iocore, Result, scenario_processes, proc_tree_cpu_seconds  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--before-args", default="")
    ap.add_argument("--after-args", default="")
    a = ap.parse_args()
    builds = {"before": (a.before, shlex.split(a.before_args)), "after": (a.after, shlex.split(a.after_args))}
    cpu = {}
    with tempfile.TemporaryDirectory(prefix="iocore-ab-") as tmp, scenario_processes(Result("ab")) as ps:
        wd = Path(tmp)
        origin = ps.add_other(Nginx("", workdir=wd))
        for case in ("http", "proxy"):
            for rnd in range(a.rounds):
                for name in (("before", "after") if rnd % 2 == 0 else ("after", "before")):
                    binary, extra = builds[name]
                    if case == "http":
                        args = ["http", "--listen", "127.0.0.1:0", "--threads", "1"]
                    else:
                        args = ["proxy", "--listen", "127.0.0.1:0", "--upstream", "%s:%d" % origin.addr,
                                "--threads", "1"] + extra
                    server = Iocore(binary, args, f"{case}-{name}", expect_listeners=1, workdir=wd)
                    subprocess.run(["taskset", "-a", "-p", "-c", "0", str(server.pid)], capture_output=True)
                    url = "http://%s:%d/ok" % server.addr(case)
                    run_wrk(url, 1, connections=100)  # warm-up
                    c0 = proc_tree_cpu_seconds(server.pid)
                    res = run_wrk(url, a.seconds, connections=100)
                    c1 = proc_tree_cpu_seconds(server.pid)
                    server.stop()
                    us = 1e6 * (c1 - c0) / max(res["requests"], 1)
                    cpu.setdefault((case, name), []).append(us)
                    print(f"{case} {name}: {res['rps']:.0f} req/s, p99 {res['p99_ms']} ms, {us:.2f} us CPU/request",
                          flush=True)
    for case in ("http", "proxy"):
        before, after = cpu[(case, "before")], cpu[(case, "after")]
        b, f = statistics.median(before), statistics.median(after)
        pairs = [round(x - y, 2) for x, y in zip(after, before)]
        print(f"{case}: median us CPU/request before {b:.2f}, after {f:.2f}, after/before {f / b:.3f}; "
              f"paired differences {pairs}, median {statistics.median(pairs):.2f}")


if __name__ == "__main__":
    main()
