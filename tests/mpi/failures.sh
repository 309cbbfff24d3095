#!/usr/bin/env bash
# Failures of a data-parallel run never hang it (ctest dist_failures, under mpiexec on 2 ranks):
#  1. a rank killed with SIGKILL in the middle of training ends the job within the bound, with
#     mpiexec's message naming the lost rank; the last checkpoint loads, and the run resumes on
#     2 ranks to its end;
#  2. a rank that fails (rank 0 cannot make the run folder: its path runs through a file) ends
#     every rank at once with evae's message and its exit status, through MPI_Abort, while rank 1
#     waits in a collective;
#  3. a bad argument, which every rank refuses on its own, ends the job with status 1.
# Each run has a bound (timeout): a hang fails the test instead of stalling CI.
#   tests/mpi/failures.sh MPIEXEC EVAE
set -euo pipefail
MPIEXEC=${1:?usage: failures.sh MPIEXEC EVAE}
EVAE=${2:?usage: failures.sh MPIEXEC EVAE}
BOUND=${BOUND:-120} # seconds any of these runs may take, ending included
cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/evae-dist-failures-XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }
mpi() { timeout -k 5 "$BOUND" "$MPIEXEC" -n 2 --oversubscribe "$@"; }
export EVAE_FAILURE_TEST=$work # marks this test's ranks
small=(experiments/mnist.ini device=cpu data.train_limit=600 train.batch=100 model.hidden=64
       model.latent=8 model.grbm_hidden=16 sample.steps=2 sample.n=16)

# ---- 1. SIGKILL of rank 1 ----
run=$work/killed
mpi "$EVAE" train "${small[@]}" train.epochs=400 "run.dir=$run" > "$work/killed.log" 2>&1 &
launcher=$!
for _ in $(seq 600); do [ -s "$run/checkpoint.safetensors" ] && break; sleep 0.1; done
[ -s "$run/checkpoint.safetensors" ] || fail "no checkpoint appeared"
# rank 1: the process whose environment has this run's tag and rank 1 (mpiexec passes the
# environment on to its ranks)
victim=""
for env in /proc/[0-9]*/environ; do
  if { tr '\0' '\n' < "$env"; } 2>/dev/null | grep -qx "EVAE_FAILURE_TEST=$work" &&
     { tr '\0' '\n' < "$env"; } 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then
    victim=$(basename "$(dirname "$env")")
  fi
done
[ -n "$victim" ] || fail "rank 1's process not found"
t0=$SECONDS
[ -z "$victim" ] || kill -9 "$victim"
rc=0
wait "$launcher" || rc=$?
echo "1. rank 1 killed: the job ended in $((SECONDS - t0)) s with status $rc"
if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
  fail "the job with a killed rank ended with status $rc (124: it hung)"
fi
grep -q "signal 9" "$work/killed.log" || fail "mpiexec's message does not name the killed rank: $(tail -3 "$work/killed.log")"
if [ -s "$run/checkpoint.safetensors" ]; then
  epoch=$(sed -n 's/.*"epoch":\([0-9]*\),"step".*"epoch_time_s".*/\1/p' "$run/metrics.jsonl" | tail -n 1)
  mpi "$EVAE" train --resume "$run" "train.epochs=$((epoch + 2))" > "$work/resumed.log" 2>&1 ||
    fail "the checkpoint left by the killed run does not resume: $(tail -3 "$work/resumed.log")"
  grep -q "resuming $run at epoch" "$work/resumed.log" || fail "the resume did not start from the checkpoint"
  grep -q "^done: $run" "$work/resumed.log" || fail "the resumed run did not finish"
  echo "1. the checkpoint of epoch ${epoch:-?} resumed on 2 ranks and finished"
fi

# ---- 2. rank 0 fails while rank 1 waits ----
touch "$work/a-file"
t0=$SECONDS
rc=0
mpi "$EVAE" train "${small[@]}" train.epochs=1 "run.dir=$work/a-file/run" > "$work/mkdir.log" 2>&1 || rc=$?
echo "2. rank 0 without its run folder: the job ended in $((SECONDS - t0)) s with status $rc"
[ "$rc" -eq 1 ] || fail "status $rc, want 1 (124: it hung)"
grep -q "evae: rank 0 of 2: $work/a-file.*cannot create folder" "$work/mkdir.log" ||
  fail "no message naming rank 0 and the folder: $(head -3 "$work/mkdir.log")"
grep -q "evae: rank 0 of 2: ending all 2 ranks (MPI_Abort, exit status 1)" "$work/mkdir.log" ||
  fail "the job did not end by MPI_Abort"

# ---- 3. an argument every rank refuses ----
rc=0
mpi "$EVAE" train "${small[@]}" train.no_such_key=1 "run.dir=$work/bad-key" > "$work/key.log" 2>&1 || rc=$?
echo "3. an unknown key: status $rc"
[ "$rc" -eq 1 ] || fail "status $rc, want 1"
grep -q "unknown key 'train.no_such_key'" "$work/key.log" || fail "no message naming the key"

# ---- 4. an objective that needs the whole batch, on 2 ranks ----
rc=0
mpi "$EVAE" train "${small[@]}" prior.objective=snis "run.dir=$work/snis" > "$work/snis.log" 2>&1 || rc=$?
echo "4. prior.objective=snis on 2 ranks: status $rc"
[ "$rc" -eq 1 ] || fail "status $rc, want 1"
grep -q "prior.objective = snis runs on one process only (2 ranks here)" "$work/snis.log" ||
  fail "no message naming the objective: $(head -3 "$work/snis.log")"
[ ! -e "$work/snis/checkpoint.safetensors" ] || fail "a checkpoint was written"

if [ "$failed" -ne 0 ]; then
  echo "dist_failures: $failed failed"
  exit 1
fi
echo "dist_failures: every failure ended the job"
