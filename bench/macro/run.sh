#!/usr/bin/env bash
# Macro benchmark of the `iocore` command against nginx and HAProxy, run by hand (not by CI).
# Installs nginx, haproxy, wrk and iperf3 if missing, builds iocore with the release preset, then
# runs each case >= 3 times alternating A B A B with the same thread/worker counts, servers and load
# generators pinned to different cores, all on 127.0.0.1. Reports medians, ratios, and CPU time per
# request from /proc/PID/stat (utime+stime delta / requests).
#
#   bench/macro/run.sh                 # everything (~15 minutes)
#   REPEAT=5 DURATION=5 bench/macro/run.sh
#   CASES="http proxy" bench/macro/run.sh   # subsets: http proxy iperf rss
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-4}          # seconds per wrk / iperf3 run
THREADS=${THREADS:-1}            # server threads / workers for every server
CASES=${CASES:-"http proxy iperf rss"}
NCPU=$(nproc)
WORK=$(mktemp -d /tmp/iocore-bench.XXXXXX)
RESULTS=$WORK/results.tsv
PIDS=()

cleanup() {
  for pid in "${PIDS[@]:-}"; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }

# --- set-up ------------------------------------------------------------------------------------------------

install_tools() {
  local missing=()
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
  command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v iperf3 >/dev/null || missing+=(iperf3)
  if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # nginx stream module (Debian: libnginx-mod-stream; part of nginx-full / nginx-extras)
  if ! ls /usr/lib/nginx/modules/ngx_stream_module.so >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnginx-mod-stream >/dev/null 2>&1 || log "no nginx stream module: skipping nginx stream cases"
  fi
}

build_iocore() {
  log "building iocore (release preset)"
  (cd "$REPO" && cmake --preset release >/dev/null && cmake --build --preset release --target iocore_cli >/dev/null)
  IOCORE=$REPO/build/release/apps/iocore/iocore
}

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

# Cores: servers on the first half, load generators on the second half.
SERVER_CPUS="0-$(( THREADS > 1 ? THREADS - 1 : 0 ))"
ORIGIN_CPU=$(( NCPU > 3 ? THREADS : 0 ))
LOAD_CPUS="$(( NCPU > 2 ? NCPU / 2 : NCPU - 1 ))-$(( NCPU - 1 ))"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {
  local port=$1
  for _ in $(seq 1 200); do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
    sleep 0.05
  done
  log "port $port never opened"; return 1
}

# cpu_ticks PID -> utime+stime in clock ticks (of the process, all threads)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# For nginx/haproxy with workers, sum over the process tree.
tree_pids() { echo "$1"; pgrep -P "$1" || true; }
tree_cpu_ticks() { local t=0; for p in $(tree_pids "$1"); do t=$((t + $(cpu_ticks "$p"))); done; echo $t; }
tree_rss_kib() { local t=0; for p in $(tree_pids "$1"); do t=$((t + $(rss_kib "$p"))); done; echo $t; }

# --- servers -------------------------------------------------------------------------------------------------

start_iocore_http() { # port body_size
  taskset -c "$SERVER_CPUS" "$IOCORE" http --listen "127.0.0.1:$1" --body-size "$2" --threads "$THREADS" --log-level error &
  PIDS+=($!); SERVER_PID=$!; wait_port "$1"
}

nginx_conf_http() { # port body_size -> writes conf dir
  local dir=$WORK/nginx-$1; mkdir -p "$dir/logs" "$dir/html"
  head -c "$2" /dev/zero | tr '\0' x > "$dir/html/body"
  cat > "$dir/nginx.conf" <<CONF
daemon off;
worker_processes $THREADS;
error_log $dir/logs/error.log error;
pid $dir/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
  server {
    listen 127.0.0.1:$1 reuseport backlog=4096;
    location = /tiny { default_type text/plain; return 200 "Hello from iocore\n"; }
    location = /body { default_type text/plain; alias $dir/html/body; }
  }
}
CONF
  echo "$dir"
}

start_nginx_http() { # port body_size
  local dir; dir=$(nginx_conf_http "$1" "$2")
  taskset -c "$SERVER_CPUS" "$NGINX" -p "$dir" -c "$dir/nginx.conf" &
  PIDS+=($!); SERVER_PID=$!; wait_port "$1"
}

