#!/usr/bin/python3
"""The soak and chaos suite: drives the real `iocore` binary with real peers through the
scenarios below and checks, for each, that nothing was lost, nothing leaked and nothing crashed.

    soak.py --short                 the CI form (a few minutes; ctest label "soak")
    soak.py --full [--seconds N]    the full run (scripts/soak.sh)

Scenarios: 1 churn, 2 integrity under resets, 3 a bad network, 4 hostile clients during load,
5 out of descriptors, 6 upstreams that die, 7 under the sanitizers (2 and 4 against the ASan and
TSan builds), 8 floods and recovery, 9 fuzzing that keeps what it found. Each ends by checking that
the processes' descriptors and open connections are back at their baseline and that every
process exits 0 on SIGTERM. The exit status is 0 only if every check passed."""
import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soaklib import REPO, Result, log, machine_line, raise_nofile_limit  # noqa: E402


def default_bin(preset):
    return str(REPO / "build" / preset / "apps" / "iocore" / "iocore")


# (scenario number, module, short-form parameters, full-run parameters)
def plan(args):
    short = not args.full
    p = {}
    p[1] = dict(connections=20_000 if short else 1_000_000)
    p[2] = dict(sessions=200 if short else 1000, max_size=(4 << 20) if short else (16 << 20))
    p[3] = dict(transfers=20 if short else 100, size=(4 << 20) if short else (64 << 20))
    p[4] = dict(short=short)
    p[5] = dict(clients=2000)
    p[6] = dict(short=short)
    p[7] = dict(seconds=0 if short else 300)
    p[8] = dict(rounds=2 if short else 5, sessions=2000 if short else 9000, recovery_wait=5 if short else 60,
                enforce_rss_recovery=not short)
    p[9] = dict(seconds=0 if short else 600)
    return p


def run_scenario(n, args, params, workdir):
    binary = args.bin
    if n == 1:
        import sc_churn
        return sc_churn.run(binary, workdir, **params)
    if n == 2:
        import sc_resets
        return sc_resets.run(binary, workdir, **params)
    if n == 3:
        import sc_badnet
        return sc_badnet.run(binary, workdir, **params)
    if n == 4:
        import sc_hostile
        return sc_hostile.run(binary, workdir, **params)
    if n == 5:
        import sc_nofile
        return sc_nofile.run(binary, workdir, **params)
    if n == 6:
        import sc_failover
        return sc_failover.run(binary, workdir, **params)
    if n == 7:
        import sc_sanitizers
        return sc_sanitizers.run(args, workdir, **params)
    if n == 8:
        import sc_flood
        return sc_flood.run(binary, workdir, **params)
    if n == 9:
        import sc_fuzz
        return sc_fuzz.run(args, workdir, **params)
    raise ValueError(n)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--short", action="store_true", help="the CI form")
    mode.add_argument("--full", action="store_true", help="the full run")
    ap.add_argument("--bin", default=os.environ.get("IOCORE_BIN") or default_bin("dev"))
    ap.add_argument("--asan-bin", default=os.environ.get("IOCORE_ASAN_BIN") or default_bin("asan"))
    ap.add_argument("--tsan-bin", default=os.environ.get("IOCORE_TSAN_BIN") or default_bin("tsan"))
    ap.add_argument("--fuzz-dir", default=str(REPO / "build" / "fuzz" / "fuzz"), help="the libFuzzer binaries (full run)")
    ap.add_argument("--replay-dir", default=str(REPO / "build" / "dev" / "tests" / "fuzz_replay"),
                    help="the corpus replay binaries (short form)")
    ap.add_argument("--only", default="", help="comma-separated scenario numbers (default: all)")
    ap.add_argument("--sanitizer", default=os.environ.get("IOCORE_SANITIZER", ""),
                    help="the binary is sanitized (RSS bounds are not the program's then)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--seconds", type=int, default=0, help="full run: at least this long (more rounds of 2)")
    args = ap.parse_args()

    # Absolute paths: some scenarios run their tools from a work directory.
    for name in ("bin", "asan_bin", "tsan_bin", "fuzz_dir", "replay_dir"):
        setattr(args, name, str(Path(getattr(args, name)).resolve()))
    if not os.access(args.bin, os.X_OK):
        print(f"soak: no iocore binary at {args.bin}", file=sys.stderr)
        return 2
    raise_nofile_limit()
    # SIGTERM ends the run through the scenarios' cleanup (processes stopped, namespaces removed).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    only = [int(x) for x in args.only.split(",") if x] or list(range(1, 10))
    params = plan(args)
    workdir = Path(tempfile.mkdtemp(prefix="iocore-soak-"))
    log(f"{'full run' if args.full else 'short form'}: scenarios {only}, binary {args.bin}, work files in {workdir}")
    log(f"machine: {machine_line()}")
    results = []
    t0 = time.monotonic()
    if args.full and args.seconds and 2 in only:
        # Scenario 2 goes last and keeps running rounds until the run has lasted --seconds.
        only = [n for n in only if n != 2] + [2]
    for n in only:
        if n == 2 and args.full and args.seconds:
            params[2]["seconds"] = max(0, int(args.seconds - (time.monotonic() - t0)))
            log(f"scenario 2 runs rounds for {params[2]['seconds']}s (the run lasts at least {args.seconds}s)")
        log(f"scenario {n}")
        try:
            if args.sanitizer:
                params[n]["sanitizer"] = True if n in (1, 2, 4, 8) else params[n].get("sanitizer")
                params[n] = {k: v for k, v in params[n].items() if v is not None}
            r = run_scenario(n, args, params[n], workdir)
        except Exception:  # noqa: BLE001 - one scenario's crash is its failure, the others still run
            r = Result(f"{n}. (scenario error)")
            r.check("the scenario ran to its end", False, traceback.format_exc())
        results.extend(r if isinstance(r, list) else [r])
    total = time.monotonic() - t0

    failed = known = 0
    log(f"summary ({total:.0f}s):")
    for r in results:
        if r.skipped:
            log(f"  {r.scenario}: SKIPPED ({r.skipped})")
            continue
        hard = r.failed(include_known_open=False)
        soft = [c for c in r.failed() if c.known_open]
        failed += bool(hard)
        known += bool(soft)
        state = "FAIL" if hard else ("KNOWN OPEN" if soft else "ok")
        log(f"  {r.scenario}: {state} ({r.duration_s:.0f}s) lost {r.bytes_lost} B, hung {r.sessions_hung}, "
            f"crashes {r.crashes}, sanitizer reports {r.sanitizer_reports}; leaks: {r.leaks}")
        for c in hard + soft:
            log(f"      {'KNOWN OPEN' if c.known_open else 'FAIL'}: {c.name}: {c.detail[:500]}")
        for note in r.notes:
            log(f"      note: {note}")
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ | {"checks": [c.__dict__ for c in r.checks]} for r in results],
                                              indent=1, default=str))
    if failed:
        log(f"soak: {failed} scenario(s) failed, {known} with a known open item; work files kept in {workdir}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)  # kept only when something failed
    # A known open item is a measured shortfall that belongs to another open issue: reported in
    # the summary and the results, not a failure of this suite.
    log(f"soak: every check passed{f', {known} known open item(s) reported' if known else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
