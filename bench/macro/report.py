#!/usr/bin/python3
"""Summarise bench/macro/run.sh results: medians per case, metric and server, the ratio iocore / the
reference server the issue's aims name, and whether each aim is met. Prints Markdown.

    report.py results.tsv machine.txt
"""
import collections
import statistics
import sys

# case prefix -> (reference server, {metric: (comparison, bound)}); ratio = iocore / reference.
AIMS = {
    "http_": ("nginx", {"cpu_us_per_req": ("<=", 0.80), "req_per_s": (">=", 1.00)}),
    "proxy_": ("haproxy", {"cpu_us_per_req": ("<=", 0.80), "p99_ms": ("<=", 1.00)}),
    "iperf_": ("haproxy", {"gbit_per_s": (">=", 1.00)}),
    "rss_http": ("nginx", {"kib_per_idle_conn": ("<=", 1.00)}),
    "rss_proxy": ("haproxy", {"kib_per_idle_conn": ("<=", 1.00)}),
}
METRIC_ORDER = ["req_per_s", "p99_ms", "cpu_us_per_req", "gbit_per_s", "cpu_s_per_gib", "idle_rss_kib",
                "rss_kib_with_conns", "kib_per_idle_conn", "errors"]
SERVER_ORDER = ["iocore", "nginx", "haproxy", "nginx_stream"]


def aim_for(case):
    for prefix, aim in AIMS.items():
        if case.startswith(prefix):
            return aim
    return None, {}


def case_key(case):
    # http_18B_c10 < http_18B_c100 < http_65536B_c10 ...; numeric parts compare as numbers.
    parts = []
    for token in case.replace("B_", "_").split("_"):
        digits = "".join(ch for ch in token if ch.isdigit())
        parts.append((token.rstrip("0123456789"), int(digits) if digits else 0))
    return parts


def main():
    rows = collections.defaultdict(list)
    with open(sys.argv[1]) as f:
        for line in f:
            case, server, metric, value = line.rstrip("\n").split("\t")
            rows[(case, metric, server)].append(float(value))
    machine = open(sys.argv[2]).read().strip() if len(sys.argv) > 2 else ""

    print(f"Machine: {machine}\n")
    print("| case | metric | iocore | nginx | haproxy | nginx stream | iocore / reference | aim | met |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    met_count = total = 0
    cases = sorted({c for c, _, _ in rows}, key=case_key)
    for case in cases:
        reference, aims = aim_for(case)
        metrics = sorted({m for c, m, _ in rows if c == case}, key=lambda m: METRIC_ORDER.index(m) if m in METRIC_ORDER else 99)
        for metric in metrics:
            med = {s: statistics.median(rows[(case, metric, s)]) for s in SERVER_ORDER if (case, metric, s) in rows}
            if metric == "errors" and not any(med.values()):
                continue  # only shown when some run failed
            cells = [f"{med[s]:.2f}" if s in med else "" for s in SERVER_ORDER]
            ratio = aim_text = met = ""
            if reference in med and "iocore" in med and med[reference] > 0:
                r = med["iocore"] / med[reference]
                ratio = f"{r:.2f}"
                if metric in aims:
                    op, bound = aims[metric]
                    ok = r <= bound if op == "<=" else r >= bound
                    aim_text = f"{op} {bound:.2f} vs {reference}"
                    met = "yes" if ok else "**no**"
                    met_count += ok
                    total += 1
            print(f"| {case} | {metric} | " + " | ".join(cells) + f" | {ratio} | {aim_text} | {met} |")
    runs = max((len(v) for v in rows.values()), default=0)
    print(f"\nMedians of {runs} runs per server and case. Aims met: {met_count} of {total}.")


if __name__ == "__main__":
    main()
