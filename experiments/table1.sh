#!/usr/bin/env bash
# Table 1 of the paper with one command: every cell (data set x prior x seed) trained with
# `evae train` and evaluated with `evae eval`, one run folder per cell under OUT_DIR/cells/, then
# OUT_DIR/table1.md, table1.json and figures/ by experiments/table1/report.py.
#
#   experiments/table1.sh [--profile smoke|cpu|paper] [--seeds N] [--cell I] [--list]
#                         [--set section.key=value ...] OUT_DIR
#
# A finished cell (its eval.json matches the profile's settings) is skipped, an interrupted one
# resumes from its checkpoint (`evae train --resume`); `--cell I` runs cell I alone (for job
# arrays: `--cell $SLURM_ARRAY_TASK_ID`); the report is made again from whatever cells are
# finished after every run. README.md ("Reproducing Table 1") describes the profiles and outputs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
    cat <<EOF
usage: experiments/table1.sh [--profile smoke|cpu|paper] [--seeds N] [--cell I] [--list]
                            [--set section.key=value ...] OUT_DIR

  --profile P  smoke: the bundled data, 2 epochs, tiny evaluation (minutes, CI);
               cpu:   MNIST 50,000 / 10,000 and the 5,000-image CIFAR-10 sample (hours);
               paper: the paper's protocol for a GPU (default: smoke)
  --seeds N    training seeds 1..N per data set and prior (default 3)
  --cell I     run cell I only (see --list), then make the report
  --list       print the cells with their index, state and time estimate; run nothing
  --set K=V    one more override of every cell's evae train (eval.* keys: of its evae eval),
               e.g. --set train.epochs=3 to rehearse a profile; part of the cells' settings

Environment: EVAE (default build/evae), EVAE_DATA (folder holding mnist/, cifar10/ and
cifar10-sample/; default data), MNIST_DIR and CIFAR10_DIR (override one data set's folder),
DEVICE (the evae device: smoke and cpu default to cpu, paper to auto), PYTHON (an interpreter
with numpy and matplotlib for the report).
EOF
}

die() {
    echo "table1: error: $*" >&2
    exit 1
}

profile=smoke seeds=3 only_cell="" list=0 out="" extra_train=() extra_eval=()
while [ $# -gt 0 ]; do
    case "$1" in
    --profile) [ $# -ge 2 ] || die "--profile needs a value"; profile=$2; shift 2 ;;
    --seeds) [ $# -ge 2 ] || die "--seeds needs a value"; seeds=$2; shift 2 ;;
    --cell) [ $# -ge 2 ] || die "--cell needs a value"; only_cell=$2; shift 2 ;;
    --list) list=1; shift ;;
    --set)
        if [ $# -lt 2 ] || [[ "$2" != *.*=* ]]; then die "--set needs section.key=value"; fi
        if [[ "$2" == eval.* ]]; then extra_eval+=("$2"); else extra_train+=("$2"); fi
        shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) [ -z "$out" ] || die "one OUT_DIR only (have $out and $1)"; out=$1; shift ;;
    esac
done
[ -n "$out" ] || { usage >&2; exit 2; }
[[ "$seeds" =~ ^[1-9][0-9]*$ ]] || die "--seeds $seeds: need a positive whole number"
[ -z "$only_cell" ] || [[ "$only_cell" =~ ^[0-9]+$ ]] || die "--cell $only_cell: need an index"

EVAE=${EVAE:-$ROOT/build/evae}
EVAE_DATA=${EVAE_DATA:-$ROOT/data}

# ---- the cells: data sets x priors (or prior objectives) x seeds ----
# One line per prior: name | data sets it runs on | overrides of its training. "grbm" is the
# energy prior fitted by the paper's sliced score matching (prior.objective=ssm, the default);
# the other objectives run on MNIST.
PRIORS=(
    "grbm|mnist cifar10|model.prior=grbm"
    "gaussian|mnist cifar10|model.prior=gaussian"
    "grbm-dsm|mnist|model.prior=grbm prior.objective=dsm"
    "grbm-pcd|mnist|model.prior=grbm prior.objective=pcd"
    "grbm-snis|mnist|model.prior=grbm prior.objective=snis"
    "grbm-nce|mnist|model.prior=grbm prior.objective=nce"
)
DATASETS=(mnist cifar10)
declare -A INI=([mnist]=experiments/mnist.ini [cifar10]=experiments/cifar10.ini)

