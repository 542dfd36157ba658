#!/usr/bin/env bash
# The README's echo example must be exactly tests/install/consumer/consumer.cc (which the install
# test compiles and runs), so the README never shows code that does not build.
set -euo pipefail
readme=$1 example=$2
extracted=$(awk '/^```cpp$/{inside=1; next} /^```$/{if (inside) exit} inside' "$readme")
if [ "$extracted" != "$(cat "$example")" ]; then
  echo "README.md's cpp example differs from $example"; diff <(echo "$extracted") "$example" || true; exit 1
fi
echo "README example matches $example"
