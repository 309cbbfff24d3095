#!/usr/bin/env bash
# Runs every benchmark and the PyTorch baseline on this machine, in one go, and writes
# OUT_DIR/bench.md (with the JSON and markdown of each program beside it):
#   - bench_kernels: every backend op against the floor of the measured sgemm rate and bandwidth;
#   - bench_epoch: whole MNIST and CIFAR-10 epochs, their floor and where the time goes;
#   - bench/pytorch/vae_bench.py: the same models in PyTorch, eager and compiled, same device;
#   - check_match.py: the PyTorch model recomputes one evae step (same parameters, input, noise);
#   - one epoch through `evae train` itself, as a cross-check of the epoch benchmark.
# The device is cuda when this build has a usable CUDA backend, the CPU otherwise.
#
# On the CPU every program runs once per thread count of THREADS (evae: OMP_NUM_THREADS and
# OPENBLAS_NUM_THREADS; PyTorch: torch.set_num_threads), its files tagged _t<N>.
#
# usage: scripts/bench_all.sh OUT_DIR
# environment: BUILD_DIR (default build), DEVICE (auto|cpu|cuda), PYTHON (default python3),
#              MNIST_N / CIFAR_N (examples per epoch; default 60000 / 50000, CIFAR 10240 on a CPU),
#              THREADS (CPU: the thread counts, e.g. "1 2" (the default) or "1"),
#              QUICK=1 (shorter runs: paper sizes only, fewer examples; for a smoke test)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ]; then
  echo "usage: scripts/bench_all.sh OUT_DIR" >&2
  exit 1
fi
OUT=$1
BUILD_DIR=${BUILD_DIR:-build}
PYTHON=${PYTHON:-python3}
QUICK=${QUICK:-0}
mkdir -p "$OUT"
for prog in bench_kernels bench_epoch evae; do
  if [ ! -x "$BUILD_DIR/$prog" ]; then
    echo "bench_all: $BUILD_DIR/$prog is missing: build first (scripts/build.sh) or set BUILD_DIR" >&2
    exit 1
  fi
done
DEV=$("$BUILD_DIR/bench_kernels" --device "${DEVICE:-auto}" --which-device)
THREADS=${THREADS:-1 2}
[ "$DEV" = cuda ] && THREADS=$(nproc)
echo "bench_all: device $DEV, results in $OUT"

kernel_args=()
mnist_n=${MNIST_N:-60000}
# a whole CIFAR-10 epoch takes minutes per program on a CPU: there 10 batches stand for it
# (every program times the same examples, so the ratios hold)
cifar_n=${CIFAR_N:-50000}
[ "$DEV" = cpu ] && [ -z "${CIFAR_N:-}" ] && cifar_n=10240
if [ "$QUICK" = 1 ]; then
  kernel_args=(--sizes paper --budget 0.05)
  mnist_n=10240
  cifar_n=2048
fi

# a program that fails is reported and the others still run; the exit status says it
failed=0
for t in $THREADS; do
  export OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t
  tag=$DEV
  [ "$DEV" = cpu ] && tag=cpu_t$t
  "$BUILD_DIR/bench_kernels" --device "$DEV" "${kernel_args[@]}" \
    --json "$OUT/kernels_$tag.json" --md "$OUT/kernels_$tag.md" | tee "$OUT/kernels_$tag.txt" ||
    { echo "bench_all: bench_kernels failed" >&2; failed=1; }

  for ds in mnist cifar10; do
    n=$mnist_n
    [ "$ds" = cifar10 ] && n=$cifar_n
    "$BUILD_DIR/bench_epoch" --dataset "$ds" --device "$DEV" --examples "$n" \
      --json "$OUT/epoch_${ds}_$tag.json" --md "$OUT/epoch_${ds}_$tag.md" | tee "$OUT/epoch_${ds}_$tag.txt" ||
      { echo "bench_all: bench_epoch --dataset $ds failed" >&2; failed=1; }
    # the same model in PyTorch on the same device, same examples per epoch and threads
    rm -f "$OUT/pytorch_${ds}_$tag.skip"
    if ! "$PYTHON" -c "import torch" 2>/dev/null; then
      echo "PyTorch is not installed for $PYTHON" > "$OUT/pytorch_${ds}_$tag.skip"
    elif [ "$DEV" = cuda ] && ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
      echo "this PyTorch sees no CUDA device" > "$OUT/pytorch_${ds}_$tag.skip"
    else
      threads=()
      [ "$DEV" = cpu ] && threads=(--threads "$t")
      if ! "$PYTHON" bench/pytorch/vae_bench.py --dataset "$ds" --device "$DEV" --examples "$n" \
          "${threads[@]}" --json "$OUT/pytorch_${ds}_$tag.json" 2>&1 | tee "$OUT/pytorch_${ds}_$tag.txt"; then
        echo "vae_bench.py failed (see pytorch_${ds}_$tag.txt)" > "$OUT/pytorch_${ds}_$tag.skip"
      fi
    fi
  done
done

# the PyTorch model is evae's: one step computed by evae's code on this device, recomputed by the
# PyTorch model from the same parameters, input and noise
for ds in mnist cifar10; do
  if "$PYTHON" -c "import torch" 2>/dev/null &&
      "$BUILD_DIR/bench_epoch" --dataset "$ds" --device "$DEV" --dump-batch 32 \
        --dump-step "$OUT/step_$ds.safetensors" > /dev/null; then
    "$PYTHON" bench/pytorch/check_match.py "$OUT/step_$ds.safetensors" \
      --json "$OUT/match_$ds.json" ||
      { echo "bench_all: the PyTorch $ds model does NOT match evae" >&2; failed=1; }
    rm -f "$OUT/step_$ds.safetensors"
  fi
done

# cross-check: one epoch of the bundled digits through the trainer, examples/s from its metrics
rm -rf "$OUT/train_check"
if "$BUILD_DIR/evae" train experiments/mnist.ini device="$DEV" train.epochs=1 \
    run.dir="$OUT/train_check" > "$OUT/train_check.txt" 2>&1; then
  if ! "$PYTHON" - "$OUT" "$DEV" <<'PY'
import json, re, sys
out, dev = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(f"{out}/train_check/metrics.jsonl") if l.strip()]
last = [r for r in rows if "examples_per_s" in r][-1]
m = re.search(r"training .*?: (\d+) mnist examples", open(f"{out}/train_check.txt").read())
json.dump({"device": dev, "examples_per_s": last["examples_per_s"],
           "examples": int(m.group(1)) if m else 0}, open(f"{out}/train_check.json", "w"))
PY
  then
    failed=1
  fi
else
  echo "bench_all: evae train cross-check failed (see $OUT/train_check.txt)" >&2
  failed=1
fi

"$PYTHON" bench/pytorch/report.py "$OUT"
exit "$failed"
