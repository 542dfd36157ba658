#!/usr/bin/env bash
# Macro benchmark of the `iocore` command side by side with nginx and HAProxy, run by hand (not by CI).
#
# Installs nginx, haproxy, wrk and iperf3 if missing, builds iocore with the release preset, then runs
# every case REPEAT times alternating the servers (A B A B ...) with the same thread/worker count on
# each side, servers pinned apart from the load generators (and the origin), all on 127.0.0.1. It
# reports medians, each server's CPU time per request (user + sys of all its processes from
# /proc/PID/stat, before and after, divided by the requests wrk completed), and the ratios the aims
# are stated in (iocore / other). Only ratios from one run mean anything on a shared host.
#
#   bench/macro/run.sh                              # everything, about 15 minutes on 2 cores
#   REPEAT=5 DURATION=8 bench/macro/run.sh
#   CASES="http proxy" bench/macro/run.sh           # any of: http proxy iperf rss_http rss_proxy
#   HTTP_SERVERS="iocore raw_epoll" bench/macro/run.sh   # default: iocore iocore_uring nginx raw_epoll raw_uring
#   CONNS="100 1000" HTTP_SIZES=18 bench/macro/run.sh  # connection counts (http, proxy), body sizes
#   THREADS=2 bench/macro/run.sh                    # server threads / nginx workers / haproxy nbthread
#
# The proxy cases run `iocore proxy` with --splice off (buffers only, like the HAProxy they are
# compared with, and like the runs recorded before auto became the default). The iperf case adds
# iocore_splice (--splice auto) and haproxy_splice (option splice-auto), so that splicing and
# copying are compared on both sides.
#
# Output: progress on stderr, the report on stdout, and in $WORK (printed at the end) results.tsv
# (every run) and report.md (the tables for bench/RESULTS.md).
#
# Servers: `iocore` runs on epoll, `iocore_uring` is the same binary with --io-backend io_uring;
# raw_epoll and raw_uring (bench/floor) are the floors: minimal C responders doing only the system
# calls a responder cannot avoid. System calls per request are counted in a second, short wrk run
# against the same server with `perf stat -e raw_syscalls:sys_enter` attached (not during the timed
# run: counting costs the server CPU).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/bench/macro
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-5}          # seconds per wrk / iperf3 run
THREADS=${THREADS:-1}            # the same for every server
CASES=${CASES:-"http proxy iperf rss_http rss_proxy"}
HTTP_SERVERS=${HTTP_SERVERS:-"iocore iocore_uring nginx raw_epoll raw_uring"}
SYSCALL_SECONDS=${SYSCALL_SECONDS:-2} # the counting run's length (0: no system call counts)
HTTP_IDLE_CONNS=${HTTP_IDLE_CONNS:-10000}
PROXY_IDLE_SESSIONS=${PROXY_IDLE_SESSIONS:-9000}
NCPU=$(nproc)
WORK=$(mktemp -d /tmp/iocore-bench.XXXXXX)
chmod 755 "$WORK" # nginx workers run as nobody and must read the body file under it
RESULTS=$WORK/results.tsv
PIDS=()                          # every process this script started, ended by PID on exit

cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }

# --- set-up ---------------------------------------------------------------------------------------

