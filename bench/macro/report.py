#!/usr/bin/python3
"""Summarise bench/macro/run.sh results: medians per case, metric and server, the ratio iocore / the
reference server the issue's aims name, and whether each aim is met. Prints Markdown.

    report.py results.tsv machine.txt
"""
import collections
import statistics
import sys

# case prefix -> aims: (server, reference, metric, comparison, bound); ratio = server / reference.
AIMS = {
    "http_": [("iocore", "nginx", "cpu_us_per_req", "<=", 0.80), ("iocore", "nginx", "req_per_s", ">=", 1.00),
              ("iocore", "raw_epoll", "cpu_us_per_req", "<=", 1.10),
              ("iocore_uring", "raw_uring", "cpu_us_per_req", "<=", 1.10),
              ("iocore_uring", "nginx", "cpu_us_per_req", "<=", 0.80)],
    "proxy_": [("iocore", "haproxy", "cpu_us_per_req", "<=", 0.80), ("iocore", "haproxy", "p99_ms", "<=", 1.00),
               ("iocore_uring", "haproxy", "cpu_us_per_req", "<=", 0.80),
               ("iocore_uring", "haproxy", "p99_ms", "<=", 1.00)],
    "iperf_": [("iocore", "haproxy", "gbit_per_s", ">=", 1.00), ("iocore_uring", "haproxy", "gbit_per_s", ">=", 1.00),
               ("iocore_splice", "haproxy", "gbit_per_s", ">=", 1.50),
               ("iocore_splice", "haproxy_splice", "gbit_per_s", ">=", 1.00)],
    "rss_http": [("iocore", "nginx", "kib_per_idle_conn", "<=", 1.00)],
    "rss_proxy": [("iocore", "haproxy", "kib_per_idle_conn", "<=", 1.00)],
}
METRIC_ORDER = ["req_per_s", "p99_ms", "cpu_us_per_req", "syscalls_per_req", "gbit_per_s", "cpu_s_per_gib",
                "idle_rss_kib", "rss_kib_with_conns", "kib_per_idle_conn", "errors"]
SERVER_ORDER = ["iocore", "iocore_uring", "iocore_splice", "nginx", "haproxy", "haproxy_splice", "nginx_stream",
                "raw_epoll", "raw_uring"]


def aims_for(case):
    for prefix, aims in AIMS.items():
        if case.startswith(prefix):
            return aims
    return []


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
    servers = [s for s in SERVER_ORDER if any(k[2] == s for k in rows)]
    print("| case | metric | " + " | ".join(servers) + " | ratios against the aims |")
    print("|---|---|" + "---:|" * len(servers) + "---|")
    met_count = total = 0
    cases = sorted({c for c, _, _ in rows}, key=case_key)
    for case in cases:
        aims = aims_for(case)
        metrics = sorted({m for c, m, _ in rows if c == case}, key=lambda m: METRIC_ORDER.index(m) if m in METRIC_ORDER else 99)
        for metric in metrics:
            med = {s: statistics.median(rows[(case, metric, s)]) for s in servers if (case, metric, s) in rows}
            if metric == "errors" and not any(med.values()):
                continue  # only shown when some run failed
            cells = [f"{med[s]:.2f}" if s in med else "" for s in servers]
            notes = []
            for server, reference, aim_metric, op, bound in aims:
                if aim_metric != metric or server not in med or reference not in med or med[reference] <= 0:
                    continue
                r = med[server] / med[reference]
                ok = r <= bound if op == "<=" else r >= bound
                notes.append(f"{server}/{reference} {r:.2f} (aim {op} {bound:.2f}: {'met' if ok else '**missed**'})")
                met_count += ok
                total += 1
            print(f"| {case} | {metric} | " + " | ".join(cells) + " | " + "; ".join(notes) + " |")
    runs = max((len(v) for v in rows.values()), default=0)
    print(f"\nMedians of {runs} runs per server and case. Aims met: {met_count} of {total}.")


if __name__ == "__main__":
    main()
