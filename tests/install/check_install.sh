#!/usr/bin/env bash
# check_install.sh BUILD_DIR CONSUMER_SRC CXX: install BUILD_DIR into a temporary prefix, then build
# and run the consumer program twice, once through find_package(iocore) and once through pkg-config.
set -euo pipefail
build=$1 consumer=$2 cxx=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null

cmake -S "$consumer" -B "$work/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
"$work/cmake-build/consumer" | grep -q '^echo ok$'
echo "find_package(iocore): ok"

export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib64/pkgconfig:${PKG_CONFIG_PATH:-}"
if command -v pkg-config >/dev/null; then
  # shellcheck disable=SC2046
  "$cxx" -o "$work/pc-consumer" "$consumer/consumer.cc" $(pkg-config --cflags --libs --static iocore)
  "$work/pc-consumer" | grep -q '^echo ok$'
  echo "pkg-config iocore: ok"
else
  echo "pkg-config not installed: pkg-config check skipped"
fi