install_tools() {
  local missing=()
  [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
  [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v iperf3 >/dev/null || missing+=(iperf3)
  command -v taskset >/dev/null || missing+=(util-linux)
  command -v perf >/dev/null || missing+=(linux-perf)
  [[ -f /usr/include/liburing.h ]] || missing+=(liburing-dev)
  if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # nginx's stream proxy is a dynamic module in Debian.
  if [[ ! -f /usr/lib/nginx/modules/ngx_stream_module.so ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnginx-mod-stream >/dev/null 2>&1 ||
      log "no nginx stream module: the nginx_stream cases are skipped"
  fi
}

build_iocore() {
  log "building iocore (release preset)"
  (cd "$REPO" && cmake --preset release >/dev/null && cmake --build --preset release --target iocore_cli raw_epoll >/dev/null)
  (cd "$REPO" && cmake --build --preset release --target raw_uring >/dev/null 2>&1) || true
  IOCORE=$REPO/build/release/apps/iocore/iocore
  RAW_EPOLL=$REPO/build/release/bench/floor/raw_epoll
  RAW_URING=$REPO/build/release/bench/floor/raw_uring
  [[ -x $IOCORE ]] || die "no iocore binary at $IOCORE"
  [[ -x $RAW_EPOLL ]] || die "no raw_epoll at $RAW_EPOLL"
}

# Servers that cannot run here (no liburing in the build, io_uring blocked) are left out with a line.
URING_OK=
available() { # server
  case $1 in
  raw_uring) [[ -x $RAW_URING ]] || { log "no raw_uring (built without liburing): skipped"; return 1; } ;;
  iocore_uring)
    [[ -n $URING_OK ]] && { [[ $URING_OK == yes ]]; return; }
    URING_OK=no
    "$IOCORE" echo --listen 127.0.0.1:0 --io-backend io_uring --threads 1 --log-level error >/dev/null 2>&1 &
    local pid=$! ok=1 i
    for i in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || { ok=0; break; }
      sleep 0.05
    done
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    ((ok)) || { log "iocore --io-backend io_uring does not start here: skipped"; return 1; }
    URING_OK=yes
    ;;
  esac
  return 0
}

NGINX=/usr/sbin/nginx
HAPROXY=/usr/sbin/haproxy

# Cores: servers on 0..THREADS-1; the load generators and the origin (nginx or iperf3 -s) on the
# rest. On a 2-core machine that is server on core 0, everything else on core 1.
if ((NCPU < 2)); then die "needs at least 2 cores"; fi
if ((THREADS >= NCPU)); then die "THREADS must leave a core for the load generator"; fi
SERVER_CPUS="0-$((THREADS - 1))"
LOAD_CPUS="$THREADS-$((NCPU - 1))"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() { # port: poll until something accepts (bounded: 10 s)
  local port=$1 i
  for i in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  die "port $port never opened"
}

# CPU ticks (utime + stime) and RSS of a process and its children (nginx/haproxy workers).
tree_pids() { echo "$1"; pgrep -P "$1" || true; }
# tree_sum PID FILE AWK: sum what AWK prints from /proc/P/FILE over the process and its children
tree_sum() {
  local t=0 p
  for p in $(tree_pids "$1"); do t=$((t + $(awk "$3" "/proc/$p/$2" 2>/dev/null || echo 0))); done
  echo $t
}
tree_cpu_ticks() { tree_sum "$1" stat '{print $14 + $15}'; }
tree_rss_kib() { tree_sum "$1" status '/^VmRSS:/ {print $2}'; }
HZ=$(getconf CLK_TCK)

# --- servers: each start_* sets SERVER_PID ----------------------------------------------------------

start_iocore_http() { # port body_size [backend]
  taskset -c "$SERVER_CPUS" "$IOCORE" http --listen "127.0.0.1:$1" --body-size "$2" --threads "$THREADS" \
    --io-backend "${3:-epoll}" --log-level error >/dev/null &
  SERVER_PID=$!; PIDS+=("$SERVER_PID"); wait_port "$1"
}

start_raw() { # binary port body_size (single-threaded: compared at THREADS=1 only)
  taskset -c "$SERVER_CPUS" "$1" "$2" "$3" >/dev/null &
  SERVER_PID=$!; PIDS+=("$SERVER_PID"); wait_port "$2"
}

start_http_server() { # name port body_size
  case $1 in
  iocore) start_iocore_http "$2" "$3" epoll ;;
  iocore_uring) start_iocore_http "$2" "$3" io_uring ;;
  nginx) start_nginx_http "$2" "$3" ;;
  raw_epoll) start_raw "$RAW_EPOLL" "$2" "$3" ;;
  raw_uring) start_raw "$RAW_URING" "$2" "$3" ;;
  *) die "unknown http server $1" ;;
  esac
}