# ---- the profiles ----
# Per data set: its folder and held-out split, the training and evaluation overrides, and the
# time model behind --list and the ETAs (seconds per epoch, per evaluation without log Z, and per
# AIS of an energy prior's log Z), measured as the comments say, on the project's 2-core CPU
# machine, shared with other jobs.

# The official test files when present ("test"), else the last 10,000 training examples
# ("validation").
held_out_of() { # DATASET DIR -> data.validation
    case "$1" in
    mnist) compgen -G "$2/t10k-images-idx3-ubyte*" > /dev/null && echo 0 || echo 10000 ;;
    cifar10) [ -e "$2/test_batch.bin" ] && echo 0 || echo 10000 ;;
    esac
}

# (the per-data-set variables are read through namerefs: local -n x=TRAIN_$ds)
# shellcheck disable=SC2034
case "$profile" in
smoke)
    DEVICE=${DEVICE:-cpu}
    MNIST_DIR=${MNIST_DIR:-$ROOT/data/mnist-10k}
    CIFAR10_DIR=${CIFAR10_DIR:-$ROOT/data/cifar10-mini}
    VALIDATION_mnist=0 VALIDATION_cifar10=0
    TRAIN_mnist=(data.train_limit=2000 train.epochs=2 train.honest_every=1
        train.honest_ais_chains=20 train.honest_ais_temperatures=20 sample.n=16 sample.steps=100)
    TRAIN_cifar10=(data.train_limit=256 train.epochs=2 train.batch=128 train.honest_every=1
        train.honest_ais_chains=20 train.honest_ais_temperatures=20 sample.n=16 sample.steps=50)
    EVAL_mnist=(eval.seed=1 eval.k=10 eval.batch=1000 eval.test_limit=200 eval.ais_chains=50
        eval.ais_temperatures=100 eval.ais_runs=2 eval.classifier_epochs=2
        eval.classifier_hidden=64 eval.classifier_train_limit=1000 eval.langevin_steps=20)
    EVAL_cifar10=(eval.seed=1 eval.k=5 eval.batch=500 eval.test_limit=100 eval.ais_chains=50
        eval.ais_temperatures=100 eval.ais_runs=2 eval.classifier_epochs=2
        eval.classifier_hidden=64 eval.classifier_train_limit=300 eval.langevin_steps=20)
    # measured (2026-12-01, 12 cells in 39 s; 24 with the objectives' cells in 46 s): epochs 0.3-0.5 s (MNIST), 0.9-1.0 s (CIFAR-10);
    # evaluations 0.2-1.3 s, of which AIS 0.3 s; each cell adds about a second of start-up
    EST_EPOCH_mnist=1 EST_EVAL_mnist=2 EST_AIS_mnist=1
    EST_EPOCH_cifar10=1 EST_EVAL_cifar10=2 EST_AIS_cifar10=1
    ;;
