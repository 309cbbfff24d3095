#!/usr/bin/env bash
# The Slurm recipes run for real (CI): a single-node cluster on this machine
# (scripts/slurm/local_cluster.sh), then
#  1. scripts/slurm/train.sbatch on 2 CPU tasks: one 2-rank training; its output and run folder
#     are checked (2 ranks over MPI in the manifest, a checkpoint, the epoch lines);
#  2. srun without an MPI plugin: evae must refuse to train as 2 separate one-rank runs;
#  3. scripts/slurm/table1_array.sbatch --submit: the Table 1 cells of the smoke profile as a job
#     array, each task `experiments/table1.sh --cell $SLURM_ARRAY_TASK_ID`, evae from the CPU
#     image when IMAGE names one that podman has (else the plain build); every cell must finish
#     with its eval.json, and the report must list them.
# Every job is waited for with a bound; the daemons are stopped however the script ends.
#   scripts/slurm/ci_cluster.sh [--image localhost/evae-cpu] [STATE_DIR]   (default build/slurm-ci)
set -euo pipefail
cd "$(dirname "$0")/../.."
image=""
if [ "${1:-}" = "--image" ]; then image=$2; shift 2; fi
state=$(realpath -m "${1:-build/slurm-ci}")
EVAE=${EVAE:-$PWD/build/evae}
BOUND=${BOUND:-900} # seconds a job may take, queueing included
[ -x "$EVAE" ] || { echo "ci_cluster: $EVAE not built (scripts/build.sh)" >&2; exit 1; }
rm -rf "$state"
mkdir -p "$state"
trap 'scripts/slurm/local_cluster.sh stop "$state"' EXIT
scripts/slurm/local_cluster.sh start "$state"
export SLURM_CONF=$state/slurm.conf
failed=0
fail() { echo "ci_cluster: FAILED: $*"; failed=$((failed + 1)); }
t_all=$SECONDS

# ---- 1. one data-parallel training on 2 tasks ----
t0=$SECONDS
run=$state/runs/train
rc=0
RUN_DIR=$run EVAE=$EVAE timeout "$BOUND" sbatch --wait --gpus-per-task=0 --ntasks-per-node=2 \
  --cpus-per-task=1 --output="$state/train-%j.out" scripts/slurm/train.sbatch \
  experiments/mnist.ini device=cpu train.epochs=2 data.train_limit=2000 train.batch=256 \
  model.hidden=128 sample.steps=5 || rc=$?
out=$(find "$state" -maxdepth 1 -name 'train-*.out' | head -n 1)
echo "---- train.sbatch (status $rc, $((SECONDS - t0)) s): ${out:-no output}"
[ -n "$out" ] && cat "$out"
[ "$rc" -eq 0 ] || fail "train.sbatch ended with status $rc"
grep -q '"world_size":[[:space:]]*2' "$run/manifest.json" 2>/dev/null || fail "the manifest does not say 2 ranks"
grep -q '"communicator":[[:space:]]*"mpi"' "$run/manifest.json" 2>/dev/null || fail "the manifest does not say mpi"
[ -s "$run/checkpoint.safetensors" ] || fail "no checkpoint in $run"
grep -q "^epoch 2/2 " "${out:-/dev/null}" || fail "no epoch line of epoch 2"
grep -q "2 ranks (mpi)" "${out:-/dev/null}" || fail "the output does not show 2 ranks"

# ---- 2. srun without an MPI plugin ----
rc=0
timeout "$BOUND" srun --mpi=none -n 2 "$EVAE" train experiments/mnist.ini device=cpu \
  train.epochs=1 "run.dir=$state/runs/no-pmix" > "$state/no-pmix.out" 2>&1 || rc=$?
echo "---- srun --mpi=none: status $rc"
head -n 2 "$state/no-pmix.out"
[ "$rc" -ne 0 ] || fail "evae trained as 2 separate one-rank runs"
grep -q "srun started 2 tasks, but MPI sees each as a run of its own" "$state/no-pmix.out" ||
  fail "no message about the missing MPI plugin"

# ---- 3. the Table 1 cells as a job array ----
if [ -x experiments/table1.sh ]; then
  t0=$SECONDS
  out_dir=$state/table1
  how="the plain build"
  env_args=(EVAE="$EVAE")
  if [ -n "$image" ] && podman image exists "$image" 2>/dev/null; then
    # runc and the shell's limits, as scripts/container/build_cpu_image.sh explains
    nproc=$(ulimit -Hu)
    if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
    env_args=(EVAE_IMAGE="$image" ENGINE_ARGS="--runtime runc"
              ENGINE_RUN_ARGS="--ulimit nofile=$(ulimit -Sn):$(ulimit -Hn) --ulimit nproc=$nproc:$nproc")
    how="the image $image"
  fi
  rc=0
  env "${env_args[@]}" timeout "$BOUND" scripts/slurm/table1_array.sbatch --submit \
    --profile smoke --seeds 1 "$out_dir" --wait --output="$state/table1-%A_%a.out" || rc=$?
  echo "---- table1_array.sbatch with $how (status $rc, $((SECONDS - t0)) s)"
  for f in "$state"/table1-*.out; do echo "== $f"; tail -n 3 "$f"; done
  [ "$rc" -eq 0 ] || fail "the Table 1 array ended with status $rc"
  cells=$(experiments/table1.sh --profile smoke --seeds 1 --list "$out_dir" | sed -n 's/.*, \([0-9]*\) cells,.*/\1/p')
  done_cells=$(find "$out_dir/cells" -name eval.json 2>/dev/null | wc -l)
  echo "Table 1 array: $done_cells of ${cells:-?} cells evaluated"
  [ "$done_cells" -eq "${cells:--1}" ] || fail "$done_cells of ${cells:-?} cells have an eval.json"
  [ -s "$out_dir/table1.md" ] || fail "no report $out_dir/table1.md"
else
  echo "---- no experiments/table1.sh: the job array is not run"
fi

echo "ci_cluster: $((SECONDS - t_all)) s"
[ "$failed" -eq 0 ] || exit 1
echo "ci_cluster: the Slurm recipes ran"