# nginx serving /tiny (return 200, 18 bytes, the same body as iocore's default) and /body (a file of
# body_size bytes; nginx cannot `return` 64 KiB, its config tokens stop at 4 KiB).
nginx_http_conf() { # port body_size workers cpus_note -> prints the conf dir
  local dir=$WORK/nginx-$1
  mkdir -p "$dir/logs" "$dir/html"
  head -c "$2" /dev/zero | tr '\0' x >"$dir/html/body"
  cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes $3;
worker_rlimit_nofile 20000;
error_log $dir/logs/error.log error;
pid $dir/nginx.pid;
events { worker_connections 19000; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
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
  local dir; dir=$(nginx_http_conf "$1" "$2" "$THREADS")
  taskset -c "$SERVER_CPUS" "$NGINX" -p "$dir" -c "$dir/nginx.conf" &
  SERVER_PID=$!; PIDS+=("$SERVER_PID"); wait_port "$1"
}

start_origin() { # port: one nginx worker on the load cores, the same origin for every proxy
  local dir; dir=$(nginx_http_conf "$1" 18 1)
  taskset -c "$LOAD_CPUS" "$NGINX" -p "$dir" -c "$dir/nginx.conf" &
  ORIGIN_PID=$!; PIDS+=("$ORIGIN_PID"); wait_port "$1"
}

start_iocore_proxy() { # port upstream_port [backend [splice: off (when not given) | auto]]
  taskset -c "$SERVER_CPUS" "$IOCORE" proxy --listen "127.0.0.1:$1" --upstream "127.0.0.1:$2" \
    --threads "$THREADS" --io-backend "${3:-epoll}" --splice "${4:-off}" --log-level error >/dev/null &
  SERVER_PID=$!; PIDS+=("$SERVER_PID"); wait_port "$1"
}

start_haproxy() { # port upstream_port [splice]
  local dir=$WORK/haproxy-$1 splice=
  mkdir -p "$dir"
  # "option splice-auto": HAProxy's kernel splicing (pipes between the sockets) where it judges it
  # worth it; without it HAProxy copies through its buffers, as before. Its pipes count against the
  # open-file limit (maxpipes defaults to maxconn / 4, two descriptors each, which no longer fits
  # 20,000 with maxconn 9800): a few are plenty for the iperf case's streams.
  local pipes=
  if [[ ${3:-} == splice ]]; then
    splice="  option splice-auto"
    pipes="  maxpipes 128"
  fi
  # maxconn: two descriptors per session must fit the 20,000 open-file limit.
  cat >"$dir/haproxy.cfg" <<CONF
global
  nbthread $THREADS
  maxconn 9800
$pipes
defaults
  mode tcp
  maxconn 9800
  timeout connect 5s
  timeout client 300s
  timeout server 300s
$splice
frontend fe
  bind 127.0.0.1:$1
  default_backend be
backend be
  server origin 127.0.0.1:$2
CONF
  taskset -c "$SERVER_CPUS" "$HAPROXY" -f "$dir/haproxy.cfg" -db >"$dir/out.log" 2>&1 &
  SERVER_PID=$!; PIDS+=("$SERVER_PID"); wait_port "$1"
}

have_nginx_stream() { [[ -f /usr/lib/nginx/modules/ngx_stream_module.so ]]; }

start_nginx_stream() { # port upstream_port
  local dir=$WORK/nginx-stream-$1
  mkdir -p "$dir/logs"
  cat >"$dir/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
worker_processes $THREADS;
worker_rlimit_nofile 20000;
error_log $dir/logs/error.log error;
pid $dir/nginx.pid;
events { worker_connections 19500; }
stream { server { listen 127.0.0.1:$1 reuseport backlog=4096; proxy_pass 127.0.0.1:$2; proxy_timeout 300s; } }
CONF
  taskset -c "$SERVER_CPUS" "$NGINX" -p "$dir" -c "$dir/nginx.conf" &
  SERVER_PID=$!; PIDS+=("$SERVER_PID"); wait_port "$1"
}

proxies() {
  echo iocore
  if [[ $URING_OK == yes ]]; then echo iocore_uring; fi
  echo haproxy
  if have_nginx_stream; then echo nginx_stream; fi
}

# The iperf case also compares splicing: iocore's default (--splice off: the MIOBuffer tunnel)
# against --splice auto (a plain TCP tunnel splices), and HAProxy with and without option splice-auto.
iperf_proxies() {
  proxies
  echo iocore_splice
  echo haproxy_splice
}

start_proxy() { # name port upstream_port
  case $1 in
  iocore) start_iocore_proxy "$2" "$3" epoll ;;
  iocore_uring) start_iocore_proxy "$2" "$3" io_uring ;;
  iocore_splice) start_iocore_proxy "$2" "$3" epoll auto ;;
  haproxy) start_haproxy "$2" "$3" ;;
  haproxy_splice) start_haproxy "$2" "$3" splice ;;
  nginx_stream) start_nginx_stream "$2" "$3" ;;
  esac
}

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# --- measurements ---------------------------------------------------------------------------------

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; } # case server metric value