start_origin() { # port -> a single-worker nginx origin pinned apart from the proxies
  local dir; dir=$(nginx_conf_http "$1" 18)
  sed -i "s/worker_processes .*/worker_processes 1;/" "$dir/nginx.conf"
  taskset -c "$ORIGIN_CPU" "$NGINX" -p "$dir" -c "$dir/nginx.conf" &
  PIDS+=($!); ORIGIN_PID=$!; wait_port "$1"
}

start_iocore_proxy() { # port upstream_port
  taskset -c "$SERVER_CPUS" "$IOCORE" proxy --listen "127.0.0.1:$1" --upstream "127.0.0.1:$2" --threads "$THREADS" --log-level error &
  PIDS+=($!); SERVER_PID=$!; wait_port "$1"
}

start_haproxy() { # port upstream_port
  local dir=$WORK/haproxy-$1; mkdir -p "$dir"
  cat > "$dir/haproxy.cfg" <<CONF
global
  nbthread $THREADS
  maxconn 100000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:$1
  default_backend be
backend be
  server origin 127.0.0.1:$2
CONF
  taskset -c "$SERVER_CPUS" "$HAPROXY" -f "$dir/haproxy.cfg" -db &
  PIDS+=($!); SERVER_PID=$!; wait_port "$1"
}

start_nginx_stream() { # port upstream_port
  [[ -f /usr/lib/nginx/modules/ngx_stream_module.so ]] || return 1
  local dir=$WORK/nginx-stream-$1; mkdir -p "$dir/logs"
  cat > "$dir/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
worker_processes $THREADS;
error_log $dir/logs/error.log error;
pid $dir/nginx.pid;
events { worker_connections 16384; }
stream { server { listen 127.0.0.1:$1 reuseport; proxy_pass 127.0.0.1:$2; } }
CONF
  taskset -c "$SERVER_CPUS" "$NGINX" -p "$dir" -c "$dir/nginx.conf" &
  PIDS+=($!); SERVER_PID=$!; wait_port "$1"
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

# --- measurements ------------------------------------------------------------------------------------------------

# run_wrk URL CONNS -> prints "req_per_s p99_ms requests"
run_wrk() {
  local out threads=$(( $2 < 4 ? $2 : 4 ))
  out=$(taskset -c "$LOAD_CPUS" wrk -t"$threads" -c"$2" -d"${DURATION}s" --latency "$1" 2>&1)
  local rps p99 reqs
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' <<<"$out")
  if grep -q "Socket errors" <<<"$out"; then log "  wrk: $(grep 'Socket errors' <<<"$out")"; fi
  echo "${rps:-0} ${p99:-0} ${reqs:-0}"
}

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; } # case server metric value

HZ=$(getconf CLK_TCK)

# bench_wrk CASE SERVER URL CONNS PID
bench_wrk() {
  local before after r
  before=$(tree_cpu_ticks "$5")
  read -r rps p99 reqs < <(run_wrk "$3" "$4")
  after=$(tree_cpu_ticks "$5")
  local cpu_us=0
  if [[ "$reqs" -gt 0 ]]; then cpu_us=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}'); fi
  record "$1" "$2" rps "$rps"; record "$1" "$2" p99_ms "$p99"; record "$1" "$2" cpu_us_per_req "$cpu_us"
  log "  $1 $2: ${rps} req/s p99 ${p99} ms cpu ${cpu_us} us/req"
}

case_http() {
  for size in 18 65536; do
    local path; [[ $size == 18 ]] && path=/tiny || path=/body
    for conns in 10 100 1000; do
      for i in $(seq 1 "$REPEAT"); do
        for server in iocore nginx; do
          local port; port=$(free_port)
          if [[ $server == iocore ]]; then start_iocore_http "$port" "$size"; else start_nginx_http "$port" "$size"; fi
          bench_wrk "http_${size}B_c${conns}" "$server" "http://127.0.0.1:$port$path" "$conns" "$SERVER_PID"
          stop_server
        done
      done
    done
  done
}

proxies() { echo iocore haproxy; [[ -f /usr/lib/nginx/modules/ngx_stream_module.so ]] && echo nginx_stream; true; }

