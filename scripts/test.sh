#!/usr/bin/env bash
# Quick start 2: install what is missing, build, and run the whole test suite:
#   1. unit and integration tests (ctest) on the normal build;
#   2. the unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/setup.sh"

echo "== build"
bash "$top/scripts/build.sh" "$top/build"
echo "== tests (unit + integration)"
ctest --test-dir "$top/build" --output-on-failure

echo "== build with -fsanitize=address,undefined"
bash "$top/scripts/build.sh" "$top/build-asan" -DBERTH_SANITIZE=ON -DBERTH_INTEGRATION=OFF \
  -DBERTH_BENCH=OFF
echo "== unit tests under ASan/UBSan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$top/build-asan" --output-on-failure -L unit