# check_response URL SIZE: one GET must answer 200 with a SIZE-byte body, or the run measures an
# error page (it once did: nginx answered 403 for a body file its workers could not read).
check_response() {
  /usr/bin/python3 - "$1" "$2" <<'PY' || die "$1 does not answer 200 with a $2-byte body"
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    body = r.read()
    sys.exit(0 if r.status == 200 and len(body) == int(sys.argv[2]) else 1)
PY
}

# bench_wrk CASE SERVER URL CONNS [SIZE]: one wrk run against SERVER_PID (the body size checked first)
bench_wrk() {
  local before after out rps p99 reqs errors cpu_us
  check_response "$3" "${5:-18}"
  before=$(tree_cpu_ticks "$SERVER_PID")
  out=$(taskset -c "$LOAD_CPUS" wrk -t1 -c"$4" -d"${DURATION}s" --latency "$3" 2>&1) || true
  after=$(tree_cpu_ticks "$SERVER_PID")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  reqs=$(awk '/ requests in / {print $1}' <<<"$out")
  p99=$(awk '$1 == "99%" {v = $2; m = 1; if (v ~ /us$/) m = 0.001; else if (v ~ /ms$/) m = 1; else if (v ~ /s$/) m = 1000;
                          sub(/[a-z]+$/, "", v); print v * m}' <<<"$out")
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10} /Non-2xx/ {print $NF}' <<<"$out" | awk '{s += $1} END {print s + 0}')
  [[ -n $reqs && $reqs -gt 0 ]] || { log "  wrk failed against $2: $out"; record "$1" "$2" errors 1; return; }
  cpu_us=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  record "$1" "$2" req_per_s "$rps"
  record "$1" "$2" p99_ms "$p99"
  record "$1" "$2" cpu_us_per_req "$cpu_us"
  record "$1" "$2" errors "$errors"
  count_syscalls "$@"
  log "  $1 $2: $rps req/s, p99 $p99 ms, $cpu_us us CPU/request, $errors errors, ${SYSCALLS_PER_REQ:-?} syscalls/request"
}

