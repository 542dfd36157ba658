"""Scenario 4, hostile clients during load: wrk measures `iocore http` and `iocore proxy` (to an
nginx origin) at a fixed offered load, first alone, then while hostile clients hold connections to
both (slowloris, idle, clients that never read: a 256 MiB response through the proxy, pipelined
requests to http), then alone again. wrk must see no error, its p99 with the hostile clients must
stay within 2x of the runs without them, every hostile connection must be closed by the timeout
that applies to it within that timeout + 2 s (and not before it), and RSS may grow by at most
(hostile clients x 2 x buffer size + 10 MiB). A client that does not read sees when the server's
bytes stop reaching its queue, not when the server last wrote (the server's send buffer takes
megabytes more): one the server reports closed on its own timer is not judged late from outside."""
import os
import re
import time
from pathlib import Path

from hostile import Hostiles
from peers import Haproxy, Nginx, run_wrk, wrk_script
from soaklib import Iocore, Result, log, proc_tree_cpu_seconds, scenario_processes, settle_back

ACCESS_RE = re.compile(r"^(\S+?)\.(\d{3})Z \w+ client=[^ ]*:(\d+) ")
BUFFER = 32768        # the proxy's --buffer-size (its default)
BIG = 256 << 20
HTTP_BODY = 64 << 10  # 4,096 pipelined requests ask for 256 MiB of responses

# The full run: the numbers (split evenly between http and proxy for slowloris and idle
# clients; 100 non-readers of a 256 MiB response through the proxy, and as many pipelining
# non-readers on http). The short form: a fifth of them and shorter timeouts and wrk runs.
FULL = dict(slowloris=1000, idle=1000, nonreaders=100, wrk_s=20, warmup_s=5, head=4, inactivity=6, origin_head=9)
SHORT = dict(slowloris=200, idle=200, nonreaders=20, wrk_s=5, warmup_s=3, head=3, inactivity=4, origin_head=6)


def head_length(addr, path):
    """The Content-Length of a HEAD answer (None when not a 200): the origins must serve what the
    clients ask for, or the non-readers would take a short error page instead of 256 MiB."""
    import http.client
    try:
        c = http.client.HTTPConnection(*addr, timeout=10)
        c.request("HEAD", path)
        resp = c.getresponse()
        n = resp.getheader("Content-Length")
        c.close()
        return int(n) if resp.status == 200 and n is not None else None
    except (OSError, ValueError):
        return None


def access_log_lines(path):
    """(client port, close time (epoch seconds), line) for each line of an `iocore` access log."""
    import calendar
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return
    for line in lines:
        m = ACCESS_RE.match(line)
        if m:
            ts = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + int(m.group(2)) / 1000
            yield int(m.group(3)), ts, line


def access_log_bytes_out(path):
    """{client port: [(close time, bytes_out)...]} (a port is reused by later connections)."""
    out = {}
    for port, ts, line in access_log_lines(path):
        b = re.search(r" bytes_out=(\d+)", line)
        if b:
            out.setdefault(port, []).append((ts, int(b.group(1))))
    return out


def access_log_timer_ends(path):
    """{client port: [close time...]} of the connections the server ended on one of its timers (inactivity, request head)."""
    ends = {}
    for port, ts, line in access_log_lines(path):
        if " end=timeout" in line:
            ends.setdefault(port, []).append(ts)
    return ends


def access_log_closes(path):
    """{client port: [close time (epoch seconds)...]} from an `iocore` access log."""
    closes = {}
    for port, ts, _ in access_log_lines(path):
        closes.setdefault(port, []).append(ts)
    for v in closes.values():
        v.sort()
    return closes


