#!/usr/bin/env bash
# The tree must be clean under clang-format (.clang-format) and clang-tidy (.clang-tidy).
# Needs a compile database: run after `cmake --preset dev` (scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -- '*.h' '*.cc' | grep -v '^tests/install/consumer/')
clang-format --dry-run --Werror "${files[@]}"
echo "clang-format: clean (${#files[@]} files)"
[ -f build/dev/compile_commands.json ] || cmake --preset dev >/dev/null
mapfile -t tidy < <(git ls-files -- 'src/*.cc' 'apps/*.cc' 'examples/*.cc' | grep -v '/fuzz/')
# The log goes to a file of its own (several checkouts may lint at once), removed on exit.
log=$(mktemp "${TMPDIR:-/tmp}/iocore-tidy.XXXXXX")
trap 'rm -f "$log"' EXIT
run-clang-tidy -p build/dev -quiet "${tidy[@]}" >"$log" 2>&1 || {
  sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E "(warning|error):" | head -40
  echo "clang-tidy: findings above"; exit 1
}
echo "clang-tidy: clean (${#tidy[@]} files)"
