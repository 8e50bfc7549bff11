#!/usr/bin/env bash
# Builds and runs bench_daemon (sandnetd's cost over the CNI plugins it runs)
# and prints its markdown tables; see docs/benchmarks.md. Needs root.
#   scripts/bench.sh [--pods N] [--clients C] [--only SUBSTRING] [--pidfd] ...
# BUILD_DIR (default <repo>/build-bench) is configured without sanitizers.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build-bench}
if [[ $(id -u) -ne 0 ]]; then
  echo "bench.sh: needs root (namespaces, bridges, iptables)" >&2
  exit 2
fi
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSANDNET_SANITIZE=OFF >/dev/null
cmake --build "$build" -j"${JOBS:-2}" --target bench_daemon sncni-passthrough sandnetd >/dev/null
echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores; command: scripts/bench.sh $*"
exec "$build/bench/bench_daemon" "$@"
