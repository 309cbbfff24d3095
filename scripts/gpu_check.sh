#!/usr/bin/env bash
# shellcheck disable=SC2317  # the step functions are called through run_step
# Everything a GPU machine should check, in one command:
#   scripts/gpu_check.sh OUT_DIR
# 1. nvidia-smi; 2. configure a Release build with CUDA for this card (build-gpu/);
# 3. build; 4. ctest, all labels, with output (a GPU test that reports "skipped" here fails:
# the device was not usable); 5. compute-sanitizer memcheck on every GPU test, and racecheck on
# those whose kernels use shared memory (all of them: block reductions, the GRBM kernels);
# 6. three epochs of MNIST on the GPU; 7. the benchmarks in bench/.
# Every step runs even when an earlier one failed, so one run reports everything. OUT_DIR gets
# report.md (date, card, driver, CUDA, each step's result and wall time, the test summary, the
# training metrics' tail), logs/ with each step's full output, the run folder and the benchmark
# results. Exits non-zero when any step failed.
set -u

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    echo "usage: scripts/gpu_check.sh OUT_DIR" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1" || exit 2
OUT=$(cd "$1" && pwd)
LOGS="$OUT/logs"
mkdir -p "$LOGS"
cd "$ROOT" || exit 2
BUILD=build-gpu
JOBS=$(nproc 2>/dev/null || echo 4)

NVCC=$(command -v nvcc || true)
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
SANITIZER=$(command -v compute-sanitizer || true)
if [ -z "$SANITIZER" ] && [ -n "$NVCC" ] && [ -x "$(dirname "$NVCC")/compute-sanitizer" ]; then
    SANITIZER="$(dirname "$NVCC")/compute-sanitizer"
fi

# the GPU tests: tests/gpu/test_*.c, one binary each
GPU_TESTS=()
for src in tests/gpu/test_*.c; do
    [ -e "$src" ] && GPU_TESTS+=("$(basename "$src" .c)")
done

STEP_NAMES=()
STEP_RESULTS=()
STEP_TIMES=()
FAILED=0

# run_step NAME COMMAND...: runs the command with its output on the terminal and in
# logs/NAME.log, and records PASS/FAIL and the wall time.
run_step() {
    local name=$1
    shift
    local log="$LOGS/$name.log" start end rc
    echo
    echo "==== $name: $*"
    start=$(date +%s.%N)
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    end=$(date +%s.%N)
    STEP_NAMES+=("$name")
    STEP_TIMES+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')")
    if [ "$rc" -eq 0 ]; then
        STEP_RESULTS+=("PASS")
    else
        STEP_RESULTS+=("FAIL (exit $rc)")
        FAILED=1
    fi
    echo "==== $name: exit $rc"
    return 0
}

configure() {
    if [ -z "$NVCC" ]; then
        echo "nvcc not found (PATH or /usr/local/cuda/bin)"
        return 1
    fi
    local out rc
    out=$(cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEVAE_WITH_CUDA=ON \
        -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES=native 2>&1)
    rc=$?
    echo "$out"
    [ "$rc" -eq 0 ] || return "$rc"
    if ! echo "$out" | grep -q "evae: CUDA backend ON"; then
        echo "CMake did not enable the CUDA backend"
        return 1
    fi
}

# all labels; a GPU test "skipped" on a GPU machine means the backend did not come up
run_ctest() {
    local log="$LOGS/ctest.out"
    ctest --test-dir "$BUILD" --output-on-failure -V 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    if grep -q "(Skipped)\|\*\*\*Skipped" "$log"; then
        echo "some tests were skipped on a machine that should run them all"
        rc=1
    fi
    return "$rc"
}

# sanitize TOOL: every GPU test under compute-sanitizer TOOL. EVAE_SANITIZER_RUN=1 lets a test
# skip long statistical runs that only repeat kernels it already exercised.
sanitize() {
    local tool=$1 rc=0
    if [ -z "$SANITIZER" ]; then
        echo "compute-sanitizer not found"
        return 1
    fi
    for t in "${GPU_TESTS[@]}"; do
        echo "---- $tool: $t"
        if [ ! -x "$BUILD/$t" ]; then
            echo "$BUILD/$t was not built"
            rc=1
            continue
        fi
        EVAE_SANITIZER_RUN=1 "$SANITIZER" --tool "$tool" --error-exitcode 1 "$BUILD/$t" || rc=1
    done
    return "$rc"
}

train_mnist() {
    "./$BUILD/evae" train experiments/mnist.ini device=cuda train.epochs=3 \
        run.dir="$OUT/run-mnist"
}

# CIFAR-10 briefly: the 5,000-image sample when it was carried to the machine (gpu_data/ is
# ignored by git and travels with `carry`), else the 600 images in the repository
train_cifar() {
    local dir=data/cifar10-mini
    [ -f gpu_data/cifar10-sample/test_batch.bin ] && dir=gpu_data/cifar10-sample
    "./$BUILD/evae" train experiments/cifar10.ini device=cuda data.dir="$dir" train.epochs=5 \
        run.dir="$OUT/run-cifar10"
}