# count_syscalls CASE SERVER URL CONNS: a short second wrk run with perf counting the system calls
# of the server's processes (every thread); records syscalls_per_req.
count_syscalls() {
  SYSCALLS_PER_REQ=
  ((SYSCALL_SECONDS > 0)) && command -v perf >/dev/null || return 0
  local pids out reqs calls perf_pid
  pids=$(tree_pids "$SERVER_PID" | paste -sd, -)
  perf stat -e raw_syscalls:sys_enter -x, -p "$pids" -o "$WORK/perf.out" &
  perf_pid=$!
  sleep 0.3 # perf attaches
  out=$(taskset -c "$LOAD_CPUS" wrk -t1 -c"$4" -d"${SYSCALL_SECONDS}s" "$3" 2>&1) || true
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
  reqs=$(awk '/ requests in / {print $1}' <<<"$out")
  calls=$(awk -F, '/raw_syscalls:sys_enter/ {print $1}' "$WORK/perf.out" 2>/dev/null)
  if [[ -n $reqs && $reqs -gt 0 && $calls =~ ^[0-9]+$ ]]; then
    SYSCALLS_PER_REQ=$(awk -v c="$calls" -v n="$reqs" 'BEGIN {printf "%.3f", c / n}')
    record "$1" "$2" syscalls_per_req "$SYSCALLS_PER_REQ"
  fi
}

case_http() {
  local size path conns i server port servers=""
  for server in $HTTP_SERVERS; do
    if [[ $server == raw_* && $THREADS != 1 ]]; then continue; fi # the floors are single-threaded
    if available "$server"; then servers+=" $server"; fi
  done
  for size in ${HTTP_SIZES:-18 65536}; do
    if [[ $size == 18 ]]; then path=/tiny; else path=/body; fi
    for conns in ${CONNS:-10 100 1000}; do
      for i in $(seq 1 "$REPEAT"); do
        for server in $servers; do
          port=$(free_port)
          start_http_server "$server" "$port" "$size"
          bench_wrk "http_${size}B_c${conns}" "$server" "http://127.0.0.1:$port$path" "$conns" "$size"
          stop_pid "$SERVER_PID"
        done
      done
    done
  done
}

case_proxy() {
  local oport conns i p port
  oport=$(free_port); start_origin "$oport"
  for conns in ${CONNS:-10 100 1000}; do
    for i in $(seq 1 "$REPEAT"); do
      for p in $(proxies); do
        port=$(free_port); start_proxy "$p" "$port" "$oport"
        bench_wrk "proxy_c${conns}" "$p" "http://127.0.0.1:$port/tiny" "$conns"
        stop_pid "$SERVER_PID"
      done
    done
  done
  stop_pid "$ORIGIN_PID"
}

