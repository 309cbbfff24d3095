#!/usr/bin/env bash
# Fuzzes the four input parsers (tests/fuzz/fuzz_*.c: IDX, CIFAR-10, INI config,
# safetensors/checkpoint) with libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer, each for
# SECONDS (default 45), one after the other, starting from the seed corpus and the reproducers
# kept in tests/fuzz/regression/NAME/. Any crash, leak, sanitizer report, broken invariant or
# input slower than 10 s fails the script; the input that caused it is saved into
# tests/fuzz/regression/NAME/ (commit it with the fix: the ctest fuzz_replay replays it from then
# on). New inputs the fuzzers find go to build-fuzz/corpus/NAME/ and are reused by the next run,
# so repeated or longer runs (scripts/fuzz.sh 3600) go deeper.
#   scripts/fuzz.sh [SECONDS] [NAME ...]    e.g. scripts/fuzz.sh 600 checkpoint
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-45}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(idx cifar config checkpoint)

flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
flags+=" -fno-omit-frame-pointer -g -O1"
mkdir -p build-fuzz
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DEVAE_WITH_CUDA=OFF \
  -DEVAE_FUZZ=ON "-DCMAKE_C_FLAGS=$flags" > build-fuzz/build.log 2>&1 ||
  { cat build-fuzz/build.log; exit 1; }
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >> build-fuzz/build.log 2>&1 ||
  { tail -50 build-fuzz/build.log; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t
  kept=tests/fuzz/regression/$t
  mkdir -p "$corpus"
  log=build-fuzz/fuzz_$t.log
  start=$(date +%s)
  # the parsers report each refused input on stderr: that goes to the log, not the terminal
  if "build-fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$kept/" "$corpus" "$kept" > "$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "fuzz $t: $runs runs in $(( $(date +%s) - start )) s, $cov, corpus $(find "$corpus" -type f | wc -l) inputs: no crash"
  else
    status=1
    echo "fuzz $t: FAILED after $(( $(date +%s) - start )) s; the end of $log:"
    grep -v '^evae: ' "$log" | tail -40
    echo "the input is saved in $kept/ (crash-*, leak-*, timeout-*, oom-*): fix the bug, then"
    echo "commit it so that the ctest fuzz_replay keeps replaying it"
  fi
done
exit $status
