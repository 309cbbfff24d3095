#!/usr/bin/env bash
# Crash test: a short MNIST run (the bundled digits, 1,024 examples, 4 epochs) is killed with
# SIGKILL at chosen moments -- during an epoch, before the first checkpoint, during a checkpoint
# write, right after a checkpoint, during a grid write, during a resume's own first writes, and at
# a few moments chosen by the clock -- then resumed (`evae train --resume`) until it finishes. Each
# must end with the files of the run that was never killed: the checkpoint, config.ini and every
# PNG byte for byte, metrics.jsonl line for line (timing fields aside), and no temporary file.
# The exact moments come from tests/crash/kill_at.c (LD_PRELOAD; the process really dies by
# SIGKILL inside the write).
# Then the disk-full case: the run writes into a small tmpfs, at nine sizes from too small for its
# first files to room for all of them; each either finishes or stops with exit 1 and a message
# naming the file and "No space left on device", leaves no temporary file and a checkpoint that
# loads; a resume while the disk is still full fails as cleanly, and given room again the run
# resumes to the uninterrupted run's files. Mounting needs root; where it is not allowed, this
# part is skipped with the reason.
#   scripts/crash_test.sh [BUILD_DIR]   (default build/, built by scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
evae=$PWD/$build/evae
shim=$PWD/$build/libevae_kill_at.so
if [ ! -x "$evae" ] || [ ! -f "$shim" ]; then
  echo "crash_test: build first ($build/evae, $shim)"
  exit 1
fi
work=$(mktemp -d /tmp/evae-crash-XXXXXX)
mnt=""
cleanup() {
  [ -n "$mnt" ] && mountpoint -q "$mnt" && umount "$mnt"
  rm -rf "$work"
}
trap cleanup EXIT

settings=(device=cpu data.train_limit=1024 train.batch=128 model.hidden=64 train.epochs=4
          train.log_every=1 train.grid_every=1 sample.steps=5 sample.n=16)
# Every run uses the same folder, so that the configuration stored in the checkpoints is the same
run=$work/run
mkdir -p "$work/logs"
log=/dev/null
failures=0
fail() { echo "crash_test: FAILED: $*"; failures=$((failures + 1)); }

# a fresh run into $run [with ENV...], output to $log; returns evae's exit status (137: SIGKILL)
# (in a subshell that waits, so that bash's "Killed" notice goes to /dev/null)
train() { ( env "$@" "$evae" train experiments/mnist.ini "${settings[@]}" "run.dir=$run" \
              >> "$log" 2>&1; exit $? ) 2> /dev/null; }
resume() { ( env "$@" "$evae" train --resume "$run" >> "$log" 2>&1; exit $? ) 2> /dev/null; }
# after a kill: resume, or start again when the run had not even written config.ini
resume_or_restart() { if [ -e "$run/config.ini" ]; then resume; else train; fi; }
# the checkpoint left in $run loads (the parser checks it whole, every tensor against its CRC-32)
loads() { "$evae" sample "$run" --n 1 --steps 1 -o "$work/sample.png" >> "$log" 2>&1; }

# whether $run or its grids/ holds a temporary file
temporaries() { compgen -G "$run/*.tmp" > /dev/null || compgen -G "$run/grids/*.tmp" > /dev/null; }
# metrics.jsonl without the fields that are times
metrics() {
  sed -E 's/,"(examples_per_s|epoch_time_s|wall_time_s|honest_time_s)":[^,}]*//g' "$1/metrics.jsonl"
}

