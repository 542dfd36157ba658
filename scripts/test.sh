#!/usr/bin/env bash
# Builds and runs the whole test suite, as CI does (.ci/run calls exactly this):
#   1. dev preset (Debug, -Werror): every test, including the install/find_package check, the apps,
#      the examples, the header check, the Doxygen reference (warnings are errors), the replay of the
#      kept fuzz corpora and the soak suite's short form (label soak)
#      lint: clang-format and clang-tidy must be clean (scripts/lint.sh)
#   2. asan preset (AddressSanitizer + UndefinedBehaviorSanitizer): every test but the install, header
#      and reference checks (no code of ours runs in them), the apps tests and soak scenarios 2 and 4
#      against the sanitized `iocore` binary
#   3. tsan preset (ThreadSanitizer): the threaded event-system and net suites, and the proxy, echo and CLI
#      apps tests against the TSan-built `iocore` with four net threads, soak scenarios 2 and 4 against
#      it (every ctest label "*threaded*")
#   4. fuzz preset (clang + libFuzzer): each fuzz target for a bounded time
# Set IOCORE_TEST_STAGES (e.g. "dev asan") to run only some stages, IOCORE_FUZZ_SECONDS to change the
# fuzzing time per target (default 20: CI has a time budget; the full soak run fuzzes 600 s each).
set -euo pipefail
cd "$(dirname "$0")/.."

stages=${IOCORE_TEST_STAGES:-"dev lint asan tsan fuzz"}
fuzz_seconds=${IOCORE_FUZZ_SECONDS:-20}
jobs=$(nproc)

# What the tests need beyond the machine's toolchain: real peers for the apps tests, doxygen for the
# API reference check (docs_reference).
need=()
command -v ninja >/dev/null || need+=(ninja-build)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
/usr/bin/python3 -c 'import pytest' 2>/dev/null || need+=(python3-pytest)
command -v clang++ >/dev/null || need+=(clang)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
[ -f /usr/include/liburing.h ] || need+=(liburing-dev) # the io_uring backend (every net test runs on both)
command -v doxygen >/dev/null || need+=(doxygen)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing ${need[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "test.sh: missing ${need[*]} (run as root to install them); dependent tests will be skipped"
  fi
fi

failed=0
run_stage() {
  local preset=$1; shift
  echo "=== ${preset}: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== ${preset}: test"
  ctest --preset "$preset" --no-tests=error "$@" || failed=1
}

timings=()
for stage in $stages; do
  stage_start=$SECONDS
  case $stage in
    dev) run_stage dev ;;
    lint) echo "=== lint"; ./scripts/lint.sh || failed=1 ;;
    asan)
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_stage asan -LE 'install|docs|headers' ;;
    tsan) TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run_stage tsan ;;
    fuzz)
      echo "=== fuzz: configure and build"
      cmake --preset fuzz >/dev/null
      cmake --build --preset fuzz -j "$jobs"
      # The targets fuzz side by side (one per core at a time), each for fuzz_seconds from its kept
      # corpus (which the dev and asan stages replay as tests); then each one's result is printed.
      fuzz_dir=$(mktemp -d)
      pids=()
      names=()
      for target in build/fuzz/fuzz/*_fuzz; do
        [ -x "$target" ] || continue
        name=$(basename "$target")
        echo "=== fuzz: $name for ${fuzz_seconds}s"
        mkdir -p "$fuzz_dir/$name"
        kept=fuzz/corpus/$name
        [ -d "$kept" ] && cp -r "$kept"/. "$fuzz_dir/$name"/
        "$target" -max_total_time="$fuzz_seconds" -print_final_stats=1 "$fuzz_dir/$name" >"$fuzz_dir/$name.log" 2>&1 &
        pids+=($!)
        names+=("$name")
        if [ ${#pids[@]} -ge "$jobs" ]; then
          wait "${pids[0]}" && rc=0 || rc=$?
          echo "--- ${names[0]}"; if [ $rc -eq 0 ]; then tail -n 3 "$fuzz_dir/${names[0]}.log"; else tail -n 40 "$fuzz_dir/${names[0]}.log"; failed=1; fi
          pids=("${pids[@]:1}")
          names=("${names[@]:1}")
        fi
      done
      for i in "${!pids[@]}"; do
        wait "${pids[$i]}" && rc=0 || rc=$?
        echo "--- ${names[$i]}"; if [ $rc -eq 0 ]; then tail -n 3 "$fuzz_dir/${names[$i]}.log"; else tail -n 40 "$fuzz_dir/${names[$i]}.log"; failed=1; fi
      done
      rm -rf "$fuzz_dir" ;;
    *) echo "test.sh: unknown stage $stage"; exit 2 ;;
  esac
  timings+=("$stage $((SECONDS - stage_start))s")
done
echo "test.sh: stage times: ${timings[*]}" # CI has a time budget: see which stage grows

if [ $failed -ne 0 ]; then
  echo "test.sh: FAILED"
  exit 1
fi
echo "test.sh: all stages passed ($stages)"
