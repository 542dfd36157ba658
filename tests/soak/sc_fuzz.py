"""Scenario 9, fuzzing that keeps what it found: every fuzz target has its minimised corpus in the
repository (fuzz/corpus/<target>/). The short form replays each corpus through the target built
without libFuzzer (tests/fuzz_replay); the full run fuzzes each target (the fuzz preset's
ASan+UBSan libFuzzer binaries, all targets at once) for `seconds`, starting from a copy of its
corpus, and fails on any crash, leaving the crashing input in the work directory. The inputs a
run adds are minimised into the work directory (copy them into fuzz/corpus/<target>/ to keep
them)."""
import shutil
import subprocess
import time
from pathlib import Path

from soaklib import REPO, SANITIZER_RE, Result, log

TARGETS = ("iobuffer_fuzz", "tls_handshake_fuzz", "http_parser_fuzz")
CORPUS = REPO / "fuzz" / "corpus"


def _corpus_files(target):
    d = CORPUS / target
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []


def run(args, workdir, seconds=0, **_):
    r = Result("9. fuzzing that keeps what it found")
    t0 = time.monotonic()
    counts = {t: len(_corpus_files(t)) for t in TARGETS}
    for t in TARGETS:
        r.check(f"{t}: a kept corpus in fuzz/corpus/{t}/", counts[t] > 0, f"{counts[t]} inputs")
    if seconds <= 0:
        replay_dir = Path(args.replay_dir)
        for t in TARGETS:
            binary = replay_dir / f"{t}_replay"
            if not binary.exists():
                # Not built (tests/fuzz_replay/CMakeLists.txt says why): shown, not hidden.
                r.notes.append(f"{t}: no replay binary at {binary}; its corpus is not replayed")
                log(f"  [note] {t}: no replay binary, corpus not replayed")
                continue
            done = subprocess.run([str(binary), str(CORPUS / t)], capture_output=True, text=True, timeout=600)
            r.check(f"{t}: corpus replayed without a failure", done.returncode == 0,
                    f"exit {done.returncode}; {(done.stdout + done.stderr).strip()[-500:]}")
        r.load = "replay of the kept corpora (" + ", ".join(f"{t} {counts[t]}" for t in TARGETS) + " inputs)"
        r.faults = "-"
        r.leaks = "-"
        r.duration_s = time.monotonic() - t0
        return r

    fuzz_dir = Path(args.fuzz_dir)
    runs = {}
    for t in TARGETS:
        binary = fuzz_dir / t
        if not binary.exists():
            r.check(f"{t}: the libFuzzer binary exists", False, f"no {binary} (scripts/soak.sh builds the fuzz preset)")
            continue
        work = workdir / f"{t}-corpus"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(CORPUS / t, work)
        log_path = workdir / f"{t}.log"
        cmd = [str(binary), f"-max_total_time={seconds}", "-print_final_stats=1", "-timeout=30",
               f"-artifact_prefix={workdir}/{t}-", str(work)]
        log(f"  fuzzing {t} for {seconds}s from {counts[t]} kept inputs")
        runs[t] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log_path, "wb"), cwd=workdir),
                   log_path, work)
    execs_total, new_total, crashes = 0, 0, 0
    for t, (proc, log_path, work) in runs.items():
        try:
            code = proc.wait(timeout=seconds + 600)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            code = None
        text = log_path.read_text(errors="replace")
        execs = next((int(line.rsplit(":", 1)[1]) for line in text.splitlines()
                      if line.startswith("stat::number_of_executed_units")), 0)
        artifacts = sorted(str(p) for p in workdir.glob(f"{t}-crash-*")) + sorted(str(p) for p in workdir.glob(f"{t}-leak-*")) \
            + sorted(str(p) for p in workdir.glob(f"{t}-timeout-*"))
        found = len([p for p in work.iterdir() if p.is_file()]) - counts[t]
        r.sanitizer_reports += sum(1 for line in text.splitlines() if SANITIZER_RE.match(line))
        execs_total += execs
        new_total += max(0, found)
        crashed = code != 0 or artifacts
        crashes += bool(crashed)
        tail = "\n".join(text.splitlines()[-30:])
        r.check(f"{t}: {seconds}s of fuzzing without a crash", not crashed,
                f"exit {code}, {execs:,} executions, {found} new inputs; artifacts {artifacts}"
                + (f"\n{tail}" if crashed else ""))
        r.figures[f"{t}_execs"] = execs
        if found > 0 and not crashed:
            merged = workdir / f"{t}-minimised"
            merged.mkdir(exist_ok=True)
            subprocess.run([str(fuzz_dir / t), "-merge=1", str(merged), str(CORPUS / t), str(work)],
                           capture_output=True, timeout=900, cwd=workdir)
            r.notes.append(f"{t}: the corpus and this run's inputs minimised into {merged} "
                           f"({len(list(merged.iterdir()))} inputs)")
    r.crashes = crashes
    r.load = f"{len(runs)} targets fuzzed {seconds}s each (at once), {execs_total:,} executions"
    r.faults = f"fuzzed inputs; {new_total} new corpus inputs found"
    r.leaks = "-"
    r.duration_s = time.monotonic() - t0
    return r