same_as_reference() { # WHAT: compares $run with the uninterrupted run
  local f
  cmp -s "$ref/checkpoint.safetensors" "$run/checkpoint.safetensors" ||
    { fail "$1: the checkpoint differs from the uninterrupted run's"; return; }
  cmp -s "$ref/config.ini" "$run/config.ini" || fail "$1: config.ini differs"
  [ "$(metrics "$ref")" = "$(metrics "$run")" ] || fail "$1: metrics.jsonl differs"
  for f in "$ref"/grids/*.png; do
    cmp -s "$f" "$run/grids/$(basename "$f")" || fail "$1: $(basename "$f") differs or is missing"
  done
  [ "$(cd "$ref" && ls)" = "$(cd "$run" && ls)" ] ||
    fail "$1: the run folder holds other files: $(cd "$run" && ls | tr '\n' ' ')"
  [ "$(cd "$ref/grids" && ls)" = "$(cd "$run/grids" && ls)" ] ||
    fail "$1: grids/ holds other files: $(cd "$run/grids" && ls | tr '\n' ' ')"
}

t0=$(date +%s.%N)
log=$work/logs/reference.log
train || { cat "$log"; echo "crash_test: the uninterrupted run failed"; exit 1; }
run_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
ref=$work/reference
mv "$run" "$ref"
steps=8 # 1024 examples / 128 per batch; with log_every=1 each step appends a metrics line

# ---- SIGKILL at exact moments ----
# what | EVAE_KILL_AT | a file that must be in the folder right after the kill
moments=(
  "in the first epoch, before any checkpoint|open:metrics.jsonl:3|config.ini"
  "in the middle of epoch 2|open:metrics.jsonl:$((steps + 1 + 4))|checkpoint.safetensors"
  "just before epoch 3's summary line|open:metrics.jsonl:$((3 * steps + 3))|checkpoint.safetensors"
  "during the second checkpoint write|write:checkpoint.safetensors.tmp:2:6|checkpoint.safetensors.tmp"
  "during the last checkpoint write|write:checkpoint.safetensors.tmp:4:2|checkpoint.safetensors.tmp"
  "right after the second checkpoint|rename:checkpoint.safetensors:2|checkpoint.safetensors"
  "during the samples grid of epoch 2|write:samples_epoch002.png.tmp:1:1|grids/samples_epoch002.png.tmp"
  "before the reconstruction grid of epoch 3|open:recon_epoch003.png.tmp:1|grids/samples_epoch003.png"
  "right after the last checkpoint|rename:checkpoint.safetensors:4|checkpoint.safetensors"
)
i=0
for m in "${moments[@]}"; do
  IFS='|' read -r what spec left <<< "$m"
  i=$((i + 1))
  log=$work/logs/moment$i.log
  rm -rf "$run"
  rc=0
  train "LD_PRELOAD=$shim" "EVAE_KILL_AT=$spec" || rc=$?
  if [ $rc -ne 137 ]; then
    fail "$what: the run was not killed (exit $rc, EVAE_KILL_AT=$spec)"
    continue
  fi
  [ -e "$run/$left" ] || fail "$what: $left is not there after the kill"
  if [ -e "$run/checkpoint.safetensors" ] && ! loads; then
    fail "$what: the checkpoint left by the kill does not load"
  fi
  resume_or_restart || { fail "$what: the resume failed: $(tail -1 "$log")"; continue; }
  same_as_reference "$what"
done

# a resume killed during its own first writes (the deferred config.ini), then resumed again
log=$work/logs/twice.log
rm -rf "$run"
rc=0
train "LD_PRELOAD=$shim" "EVAE_KILL_AT=open:metrics.jsonl:$((steps + 5))" || rc=$?
[ $rc -eq 137 ] || fail "killing a run in epoch 2: exit $rc"
rc=0
resume "LD_PRELOAD=$shim" "EVAE_KILL_AT=open:config.ini.tmp:1" || rc=$?
[ $rc -eq 137 ] || fail "killing a resume as it writes config.ini: exit $rc"
resume || fail "the second resume failed: $(tail -1 "$log")"
same_as_reference "a resume killed as it writes config.ini"

# moments chosen by the clock rather than by the writes: at 10%, 30%, ..., 90% of the run's time
for frac in 0.1 0.3 0.5 0.7 0.9; do
  log=$work/logs/clock$frac.log
  rm -rf "$run"
  "$evae" train experiments/mnist.ini "${settings[@]}" "run.dir=$run" > "$log" 2>&1 &
  pid=$!
  sleep "$(awk -v f="$frac" -v t="$run_s" 'BEGIN { printf "%.2f", f * t }')"
  kill -9 $pid 2> /dev/null || true
  wait $pid 2> /dev/null || true
  resume_or_restart || { fail "kill -9 at $frac of the run: the resume failed"; continue; }
  same_as_reference "kill -9 at $frac of the run"
done
echo "crash_test: ${#moments[@]} chosen moments, a killed resume and 5 timed kills (one run:" \
     "$run_s s) in $(( $(date +%s) - ${t0%.*} )) s"

# ---- disk full ----
t1=$(date +%s)
rm -rf "$run"
mkdir -p "$run"
if ! why=$(mount -t tmpfs -o size=64k tmpfs "$run" 2>&1); then
  echo "crash_test: disk-full case skipped: cannot mount a tmpfs here ($why)"
else
  mnt=$run
  umount "$run"
  ckpt_kb=$(( $(stat -c %s "$ref/checkpoint.safetensors") / 1024 ))
  # tmpfs sizes: from too small for config.ini and the manifest, through too small for the first
  # checkpoint and then for a rewrite (two copies at once) or a grid, to room for the whole run
  levels=(4 16 $((ckpt_kb / 2)) $((ckpt_kb + 16)) $((ckpt_kb + 80)) $((2 * ckpt_kb + 16))
          $((2 * ckpt_kb + 100)) $((2 * ckpt_kb + 200)) $((2 * ckpt_kb + 2000)))
  finished=0
  for kb in "${levels[@]}"; do
    log=$work/logs/full$kb.log
    mount -t tmpfs -o "size=${kb}k" tmpfs "$run"
    rc=0
    train || rc=$?
    if [ $rc -eq 0 ]; then
      finished=$((finished + 1))
    elif [ $rc -ne 1 ]; then
      fail "disk full at ${kb} KiB: exit $rc (expected 0 or 1)"
    elif ! grep -q "No space left on device" "$log"; then
      fail "disk full at ${kb} KiB: no 'No space left on device' message: $(tail -2 "$log")"
    fi
    stopped_at=$(grep -m1 -o "cannot [a-z]* '[^']*'\|[^ ]*: cannot append metrics" "$log" ||
                 echo "finished")
    if temporaries; then fail "disk full at ${kb} KiB: temporary files left"; fi
    if [ -e "$run/checkpoint.safetensors" ] && ! loads; then
      fail "disk full at ${kb} KiB: the checkpoint left does not load"
    fi
    # a resume while the disk is still full (its first write is the trimmed metrics.jsonl) must
    # fail as cleanly and change nothing
    while_full="no checkpoint to resume"
    if [ -e "$run/checkpoint.safetensors" ]; then
      cp "$run/checkpoint.safetensors" "$work/before.safetensors"
      rc=0
      lines=$(wc -l < "$log")
      resume || rc=$?
      while_full=$(tail -n +$((lines + 1)) "$log" |
                   grep -m1 -o "cannot [a-z]* '[^']*'\|[^ ]*: cannot append metrics" || echo "finished")
      [ $rc -eq 0 ] || [ $rc -eq 1 ] || fail "disk full at ${kb} KiB: a resume exited $rc"
      if temporaries; then fail "disk full at ${kb} KiB: a resume left temporary files"; fi
      [ $rc -eq 0 ] || cmp -s "$work/before.safetensors" "$run/checkpoint.safetensors" ||
        fail "disk full at ${kb} KiB: a failed resume changed the checkpoint"
    fi
    # room again: the run resumes (or, when not even config.ini was written, starts again)
    mount -o remount,size=64m "$run"
    if resume_or_restart; then
      same_as_reference "disk full at ${kb} KiB"
    else
      fail "disk full at ${kb} KiB: the run did not finish once there was room: $(tail -1 "$log")"
    fi
    echo "  ${kb} KiB: ${stopped_at//$run\//}; a resume while full: ${while_full//$run\//}"
    umount "$run"
  done
  mnt=""
  [ $finished -ge 1 ] || fail "disk full: even the largest size did not fit the run"
  echo "crash_test: disk full at ${#levels[@]} sizes in $(( $(date +%s) - t1 )) s"
fi

if [ $failures -ne 0 ]; then
  echo "crash_test: $failures failed (logs: $work/logs, kept)"
  trap - EXIT
  exit 1
fi
echo "crash_test: every killed run resumed to the uninterrupted run's files"
