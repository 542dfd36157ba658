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
mapfile -t tidy < <(git ls-files -- '*.cc' '*.c' | grep -v '^tests/install/consumer/' | grep -Ev '^tests/(unit|net)/.*_test\.cc$')
# The test suites' files are checked as the build compiles them, in batches (IOCORE_UNITY_TESTS: the
# database lists the batch files, each including eight suites' files), which parses GoogleTest once
# per batch instead of once per file.
mapfile -t batches < <(find build/lint/tests -path '*/Unity/unity_*.cxx' | sort)
if [ ${#batches[@]} -eq 0 ]; then
  echo "lint: no unity batches in build/lint (is IOCORE_UNITY_TESTS on in the lint preset?)"; exit 1
fi
# The log goes to a file of its own (several checkouts may lint at once), removed on exit.
log=$(mktemp "${TMPDIR:-/tmp}/iocore-tidy.XXXXXX")
trap 'rm -f "$log"' EXIT
# One clang-tidy per core (the header filter in .clang-tidy keeps system and GoogleTest headers
# quiet). The batches get the tests' header filter on the command line, because a batch file lives
# in the build tree, where only the root configuration applies, and what it includes from tests/ is
# what must be checked; including .cc files is what a batch is, so that one check is off for them.
tidy_failed=0
run-clang-tidy -p build/lint -quiet -j "$(nproc)" "${tidy[@]}" >"$log" 2>&1 || tidy_failed=1
run-clang-tidy -p build/lint -quiet -j "$(nproc)" -header-filter='(include/iocore|src|apps|tests)/.*' \
  -checks=-bugprone-suspicious-include "${batches[@]}" >>"$log" 2>&1 || tidy_failed=1
if [ $tidy_failed -ne 0 ]; then
  sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E "(warning|error):" | sort -u | head -60
  echo "clang-tidy: findings above"; exit 1
fi
echo "clang-tidy: clean (${#tidy[@]} files, ${#batches[@]} batches of test files)"