start_proxy_named() { # name port upstream
  case $1 in
  iocore) start_iocore_proxy "$2" "$3" ;;
  haproxy) start_haproxy "$2" "$3" ;;
  nginx_stream) start_nginx_stream "$2" "$3" ;;
  esac
}

case_proxy() {
  local oport; oport=$(free_port); start_origin "$oport"
  for conns in 10 100 1000; do
    for i in $(seq 1 "$REPEAT"); do
      for p in $(proxies); do
        local port; port=$(free_port); start_proxy_named "$p" "$port" "$oport"
        bench_wrk "proxy_c${conns}" "$p" "http://127.0.0.1:$port/tiny" "$conns" "$SERVER_PID"
        stop_server
      done
    done
  done
  kill "$ORIGIN_PID"; wait "$ORIGIN_PID" 2>/dev/null || true
}

case_iperf() {
  local iport; iport=$(free_port)
  taskset -c "$ORIGIN_CPU" iperf3 -s -B 127.0.0.1 -p "$iport" >/dev/null 2>&1 &
  PIDS+=($!); local ipid=$!; wait_port "$iport"
  for streams in 1 4; do
    for i in $(seq 1 "$REPEAT"); do
      for p in $(proxies); do
        local port; port=$(free_port); start_proxy_named "$p" "$port" "$iport"
        local gbps
        gbps=$(taskset -c "$LOAD_CPUS" iperf3 -c 127.0.0.1 -p "$port" -P "$streams" -t "$DURATION" -J 2>/dev/null |
               python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9, 2))' || echo 0)
        record "iperf_P${streams}" "$p" gbit_s "$gbps"
        log "  iperf -P$streams $p: $gbps Gbit/s"
        stop_server
      done
    done
  done
  kill "$ipid"; wait "$ipid" 2>/dev/null || true
}

case_rss() {
  local oport; oport=$(free_port); start_origin "$oport"
  local idle_conns=${IDLE_CONNS:-2000}
  for i in $(seq 1 "$REPEAT"); do
    for p in $(proxies); do
      local port; port=$(free_port); start_proxy_named "$p" "$port" "$oport"
      record rss_idle "$p" kib "$(tree_rss_kib "$SERVER_PID")"
      python3 - "$port" "$idle_conns" <<'PY' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    socks.append(socket.create_connection(("127.0.0.1", port)))
open("/dev/stdout", "w").write("")
time.sleep(3)
PY
      local cpid=$!
      sleep 2
      record "rss_${idle_conns}_idle_conns" "$p" kib "$(tree_rss_kib "$SERVER_PID")"
      log "  rss $p: idle $(grep "rss_idle	$p" "$RESULTS" | tail -1 | cut -f4) KiB, with $idle_conns conns $(tree_rss_kib "$SERVER_PID") KiB"
      wait "$cpid" 2>/dev/null || true
      stop_server
    done
  done
  kill "$ORIGIN_PID"; wait "$ORIGIN_PID" 2>/dev/null || true
}

report() {
  python3 - "$RESULTS" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    case, server, metric, value = line.rstrip("\n").split("\t")
    rows[(case, metric, server)].append(float(value))
cases = sorted({(c, m) for c, m, _ in rows})
print(f"\n{'case':28} {'metric':16} {'server':14} {'median':>12}  {'vs iocore':>9}  runs")
for case, metric in cases:
    servers = sorted({s for c, m, s in rows if (c, m) == (case, metric)}, key=lambda s: (s != "iocore", s))
    base = statistics.median(rows[(case, metric, "iocore")]) if (case, metric, "iocore") in rows else None
    for s in servers:
        vals = rows[(case, metric, s)]
        med = statistics.median(vals)
        ratio = f"{med / base:.2f}x" if base else "-"
        print(f"{case:28} {metric:16} {s:14} {med:12.2f}  {ratio:>9}  {len(vals)}")
PY
}

main() {
  ulimit -n 65536 2>/dev/null || log "could not raise the fd limit; 1000-connection cases may fail"
  install_tools
  build_iocore
  log "cpus: $NCPU; servers on $SERVER_CPUS (origin on $ORIGIN_CPU), load on $LOAD_CPUS; $REPEAT runs of ${DURATION}s each"
  : >"$RESULTS"
  for c in $CASES; do
    log "== $c"
    "case_$c"
  done
  report
  log "raw results: $RESULTS"
}

main "$@"