cpu)
    DEVICE=${DEVICE:-cpu}
    MNIST_DIR=${MNIST_DIR:-$EVAE_DATA/mnist}
    CIFAR10_DIR=${CIFAR10_DIR:-$EVAE_DATA/cifar10-sample}
    # MNIST: the official 60,000 training digits, the last 10,000 held out; CIFAR-10: the
    # sample's own test images
    VALIDATION_mnist=10000 VALIDATION_cifar10=0
    TRAIN_mnist=(train.epochs=100 sample.steps=100)
    TRAIN_cifar10=(train.epochs=50 train.batch=256 sample.steps=50)
    EVAL_mnist=(eval.seed=1 eval.k=1000 eval.ais_chains=1000 eval.ais_temperatures=3000
        eval.ais_runs=4)
    EVAL_cifar10=(eval.seed=1 eval.k=200 eval.ais_chains=500 eval.ais_temperatures=1000
        eval.ais_runs=4 eval.classifier_epochs=5 eval.langevin_steps=200)
    # MNIST: bench/results/mnist-50k-cpu.md, 5.6-9.4 s per epoch of 50,000, importance sampling
    # 296 s, classifier 227 s, AIS 105 s (CPU s); a rehearsal of this profile (2026-12-01, the
    # machine loaded 8-15 on its 2 cores) took 18.6-33.8 s per epoch and 397 / 316 / 211 CPU s
    # (2,651 s wall). CIFAR-10: bench/results/cifar10-cpu.md, 8-16 s per epoch of 4,000 at batch
    # 256; the rehearsal: 27-39 s per epoch, 73 / 32 / 81 CPU s (258 s wall).
    EST_EPOCH_mnist=8 EST_EVAL_mnist=520 EST_AIS_mnist=110
    EST_EPOCH_cifar10=14 EST_EVAL_cifar10=110 EST_AIS_cifar10=80
    ;;
paper)
    DEVICE=${DEVICE:-auto}
    MNIST_DIR=${MNIST_DIR:-$EVAE_DATA/mnist}
    CIFAR10_DIR=${CIFAR10_DIR:-$EVAE_DATA/cifar10}
    VALIDATION_mnist=$(held_out_of mnist "$MNIST_DIR")
    VALIDATION_cifar10=$(held_out_of cifar10 "$CIFAR10_DIR")
    # the experiment files hold the paper's training (100 epochs; batch 512 / 1,024); the
    # [eval] defaults are the protocol: K = 5,000, AIS 1,000 chains x 10,000 temperatures x 4
    TRAIN_mnist=(sample.steps=100)
    TRAIN_cifar10=(sample.steps=50)
    EVAL_mnist=(eval.seed=1) EVAL_cifar10=(eval.seed=1)
    # not measured on a GPU yet: the cpu profile's CPU seconds scaled by the work, an upper bound.
    # MNIST: epoch 8 x 60/50; IS 296 x 5000/1000, classifier 227 x 60/50; AIS 105 x 10000/3000.
    # CIFAR-10: epoch 14 x 50000/4000; IS 73 x 5000/200 x 10000/1000, classifier 32 x 20/5 x
    # 50000/4000; AIS 81 x 1000/500 x 10000/1000.
    EST_EPOCH_mnist=10 EST_EVAL_mnist=1750 EST_AIS_mnist=350
    EST_EPOCH_cifar10=175 EST_EVAL_cifar10=19850 EST_AIS_cifar10=1620
    ;;
*) die "unknown profile '$profile' (smoke, cpu or paper)" ;;
esac

# ---- the cell list ----
CELL_NAME=() CELL_DATA=() CELL_PRIOR=() CELL_SEED=() CELL_OVERRIDES=()
for ((s = 1; s <= seeds; s++)); do # seed-major: more seeds only append cells
    for ds in "${DATASETS[@]}"; do
        for line in "${PRIORS[@]}"; do
            IFS='|' read -r prior sets overrides <<< "$line"
            [[ " $sets " == *" $ds "* ]] || continue
            CELL_NAME+=("$ds-$prior-seed$s")
            CELL_DATA+=("$ds") CELL_PRIOR+=("$prior") CELL_SEED+=("$s")
            CELL_OVERRIDES+=("$overrides")
        done
    done
