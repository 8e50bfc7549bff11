#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang-16 under ASan+UBSan in
# build-fuzz and runs each for SECONDS_PER_TARGET (default 600) from its seed
# corpus. The corpus grows in build-fuzz/corpus/<target> (the repo's seeds
# are merged in each run; the repo is not modified). Fails if any target
# crashes, leaks, hits UB or breaks one of its checks, and prints the
# reproducer.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
shift || true
build=build-fuzz
jobs=$(nproc)

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
CC=clang-16 CXX=clang++-16 cmake -S . -B "$build" -DSANDNET_FUZZ=ON -DSANDNET_WERROR=ON \
  -DSANDNET_BUILD_TESTS=OFF -DSANDNET_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$jobs" --target fuzz

if (($# > 0)); then
  targets=("$@")
else
  targets=()
  for f in fuzz/fuzz_*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi

# Longest input per target: a little above the largest seed; the CNI_ARGS
# and version targets read short strings.
max_len_of() {
  case $1 in
    fuzz_cni_args | fuzz_cni_version) echo 512 ;;
    *) echo 8192 ;;
  esac
}

# Symbolised stacks in reports: clang-16 ships no llvm-symbolizer of its own.
for s in llvm-symbolizer-16 llvm-symbolizer; do
  if command -v "$s" >/dev/null; then
    export ASAN_SYMBOLIZER_PATH=$(command -v "$s")
    break
  fi
done
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

failed=()
for t in "${targets[@]}"; do
  bin=$build/fuzz/$t
  [[ -x $bin ]] || { echo "fuzz: no target $t" >&2; exit 2; }
  corpus=$build/corpus/$t
  artifacts=$build/artifacts/$t
  log=$build/logs/$t.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  dict=()
  case $t in fuzz_cni_args | fuzz_cni_version) ;; *) dict=(-dict=fuzz/json.dict) ;; esac

  echo "== $t: ${seconds} s"
  start=$(date +%s)
  rc=0
  "$bin" "$corpus" "${dict[@]}" -max_total_time="$seconds" -max_len="$(max_len_of "$t")" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    >"$log" 2>&1 || rc=$?
  elapsed=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  echo "   $t: ${elapsed} s, ${execs:-?} executions, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) inputs"
  if ((rc != 0)); then
    failed+=("$t")
    echo "!! $t failed (exit $rc); log: $log" >&2
    grep -E -A40 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|fuzz check failed|terminate called|deadly signal' \
      "$log" | head -80 >&2 || tail -40 "$log" >&2
    for a in $(grep -o "Test unit written to [^ ]*" "$log" | awk '{print $5}'); do
      echo "   reproducer $a (run: $bin $a):" >&2
      head -c 2000 "$a" | od -c | head -30 >&2
    done
  fi
done

if ((${#failed[@]} > 0)); then
  echo "fuzz: failing targets: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds} s each without a failure"
