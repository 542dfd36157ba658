"""Scenario 7, under the sanitizers: scenario 2 (integrity under resets) and scenario 4 (hostile
clients during load) against the ASan+UBSan build and the TSan build of `iocore`, `seconds` each
(the full run: 5 minutes). A sanitizer report, or a process that does not exit 0 on SIGTERM (the
sanitizers' exit codes are made non-zero), fails the run; the memory and latency bounds are not
checked (shadow memory and instrumentation are not the program's). In the short form (seconds 0)
this scenario is left to the asan and tsan CI stages, whose `soak` tests run scenarios 2 and 4
against that stage's binary."""
import os
import time

import sc_hostile
import sc_resets
from soaklib import SANITIZER_ENV, Result, log


def run(args, workdir, seconds=0, **_):
    if seconds <= 0:
        r = Result("7. under the sanitizers")
        r.skipped = ("short form: scenarios 2 and 4 run against the sanitized binaries in the asan and tsan "
                     "stages (ctest soak_sanitized)")
        log(f"  skipped: {r.skipped}")
        return r
    results = []
    for label, binary in (("ASan+UBSan", args.asan_bin), ("TSan", args.tsan_bin)):
        if not os.access(binary, os.X_OK):
            r = Result(f"7. scenarios 2 and 4 under {label}")
            r.check(f"the {label} build of iocore exists", False, f"no binary at {binary} (scripts/soak.sh builds it)")
            results.append(r)
            continue
        log(f"  scenario 2 under {label} for {seconds}s ({binary})")
        t0 = time.monotonic()
        r2 = sc_resets.run(binary, workdir, sessions=200, max_size=4 << 20, sanitizer=True, seconds=seconds,
                           name=f"7. scenario 2 under {label}", env=SANITIZER_ENV, seed=20261207 + len(results))
        r2.duration_s = time.monotonic() - t0
        results.append(r2)
        log(f"  scenario 4 under {label}, the hostile phase {seconds}s ({binary})")
        r4 = sc_hostile.run(binary, workdir, short=False, sanitizer=True, env=SANITIZER_ENV,
                            name=f"7. scenario 4 under {label}", seconds=seconds, enforce_p99=False)
        results.append(r4)
    return results
