#!/usr/bin/env bash
# Installs what is missing, builds iocore (release preset) and runs `iocore demo`: the TCP proxy on
# 127.0.0.1:8080 in front of the built-in HTTP origin on 127.0.0.1:8081. Try: curl http://127.0.0.1:8080/
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for tool in cmake g++ ninja; do command -v "$tool" >/dev/null || need+=("$tool"); done
need=("${need[@]/ninja/ninja-build}")
need=("${need[@]/g++/g++}")
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
[ -f /usr/include/gtest/gtest.h ] || need+=(libgtest-dev libgmock-dev)
[ -f /usr/include/benchmark/benchmark.h ] || need+=(libbenchmark-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "demo.sh: installing ${need[*]}"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target iocore_cli
exec build/release/apps/iocore/iocore demo "$@"