done
N=${#CELL_NAME[@]}
[ -z "$only_cell" ] || [ "$only_cell" -lt "$N" ] ||
    die "--cell $only_cell: profile $profile with $seeds seeds has cells 0..$((N - 1))"

data_dir_of() { [ "$1" = mnist ] && echo "$MNIST_DIR" || echo "$CIFAR10_DIR"; }

# The arguments of cell i's `evae train` and `evae eval`, into the arrays TRAIN_ARGS, EVAL_ARGS.
cell_args() {
    local i=$1 ds=${CELL_DATA[$1]}
    local -n train_extra=TRAIN_$ds eval_extra=EVAL_$ds validation=VALIDATION_$ds
    local overrides
    read -r -a overrides <<< "${CELL_OVERRIDES[$i]}"
    TRAIN_ARGS=("$ROOT/${INI[$ds]}" "device=$DEVICE" "data.dir=$(data_dir_of "$ds")"
        "data.validation=$validation" "train.seed=${CELL_SEED[$i]}"
        "run.name=${CELL_NAME[$i]}" "${train_extra[@]}" "${overrides[@]}"
        ${extra_train[@]+"${extra_train[@]}"})
    EVAL_ARGS=("device=$DEVICE" "${eval_extra[@]}" ${extra_eval[@]+"${extra_eval[@]}"})
}

# What a cell was made with, one key per line; a cell folder made otherwise is not reused.
cell_settings() {
    cell_args "$1"
    printf 'profile=%s\nname=%s\ndataset=%s\nprior=%s\nseed=%s\ntrain=%s\neval=%s\n' \
        "$profile" "${CELL_NAME[$1]}" "${CELL_DATA[$1]}" "${CELL_PRIOR[$1]}" "${CELL_SEED[$1]}" \
        "${TRAIN_ARGS[*]}" "${EVAL_ARGS[*]}"
}

cell_dir() { echo "$out/cells/${CELL_NAME[$1]}"; }

TOOLS=$ROOT/experiments/table1
# Python for the cell checks (standard library) and for the report (numpy, matplotlib)
PY=$("$TOOLS/python.sh" stdlib) || die "no python3 (3.8 or newer) found"
PY_PLOT=$("$TOOLS/python.sh" plot) || PY_PLOT=""

# "finished", "trained", "epoch E/N", "settings differ" or "new"
cell_state() {
    local dir
    dir=$(cell_dir "$1")
    [ -d "$dir" ] || { echo new; return; }
    if [ -f "$dir/cell.args" ] && ! cmp -s "$dir/cell.args" <(cell_settings "$1"); then
        echo "settings differ"
        return
    fi
    cell_args "$1"
    $PY "$TOOLS/cell_state.py" "$dir" "$(cell_epochs "$1")" "${EVAL_ARGS[@]}"
}

# Seconds the time model gives cell i in state $2 (default new): the epochs still to train, its
# evaluation with the AIS of an energy prior; 0 when finished.
cell_estimate() {
    local ds=${CELL_DATA[$1]} state=${2:-new} epochs done=0
    local -n e_epoch=EST_EPOCH_$ds e_eval=EST_EVAL_$ds e_ais=EST_AIS_$ds
    epochs=$(cell_epochs "$1")
    [[ "$state" =~ ^epoch\ ([0-9]+)/ ]] && done=${BASH_REMATCH[1]}
    [ "$state" = trained ] && done=$epochs
    local t=$(((epochs - done) * e_epoch + e_eval))
    [ "${CELL_PRIOR[$1]}" = gaussian ] || t=$((t + e_ais))
    [ "$state" = finished ] && t=0
    echo "$t"
}

# train.epochs of cell i: the last override of it, else the experiment file's
cell_epochs() {
    cell_args "$1"
    local e a
    e=$(sed -n 's/^epochs *= *\([0-9]*\).*/\1/p' "${TRAIN_ARGS[0]}" | head -1)
    for a in "${TRAIN_ARGS[@]:1}"; do [[ "$a" == train.epochs=* ]] && e=${a#train.epochs=}; done
    echo "${e:-100}"
}

human() { # seconds -> 1h02m / 3m05s / 12s
    local s=${1%.*}
    if [ "$s" -ge 3600 ]; then printf '%dh%02dm' $((s / 3600)) $((s % 3600 / 60))
    elif [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60))
    else printf '%ds' "$s"; fi
}

# ---- --list ----
if [ "$list" = 1 ]; then
    echo "profile $profile, $seeds seed(s), $N cells, device $DEVICE, evae $EVAE"
    for ds in "${DATASETS[@]}"; do
        d=$(data_dir_of "$ds")
        v=VALIDATION_$ds
        held="the test files"
        [ "${!v}" = 0 ] || held="the last ${!v} training examples (validation)"
        [ -d "$d" ] || held="$held; FOLDER MISSING"
        echo "  $ds: $d, held out: $held"
    done
    total=0 left=0
    printf '%5s  %-28s %-18s %-10s %s\n' index cell state estimate left
    for ((i = 0; i < N; i++)); do
        st=$(cell_state "$i")
        est=$(cell_estimate "$i")
        rem=$(cell_estimate "$i" "$st")
        total=$((total + est)) left=$((left + rem))
        printf '%5d  %-28s %-18s %-10s %s\n' "$i" "${CELL_NAME[$i]}" "$st" "$(human "$est")" \
            "$(human "$rem")"
    done
    echo "estimate: $(human "$total") in all, $(human "$left") for the cells not finished"
    echo "  (per epoch / evaluation / AIS: MNIST ${EST_EPOCH_mnist} s / ${EST_EVAL_mnist} s /" \
        "${EST_AIS_mnist} s, CIFAR-10 ${EST_EPOCH_cifar10} s / ${EST_EVAL_cifar10} s /" \
        "${EST_AIS_cifar10} s: the time model in experiments/table1.sh)"
    exit 0
fi

# ---- running ----
[ -x "$EVAE" ] || die "$EVAE: no evae program (build it: scripts/build.sh, or set EVAE)"
[ -n "$PY_PLOT" ] || die "no Python with numpy and matplotlib for the report (Debian:" \
    "python3-numpy python3-matplotlib, which scripts/install_deps.sh installs; or set PYTHON)"
for ds in "${DATASETS[@]}"; do
    d=$(data_dir_of "$ds")
    [ -d "$d" ] || die "$d: no $ds data folder (set EVAE_DATA, or MNIST_DIR / CIFAR10_DIR)"
done
mkdir -p "$out/cells"

# the cell list for the report, which says which cells are missing
{
    printf 'index\tname\tdataset\tprior\tseed\n'
    for ((i = 0; i < N; i++)); do
        printf '%d\t%s\t%s\t%s\t%s\n' "$i" "${CELL_NAME[$i]}" "${CELL_DATA[$i]}" \
            "${CELL_PRIOR[$i]}" "${CELL_SEED[$i]}"
    done
} > "$out/cells.tsv.$$"
printf 'profile=%s\nseeds=%s\n' "$profile" "$seeds" > "$out/profile.txt.$$"
mv "$out/cells.tsv.$$" "$out/cells.tsv"
mv "$out/profile.txt.$$" "$out/profile.txt"

# Prefixes every line of a cell's output; after each epoch line, the cell's ETA and the overall
# one: the epochs left at this cell's mean epoch time, plus the evaluation and the cells after
# it from the time model, scaled by this cell's measured epoch time over the model's.
progress() { # TAG EST_EPOCH EST_EVAL REST_SECONDS (bash, not awk: mawk buffers its input)
    local tag=$1 est_epoch=$2 est_eval=$3 rest=$4 line sum=0 seen=0 t e n mean cell
    while IFS= read -r line; do
        if [[ "$line" =~ ^epoch\ ([0-9]+)/([0-9]+)\ .*\ ([0-9]+)\.([0-9]{2})s$ ]]; then
            e=${BASH_REMATCH[1]} n=${BASH_REMATCH[2]}
            t=$((10#${BASH_REMATCH[3]} * 100 + 10#${BASH_REMATCH[4]})) # centiseconds
            sum=$((sum + t)) seen=$((seen + 1))
            mean=$((sum / seen))
            # seconds: the epochs left at the mean, the rest scaled by mean / est_epoch
            cell=$(((n - e) * mean / 100 + est_eval * mean / (100 * est_epoch)))
            echo "$tag $line  [cell ETA $(human "$cell"), all ETA" \
                "$(human $((cell + rest * mean / (100 * est_epoch))))]"
        else
            echo "$tag $line"
        fi
    done
}

# the cells of this invocation, their states and what the time model gives each for what it
# has left (the overall ETA adds those after the running cell)
todo=()
if [ -n "$only_cell" ]; then todo=("$only_cell"); else for ((i = 0; i < N; i++)); do todo+=("$i"); done; fi
declare -A state est
for i in "${todo[@]}"; do
    state[$i]=$(cell_state "$i")
    est[$i]=$(cell_estimate "$i" "${state[$i]}")
done

failed=()
t_start=$(date +%s)
for k in "${!todo[@]}"; do
    i=${todo[$k]}
    name=${CELL_NAME[$i]} dir=$(cell_dir "$i") tag="[cell $i/$N ${CELL_NAME[$i]}]"
    rest=0
    for j in "${todo[@]:$((k + 1))}"; do rest=$((rest + est[$j])); done
    case "${state[$i]}" in
    finished) echo "$tag finished: skipped"; continue ;;
    "settings differ")
        echo "table1: error: $dir was made with other settings (see its cell.args): use another" \
            "OUT_DIR, or remove the folder to run the cell again" >&2
        failed+=("$name")
        continue ;;
    esac
    ds=${CELL_DATA[$i]}
    ev=EST_EVAL_$ds ep=EST_EPOCH_$ds ais=EST_AIS_$ds
    eval_est=${!ev}
    [ "${CELL_PRIOR[$i]}" = gaussian ] || eval_est=$((eval_est + ${!ais}))
    mkdir -p "$dir"
    cell_settings "$i" > "$dir/cell.args.$$" && mv "$dir/cell.args.$$" "$dir/cell.args"
    cell_args "$i"
    echo "$tag $(date '+%H:%M:%S') start (state: ${state[$i]}; estimate $(human "${est[$i]}")," \
        "then $(human "$rest") for the cells after it)"
    rc=0
    if [ "${state[$i]}" != trained ]; then
        if [ -f "$dir/checkpoint.safetensors" ]; then
            "$EVAE" train --resume "$dir" "train.epochs=$(cell_epochs "$i")" 2>&1 |
                tee -a "$dir/train.log" |
                progress "$tag" "${!ep}" "$eval_est" "$rest" || rc=$?
        else # nothing saved yet: a fresh start (the metrics of a run cut off before its
            # first checkpoint describe nothing that is kept)
            rm -f "$dir/metrics.jsonl"
            "$EVAE" train "${TRAIN_ARGS[@]}" "run.dir=$dir" 2>&1 | tee -a "$dir/train.log" |
                progress "$tag" "${!ep}" "$eval_est" "$rest" || rc=$?
        fi
    fi
    if [ "$rc" = 0 ]; then
        echo "$tag $(date '+%H:%M:%S') evaluating (estimate $(human "$eval_est"))"
        # the table goes to eval.log; the stages' progress (stderr) to the terminal as well
        # shellcheck disable=SC2094 # both append to eval.log, neither reads it
        { "$EVAE" eval "$dir" "${EVAL_ARGS[@]}" 2>&1 1>> "$dir/eval.log" |
            tee -a "$dir/eval.log" | progress "$tag" 1 0 0; } || rc=$?
    fi
    if [ "$rc" != 0 ]; then
        echo "table1: error: cell $i ($name) failed (exit $rc); its logs: $dir/train.log," \
            "$dir/eval.log" >&2
        failed+=("$name")
        continue
    fi
    echo "$tag $(date '+%H:%M:%S') done: $($PY "$TOOLS/cell_state.py" --summary "$dir")"
done

echo "table1: $(( $(date +%s) - t_start )) s; report from the finished cells"
$PY_PLOT "$TOOLS/report.py" "$out" || die "the report failed"
[ ${#failed[@]} -eq 0 ] || die "${#failed[@]} cell(s) failed: ${failed[*]}"
