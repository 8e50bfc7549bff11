#!/usr/bin/env bash
# Installs what is needed, builds, and runs the whole test suite twice: a
# normal build and an AddressSanitizer+UBSan build; then runs every libFuzzer
# target for SANDNET_FUZZ_SECONDS (default 20, 0 skips) with clang-16. Run as
# root: most tests create real namespaces, veths, bridges and iptables rules
# (and remove them).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
bash scripts/install-deps.sh

before=$(bash scripts/leftovers.sh)

run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -DSANDNET_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 900)
}

echo "== normal build"
run_suite build
echo "== AddressSanitizer + UBSan build"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan -DSANDNET_SANITIZE=ON -DSANDNET_BUILD_BENCH=OFF

fuzz_seconds=${SANDNET_FUZZ_SECONDS:-20}
if ((fuzz_seconds > 0)); then
  echo "== libFuzzer targets, ${fuzz_seconds} s each (clang-16, ASan + UBSan)"
  bash scripts/fuzz.sh "$fuzz_seconds"
fi

after=$(bash scripts/leftovers.sh)
if [[ "$before" != "$after" ]]; then
  echo "tests left something behind on this machine:" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi
echo "no leftovers: mounts, veths, bridges, CNI cache, host-local store and iptables as before"