def run(binary, workdir, short=True, sanitizer=False, env=None, name=None, seconds=0, enforce_p99=None):
    r = Result(name or "4. hostile clients during load")
    t0 = time.monotonic()
    cfg = SHORT if short else FULL
    slow, idle_n, nonreaders, wrk_s = cfg["slowloris"], cfg["idle"], cfg["nonreaders"], cfg["wrk_s"]
    HEAD_TIMEOUT, INACTIVITY, NGINX_HEAD_TIMEOUT = cfg["head"], cfg["inactivity"], cfg["origin_head"]
    during_s = max(wrk_s, seconds) if seconds else wrk_s  # seconds: how long the hostile phase is measured
    # A p99 from 5-second wrk windows on a shared 2-core machine measures the neighbours as much as
    # the server: the short form reports it, the full run (20 s windows or longer) enforces it.
    if enforce_p99 is None:
        enforce_p99 = not short
    script = wrk_script(workdir / "wrk-delay.lua", 5)
    with scenario_processes(r) as ps:
        nginx = ps.add_other(Nginx('location = /big { sendfile on; }', files={"big": BIG},
                                   http_extra=f"client_header_timeout {NGINX_HEAD_TIMEOUT}s; send_timeout 600s; "
                                              "keepalive_timeout 600s;", workdir=workdir))
        # The controls (when p99 is enforced): an nginx serving the same body as http, and an
        # HAProxy in front of the same origin as proxy, each measured by its own wrk at the same
        # time and attacked by the same mix as its counterpart. On a small shared machine the
        # hostile clients (and the bulk transfers the non-readers start) take CPU from every
        # server; a control's p99 shows that share, so a miss of the 2x bound can be told apart
        # from the server's own cost (the floor, measured in the same run).
        control = control_proxy = None
        if enforce_p99:
            control = ps.add_other(Nginx('location = /body { }', files={"body": HTTP_BODY},
                                         http_extra=f"client_header_timeout {HEAD_TIMEOUT}s; "
                                                    f"keepalive_timeout {INACTIVITY}s; send_timeout 600s;",
                                         workdir=workdir))
            control_proxy = ps.add_other(Haproxy(nginx.addr, threads=2, timeout_s=INACTIVITY, bufsize=BUFFER,
                                                 workdir=workdir))
        common = ["--threads", "2", "--stats", "127.0.0.1:0", "--inactivity-timeout", str(INACTIVITY)]
        http_log, proxy_log = workdir / f"hostile-http-{os.getpid()}.log", workdir / f"hostile-proxy-{os.getpid()}.log"
        http = ps.add(Iocore(binary, ["http", "--listen", "127.0.0.1:0", "--request-head-timeout", str(HEAD_TIMEOUT),
                                      "--body-size", str(HTTP_BODY), "--access-log", str(http_log)]
                             + common, "http", expect_listeners=2, workdir=workdir, env=env))
        proxy = ps.add(Iocore(binary, ["proxy", "--listen", "127.0.0.1:0", "--upstream", "%s:%d" % nginx.addr,
                                       "--buffer-size", str(BUFFER), "--access-log", str(proxy_log)] + common, "proxy", expect_listeners=2,
                              workdir=workdir, env=env))
        for who, addr, path, size in [("origin", nginx.addr, "/big", BIG)] + (
                [("control", control.addr, "/body", HTTP_BODY)] if control is not None else []):
            got = head_length(addr, path)
            r.check(f"the {who} nginx serves {path} ({size} bytes)", got == size, f"Content-Length {got}")
        base = {p: p.fds() for p in (http, proxy)}
        urls = {http: "http://%s:%d/" % http.addr("http"), proxy: "http://%s:%d/ok" % proxy.addr("proxy")}
        label = {http: "http", proxy: "proxy"}
        if control is not None:
            urls[control] = "http://%s:%d/body" % control.addr
            label[control] = "control nginx"
            urls[control_proxy] = "http://%s:%d/ok" % control_proxy.addr
            label[control_proxy] = "control haproxy"

        def measure(what, secs=wrk_s):
            import threading
            res = {}
            ts = [threading.Thread(target=lambda p=p: res.__setitem__(p, run_wrk(urls[p], secs, connections=10,
                                                                                  script=script)))
                  for p in urls]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            for p in urls:
                log(f"  wrk {what} -> {label[p]}: {res[p]['requests']} requests, p99 {res[p]['p99_ms']} ms, "
                    f"{res[p]['errors']} errors")
            return res

        import threading
        res_w = {}
        ws = [threading.Thread(target=lambda p=p: res_w.__setitem__(p, run_wrk(urls[p], cfg["warmup_s"], connections=10,
                                                                                script=script)))
              for p in urls]
        for t in ws:
            t.start()
        for t in ws:
            t.join()
        before = measure("alone (before)")
        rss_before = {p: p.rss_kib() for p in (http, proxy)}
        groups = [("slowloris", "http", http.addr("http"), "/", slow // 2),
                  ("idle", "http", http.addr("http"), "/", idle_n // 2),
                  ("pipeliner", "http", http.addr("http"), "/", nonreaders),
                  ("slowloris", "proxy", proxy.addr("proxy"), "/ok", slow // 2),
                  ("idle", "proxy", proxy.addr("proxy"), "/ok", idle_n // 2),
                  ("nonreader", "proxy", proxy.addr("proxy"), "/big", nonreaders)]
        if control is not None:
            groups += [("slowloris", "control", control.addr, "/body", slow // 2),
                       ("idle", "control", control.addr, "/body", idle_n // 2),
                       ("pipeliner", "control", control.addr, "/body", nonreaders),
                       ("slowloris", "control_proxy", control_proxy.addr, "/ok", slow // 2),
                       ("idle", "control_proxy", control_proxy.addr, "/ok", idle_n // 2),
                       ("nonreader", "control_proxy", control_proxy.addr, "/big", nonreaders)]
        hostile_count = {"http": slow // 2 + idle_n // 2 + nonreaders, "proxy": slow // 2 + idle_n // 2 + nonreaders}
        phase = 2 + during_s + max(HEAD_TIMEOUT, INACTIVITY, NGINX_HEAD_TIMEOUT) + 4
        hostiles = Hostiles(groups, phase)
        rss_max = dict(rss_before)
        sample_end = time.monotonic() + 2
        while time.monotonic() < sample_end:
            for p in (http, proxy):
                rss_max[p] = max(rss_max[p], p.rss_kib() or 0)
            time.sleep(0.2)
        import threading
        during = {}
        cpu0 = {p: proc_tree_cpu_seconds(p.pid) for p in urls}
        wt = threading.Thread(target=lambda: during.update(measure("with hostile clients", during_s)))
        wt.start()
        while wt.is_alive() or time.monotonic() < hostiles.until:
            for p in (http, proxy):
                rss_max[p] = max(rss_max[p], p.rss_kib() or 0)
            time.sleep(0.2)
        cpu1 = {p: proc_tree_cpu_seconds(p.pid) for p in urls}
        wt.join()
        # CPU each server (and control) used over the hostile phase: where a p99 suffers, whether
        # the server spent more than its counterpart on the same work.
        for p in urls:
            if cpu0[p] is not None and cpu1[p] is not None:
                r.figures[f"{label[p].replace(' ', '_')}_cpu_s_hostile_phase"] = round(cpu1[p] - cpu0[p], 2)
                log(f"  CPU during the hostile phase: {label[p]} {cpu1[p] - cpu0[p]:.2f} s")
        records = hostiles.result()
        # A connection still open when the phase ended is late if it was opened (or last made
        # progress) more than its bound before that end -- not before the records arrived, which
        # takes a while for tens of thousands of them.
        ended = hostiles.until
        r.check("the hostile clients ran", isinstance(records, list) and records, str(records)[:300])
        records = records if isinstance(records, list) else []
        for p in (http, proxy):
            settle_back(r, p, base[p], "after the hostile clients", timeout=30)
        after = measure("alone (after)")
        left = {p: settle_back(r, p, base[p], "after the last wrk run") for p in (http, proxy)}

        # wrk: no errors, p99 within 2x of the runs without hostile clients.
        control_of = {http: control, proxy: control_proxy}
        control_ratio = {}
        for p, c in control_of.items():
            if c is None:
                continue
            c_ref = max(before[c]["p99_ms"] or 0, after[c]["p99_ms"] or 0)
            c_got = during[c]["p99_ms"] or float("inf")
            control_ratio[p] = c_got / c_ref if c_ref else float("inf")
            key = label[c].replace(" ", "_")
            r.figures[f"{key}_p99_ms"] = f"{c_ref:.2f} alone, {c_got:.2f} with hostile clients ({control_ratio[p]:.2f}x)"
            log(f"  {label[c]} under the same mix: p99 {c_got:.2f} ms vs {c_ref:.2f} ms alone ({control_ratio[p]:.2f}x)")
        for p in (http, proxy):
            errs = before[p]["errors"] + during[p]["errors"] + after[p]["errors"]
            r.check(f"wrk -> {p.name}: no errors", errs == 0,
                    f"before {before[p]['errors']}, during {during[p]['errors']}, after {after[p]['errors']}")
            ref = max(before[p]["p99_ms"] or 0, after[p]["p99_ms"] or 0)
            got = during[p]["p99_ms"] or float("inf")
            r.figures[f"{p.name}_p99_ms"] = f"{ref:.2f} alone, {got:.2f} with hostile clients"
            what = f"wrk -> {p.name}: p99 with hostile clients within 2x of the runs without"
            detail = f"{got:.2f} ms vs {before[p]['p99_ms']:.2f} / {after[p]['p99_ms']:.2f} ms without"
            if enforce_p99:
                ratio = got / ref if ref else float("inf")
                # Missed, but by no more than the control nginx under the same mix: the machine's
                # share (the hostile clients' processes on the same cores), shown as a known open
                # item with the floor measured, not hidden. Worse than the control is a failure.
                c_ratio = control_ratio.get(p)
                machine = c_ratio is not None and c_ratio > 2 and ratio <= c_ratio * 1.25
                r.check(what, got <= 2 * ref, detail + (f" ({ratio:.2f}x); {label[control_of[p]]} {c_ratio:.2f}x under "
                                                        f"the same mix" if c_ratio is not None else ""),
                        known_open=machine)
            else:
                r.notes.append(f"{what} (reported only in the short form): {detail}")
                log(f"  [note] {what}: {detail} ({'within' if got <= 2 * ref else 'NOT within'}; short form: "
                    f"not enforced)")
        # Hostile connections: closed by their timeout, within it + 2 s, not before it.
        # (earliest, latest) timeout that may end each kind: a pipelining client that stops being
        # read mid-head meets the head timeout (from that head's first byte), else the inactivity one.
        expect = {("http", "slowloris"): (HEAD_TIMEOUT, HEAD_TIMEOUT), ("http", "idle"): (HEAD_TIMEOUT, HEAD_TIMEOUT),
                  ("http", "pipeliner"): (HEAD_TIMEOUT, INACTIVITY),
                  ("proxy", "slowloris"): (NGINX_HEAD_TIMEOUT, NGINX_HEAD_TIMEOUT),
                  ("proxy", "idle"): (INACTIVITY, INACTIVITY), ("proxy", "nonreader"): (INACTIVITY, INACTIVITY)}
        # A client that notices a close late (its process starved on a loaded machine) is judged by
        # when the server closed the connection: the server's access-log line for it (same client
        # port, written at the close, just before the client saw it).
        closes = {"http": access_log_closes(http_log), "proxy": access_log_closes(proxy_log)}
        wall = time.time() - time.monotonic()  # CLOCK_MONOTONIC is the same in every process
        server_judged = 0

        timer_judged = 0
        timer_ends = {"http": access_log_timer_ends(http_log), "proxy": access_log_timer_ends(proxy_log)}

        def ended_by_timer(x, t_ref):
            return any(t_ref + wall <= ts <= x["closed_wall"] + 0.05
                       for ts in timer_ends[x["target"]].get(x["port"], []))

        def server_took(x, t_ref):
            for ts in reversed(closes[x["target"]].get(x["port"], [])):
                if t_ref + wall <= ts <= x["closed_wall"] + 0.05:
                    return ts - (t_ref + wall)
            return None

        for (target, kind), (lo, hi) in expect.items():
            recs = [x for x in records if x["target"] == target and x["kind"] == kind and x["start"] is not None]
            # Slowloris and idle connections are judged from the connection's start (the head
            # timeouts run from there; idle ones make no progress), the others from their last
            # progress (the last request bytes the server took).
            ref = "start" if kind in ("slowloris", "idle") else "progress"
            late, early, errors = [], [], [x for x in recs if x["error"]]
            times = []
            for x in recs:
                t_ref = x[ref] or x["start"]
                # Early is judged from the earliest the server's last activity can have been (the
                # client's last send), late from the latest (the last bytes seen arriving).
                t_early = x.get("sent") or t_ref if ref == "progress" else t_ref
                if x["closed"] is not None and x["closed"] - t_early < lo - 1:
                    early.append(round(x["closed"] - t_early, 2))
                    continue
                if x["closed"] is not None:
                    took = x["closed"] - t_ref
                    if took > hi + 2 and x["port"] is not None:
                        by_server = server_took(x, t_ref)
                        if by_server is not None:
                            server_judged += 1
                            took = by_server
                    if took > hi + 2 and ref == "progress" and x["port"] is not None and ended_by_timer(x, t_ref):
                        # A client that does not read cannot see when the server last wrote: the
                        # server goes on filling its own send buffer (megabytes, autotuned) after
                        # the client's queue stopped growing. Its access log says the connection
                        # ended on its own timer; that timer's accuracy is what the
                        # idle and slowloris connections measure.
                        timer_judged += 1
                        continue
                    times.append(took)
                    if took > hi + 2:
                        late.append(round(took, 2))
                elif ended - t_ref > hi + 3:
                    late.append("never")
            times.sort()
            r.figures[f"{target}_{kind}_close_s"] = (f"{len(times)} closed, median {times[len(times) // 2]:.2f}, "
                                                    f"max {times[-1]:.2f}" if times else "none closed")
            window = f"{lo}s" if lo == hi else f"{lo}-{hi}s"
            r.check(f"{target}: {kind} connections closed by their timeout ({window}) within it + 2s",
                    recs and not late and not early and not errors,
                    f"{len(recs)} connections; {r.figures[f'{target}_{kind}_close_s']}; late {late[:5]}, "
                    f"early {early[:5]}, errors {[x['error'] for x in errors][:3]}")
        r.figures["late_noticed_judged_by_server_close"] = server_judged
        r.figures["non_readers_judged_by_server_timer"] = timer_judged
        # The non-readers through the proxy must have been sent the big response until their
        # buffers filled (not an error page): what the proxy wrote to each, from its access log.
        sent = access_log_bytes_out(proxy_log)

        def bytes_sent(x):
            # The access-log line of this connection: same port, closed between its start and
            # when the client saw the close.
            for ts, n in sent.get(x["port"], []):
                if x["start"] + wall <= ts <= x["closed_wall"] + 0.05:
                    return n
            return None
        short_sent = [(x["port"], bytes_sent(x)) for x in records
                      if x["target"] == "proxy" and x["kind"] == "nonreader" and x["closed"] is not None
                      and x["port"] is not None and (bytes_sent(x) or 0) <= 2 * BUFFER]
        r.check(f"proxy: every non-reader was sent more than {2 * BUFFER // 1024} KiB of the big response", not short_sent,
                f"short: {short_sent[:5]} ({len(short_sent)} in all)")
        # Memory.
        if not sanitizer:
            for p in (http, proxy):
                bound = hostile_count[p.name] * 2 * BUFFER // 1024 + 10 * 1024
                grew = rss_max[p] - rss_before[p]
                r.check(f"{p.name}: RSS grew by at most {hostile_count[p.name]} x 2 x {BUFFER // 1024} KiB + 10 MiB",
                        grew <= bound, f"{rss_before[p]} -> max {rss_max[p]} KiB (+{grew} KiB, bound {bound} KiB)")
        r.leaks = "; ".join(f"{p.name} fds {left[p]:+d}, RSS peak +{rss_max[p] - rss_before[p]} KiB"
                            for p in (http, proxy))
        r.load = (f"wrk 10 connections at <= 200 req/s each on http and on proxy ({wrk_s}s alone, {during_s}s with the hostile clients) with "
                  f"{slow} slowloris, {idle_n} idle, {nonreaders} non-reading (256 MiB via proxy) + {nonreaders} "
                  f"pipelining non-readers (http)")
        r.faults = f"{len(records)} hostile connections"
    r.duration_s = time.monotonic() - t0
    return r
