#!/usr/bin/env bash
# The full soak and chaos run (tests/soak/soak.py --full): builds what it drives (the dev `iocore`,
# its ASan+UBSan and TSan builds for scenario 7, the fuzz preset's libFuzzer targets for scenario 9)
# and runs every scenario at full size, lasting at least SECONDS (default 1800; scenario 2 runs
# rounds until then). Root is needed for scenario 3 (network namespaces, netem), else it is skipped.
#   scripts/soak.sh [SECONDS]        extra soak.py arguments in IOCORE_SOAK_ARGS (e.g. "--only 1,4")
# The results (one line per scenario, and every check) are printed and written to
# build/soak/results.json; the exit status is 0 only if every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-1800}
jobs=$(nproc)

for preset in dev asan tsan; do
  echo "=== soak: building iocore ($preset)"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs" --target iocore_cli
done
cmake --build --preset dev -j "$jobs" --target iobuffer_fuzz_replay tls_handshake_fuzz_replay http_parser_fuzz_replay
if command -v clang++ >/dev/null; then
  echo "=== soak: building the fuzz targets"
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz -j "$jobs"
fi

mkdir -p build/soak
# shellcheck disable=SC2086  # IOCORE_SOAK_ARGS is a list of arguments
exec /usr/bin/python3 tests/soak/soak.py --full --seconds "$seconds" \
  --bin build/dev/apps/iocore/iocore --asan-bin build/asan/apps/iocore/iocore --tsan-bin build/tsan/apps/iocore/iocore \
  --fuzz-dir build/fuzz/fuzz --replay-dir build/dev/tests/fuzz_replay --json build/soak/results.json ${IOCORE_SOAK_ARGS:-}
