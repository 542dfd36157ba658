#!/usr/bin/env bash
# The tree must be clean under clang-format (.clang-format) and clang-tidy (.clang-tidy; tests/ adds
# a .clang-tidy of its own on top of it). clang-tidy covers every source file that is compiled: the
# library, the command, the examples, the tests, the benchmarks and the fuzz targets (which the
# dev configuration compiles as their corpus replays).
# clang-tidy reads the compile database of the `lint` preset (build/lint: configured, never built):
# the dev configuration without precompiled headers, since clang cannot read the ones GCC makes.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -- '*.h' '*.cc' | grep -v '^tests/install/consumer/')
clang-format --dry-run --Werror "${files[@]}"
echo "clang-format: clean (${#files[@]} files)"
cmake --preset lint >/dev/null
# The installed-package consumer is configured by the install test against an installed tree, not
# by this build: it has no entry in the database.
mapfile -t tidy < <(git ls-files -- '*.cc' '*.c' | grep -v '^tests/install/consumer/')
# The log goes to a file of its own (several checkouts may lint at once), removed on exit.
log=$(mktemp "${TMPDIR:-/tmp}/iocore-tidy.XXXXXX")
trap 'rm -f "$log"' EXIT
# One clang-tidy per core (the header filter in .clang-tidy keeps system and GoogleTest headers quiet).
run-clang-tidy -p build/lint -quiet -j "$(nproc)" "${tidy[@]}" >"$log" 2>&1 || {
  sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E "(warning|error):" | sort -u | head -60
  echo "clang-tidy: findings above"; exit 1
}
echo "clang-tidy: clean (${#tidy[@]} files)"
