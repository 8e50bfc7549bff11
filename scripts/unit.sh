#!/usr/bin/env bash
# Builds sandnet and runs the unit tests only (ctest label "unit"): no root,
# no namespaces, nothing on the host is touched. For a quick loop while
# developing; scripts/test.sh (as root) runs everything. Packages are not
# installed from here: run scripts/install-deps.sh as root once.
#   SANDNET_UNIT_BUILD_DIR  build directory (default build-unit)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${SANDNET_UNIT_BUILD_DIR:-build-unit}
jobs=$(nproc)
cmake -S . -B "$dir" -DSANDNET_WERROR=ON -DSANDNET_BUILD_BENCH=OFF >/dev/null
cmake --build "$dir" -j"$jobs"
ctest --test-dir "$dir" -L unit --output-on-failure -j"$jobs"