case_iperf() {
  local iport ipid streams i p port before after json gbps bytes cpu
  iport=$(free_port)
  taskset -c "$LOAD_CPUS" iperf3 -s -B 127.0.0.1 -p "$iport" >/dev/null 2>&1 &
  ipid=$!; PIDS+=("$ipid"); wait_port "$iport"
  for streams in 1 4; do
    for i in $(seq 1 "$REPEAT"); do
      for p in $(iperf_proxies); do
        port=$(free_port); start_proxy "$p" "$port" "$iport"
        before=$(tree_cpu_ticks "$SERVER_PID")
        json=$(taskset -c "$LOAD_CPUS" iperf3 -c 127.0.0.1 -p "$port" -P "$streams" -t "$DURATION" -J 2>/dev/null) || true
        after=$(tree_cpu_ticks "$SERVER_PID")
        read -r gbps bytes < <(/usr/bin/python3 -c '
import json, sys
try:
    s = json.loads(sys.stdin.read())["end"]["sum_received"]
    print(round(s["bits_per_second"] / 1e9, 3), int(s["bytes"]))
except Exception:
    print(0, 0)' <<<"$json")
        record "iperf_P$streams" "$p" gbit_per_s "$gbps"
        if ((bytes > 0)); then
          cpu=$(awk -v t=$((after - before)) -v hz="$HZ" -v b="$bytes" 'BEGIN {printf "%.3f", t / hz / (b / 2^30)}')
          record "iperf_P$streams" "$p" cpu_s_per_gib "$cpu"
        fi
        log "  iperf -P$streams $p: $gbps Gbit/s, ${cpu:-?} s CPU/GiB"
        stop_pid "$SERVER_PID"
      done
    done
  done
  stop_pid "$ipid"
}

# hold_idle CASE SERVER PORT N [--request]: RSS of SERVER_PID before and with N idle connections
hold_idle() {
  local idle with line per
  idle=$(tree_rss_kib "$SERVER_PID")
  coproc HOLD { exec /usr/bin/python3 "$HERE/hold_conns.py" "$3" "$4" "${@:5}"; }
  local hold_pid=$HOLD_PID
  PIDS+=("$hold_pid")
  if ! read -r -t 180 line <&"${HOLD[0]}"; then line="failed: no answer"; fi
  if [[ $line == "ready $4" ]]; then
    with=$(tree_rss_kib "$SERVER_PID")
    per=$(awk -v a="$idle" -v b="$with" -v n="$4" 'BEGIN {printf "%.2f", (b - a) / n}')
    record "$1" "$2" idle_rss_kib "$idle"
    record "$1" "$2" rss_kib_with_conns "$with"
    record "$1" "$2" kib_per_idle_conn "$per"
    log "  $1 $2: idle $idle KiB, with $4 connections $with KiB: $per KiB each"
  else
    log "  $1 $2: $line"
    record "$1" "$2" errors 1
  fi
  exec {HOLD[1]}>&-
  stop_pid "$hold_pid"
}

case_rss_http() {
  local i server port
  for i in $(seq 1 "$REPEAT"); do
    for server in iocore nginx; do
      port=$(free_port)
      if [[ $server == iocore ]]; then start_iocore_http "$port" 18; else start_nginx_http "$port" 18; fi
      hold_idle rss_http "$server" "$port" "$HTTP_IDLE_CONNS" --request
      stop_pid "$SERVER_PID"
    done
  done
}

case_rss_proxy() {
  local oport i p port
  oport=$(free_port); start_origin "$oport"
  for i in $(seq 1 "$REPEAT"); do
    for p in $(proxies); do
      port=$(free_port); start_proxy "$p" "$port" "$oport"
      hold_idle rss_proxy "$p" "$port" "$PROXY_IDLE_SESSIONS" --request
      stop_pid "$SERVER_PID"
    done
  done
  stop_pid "$ORIGIN_PID"
}

machine_line() {
  local cpu
  cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
  printf '%s; %s cores (%s); Linux %s; %s; %s; %s; %s; iocore %s (release preset); %s threads/workers per server; %s runs x %s s\n' \
    "$(date -u +%Y-%m-%d)" "$NCPU" "$cpu" "$(uname -r)" "$("$NGINX" -v 2>&1 | sed 's/.*: //')" \
    "$("$HAPROXY" -v 2>&1 | awk 'NR == 1 {print $1, $2, $3}')" "$(wrk -v 2>&1 | awk 'NR == 1 {print $1, $2}')" \
    "$(iperf3 -v 2>&1 | awk 'NR == 1 {print $1, $2}')" "$(git -C "$REPO" rev-parse --short HEAD)" "$THREADS" "$REPEAT" "$DURATION"
}

main() {
  install_tools
  build_iocore
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  log "cpus: $NCPU; servers on $SERVER_CPUS, load generators and origin on $LOAD_CPUS; open-file limit $(ulimit -n)"
  : >"$RESULTS"
  available iocore_uring || true # settles URING_OK for the proxy cases
  local c
  for c in $CASES; do
    declare -F "case_$c" >/dev/null || die "unknown case $c"
    log "== $c"
    "case_$c"
  done
  machine_line >"$WORK/machine.txt"
  /usr/bin/python3 "$HERE/report.py" "$RESULTS" "$WORK/machine.txt" | tee "$WORK/report.md"
  log "raw results: $RESULTS; report: $WORK/report.md"
}

main "$@"