# the evaluator on both runs, with settings small enough for a few minutes
eval_runs() {
    local rc=0
    for r in run-mnist run-cifar10; do
        [ -d "$OUT/$r" ] || { echo "$OUT/$r missing"; rc=1; continue; }
        "./$BUILD/evae" eval "$OUT/$r" device=cuda eval.k=100 || rc=1
    done
    return "$rc"
}

# every benchmark, the PyTorch baseline (when torch is installed there) and the step check, on
# the GPU: scripts/bench_all.sh writes OUT_DIR/bench/bench.md
run_benches() {
    BUILD_DIR="$BUILD" DEVICE=cuda scripts/bench_all.sh "$OUT/bench"
}

run_step nvidia-smi nvidia-smi
run_step configure configure
run_step build cmake --build "$BUILD" -j "$JOBS"
run_step ctest run_ctest
run_step memcheck sanitize memcheck
run_step racecheck sanitize racecheck
run_step train-mnist train_mnist
run_step train-cifar10 train_cifar
run_step eval eval_runs
run_step benchmarks run_benches

# ---- report ----
# smi FIELD: one nvidia-smi --query-gpu field of the first card, or "unknown"
smi() {
    local v
    v=$(nvidia-smi --query-gpu="$1" --format=csv,noheader 2>/dev/null | head -n 1)
    echo "${v:-unknown}"
}
CUDA_DRIVER=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -n 1)
CUDA_TOOLKIT=unknown
[ -n "$NVCC" ] && CUDA_TOOLKIT=$("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
REPORT="$OUT/report.md"
{
    echo "# GPU check $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo
    echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (with local changes)')"
    echo "- card: $(smi name), $(smi memory.total)"
    echo "- driver: $(smi driver_version) (supports CUDA ${CUDA_DRIVER:-unknown})"
    echo "- CUDA toolkit: $CUDA_TOOLKIT"
    echo "- host: $(uname -srm), $JOBS cores"
    echo
    echo "## Steps"
    echo
    echo "| step | result | wall time (s) | log |"
    echo "|---|---|---|---|"
    for i in "${!STEP_NAMES[@]}"; do
        echo "| ${STEP_NAMES[$i]} | ${STEP_RESULTS[$i]} | ${STEP_TIMES[$i]} | logs/${STEP_NAMES[$i]}.log |"
    done
    echo
    echo "## Tests"
    echo
    echo '```'
    if [ -f "$LOGS/ctest.out" ]; then
        grep -E "tests passed|tests failed|Total Test time|\(Failed\)|\(Skipped\)|\(Timeout\)|\*\*\*Failed|Not Run|: [0-9]+ checks, [0-9]+ failed|skipped:" "$LOGS/ctest.out" | tail -n 80
    else
        echo "(ctest did not run)"
    fi
    echo '```'
    echo
    echo "## Sanitizers"
    echo
    echo '```'
    for tool in memcheck racecheck; do
        [ -f "$LOGS/$tool.log" ] &&
            grep -E "^---- |ERROR SUMMARY|RACECHECK SUMMARY|not found|was not built" "$LOGS/$tool.log"
    done
    echo '```'
    echo
    echo "## MNIST, 3 epochs on the GPU: metrics tail"
    echo
    echo '```'
    if [ -f "$OUT/run-mnist/metrics.jsonl" ]; then
        tail -n 5 "$OUT/run-mnist/metrics.jsonl"
    else
        echo "(no $OUT/run-mnist/metrics.jsonl)"
    fi
    echo '```'
    echo
    echo "## CIFAR-10, 5 epochs on the GPU: metrics tail"
    echo
    echo '```'
    if [ -f "$OUT/run-cifar10/metrics.jsonl" ]; then
        tail -n 2 "$OUT/run-cifar10/metrics.jsonl"
    else
        echo "(no $OUT/run-cifar10/metrics.jsonl)"
    fi
    echo '```'
    echo
    echo "## evae eval (small settings)"
    echo
    for r in run-mnist run-cifar10; do
        [ -f "$OUT/$r/eval.md" ] && { echo "### $r"; echo; cat "$OUT/$r/eval.md"; echo; }
    done
    echo "## Benchmarks"
    echo
    found=0
    for md in "$OUT"/bench/*.md; do
        [ -e "$md" ] || continue
        found=1
        echo "### $(basename "$md" .md)"
        echo
        cat "$md"
        echo
    done
    [ "$found" -eq 1 ] || echo "(no benchmark results)"
    echo
    if [ "$FAILED" -eq 0 ]; then echo "**All steps passed.**"; else echo "**Some steps failed.**"; fi
} > "$REPORT"

echo
echo "report: $REPORT"
exit "$FAILED"
