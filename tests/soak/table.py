#!/usr/bin/python3
"""The "Faults and soak" table of bench/RESULTS.md from one or more results files of full runs
(soak.py --json): one row per scenario, in scenario order.

    table.py build/soak/results.json [more.json ...]"""
import json
import sys


def verdict(r):
    checks = r["checks"]
    hard = [c for c in checks if not c["ok"] and not c["known_open"]]
    soft = [c for c in checks if not c["ok"] and c["known_open"]]
    if r["skipped"]:
        return "skipped: " + r["skipped"]
    if hard:
        return "FAIL: " + "; ".join(c["name"] for c in hard)
    if soft:
        return "known open: " + "; ".join(c["name"] for c in soft)
    return f"all {len(checks)} checks passed"


def main(paths):
    rows = []
    for p in paths:
        rows.extend(json.load(open(p)))
    rows.sort(key=lambda r: float(r["scenario"].split(".")[0]))
    print("| scenario | load | faults injected | bytes lost | sessions hung | leaks (fds, RSS) | crashes | "
          "sanitizer reports | duration | outcome |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cell = lambda s: str(s).replace("|", "/").replace("\n", " ")  # noqa: E731 - one-line formatter
        if r["skipped"]:
            print(f"| {cell(r['scenario'])} | - | - | - | - | - | - | - | - | {cell(verdict(r))} |")
            continue
        figures = "; ".join(f"{k} {v}" for k, v in r["figures"].items())
        load = r["load"] + (f" ({figures})" if figures else "")
        print(f"| {cell(r['scenario'])} | {cell(load)} | {cell(r['faults'])} | {r['bytes_lost']} | "
              f"{r['sessions_hung']} | {cell(r['leaks'])} | {r['crashes']} | {r['sanitizer_reports']} | "
              f"{r['duration_s'] / 60:.1f} min | {cell(verdict(r))} |")


if __name__ == "__main__":
    main(sys.argv[1:])
