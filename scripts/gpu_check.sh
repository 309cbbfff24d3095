#!/usr/bin/env bash
# shellcheck disable=SC2317  # the step functions are called through run_step
# What a GPU machine should check, in one command that fits an 8-minute window:
#   scripts/gpu_check.sh [--bundle DIR] [--budget SECONDS] [--cpu-tests] OUT_DIR
# --bundle DIR (or EVAE_BUNDLE=DIR): the headers and libraries of scripts/gpu_bundle.sh, for a
#   machine without evae's Debian -dev packages: DIR/usr goes to CMAKE_PREFIX_PATH, its library
#   folder to LD_LIBRARY_PATH.
# cuDNN: CUDNN_ROOT when set, else the CUDA toolkit's or the system's, else the nvidia-cudnn wheel
#   that $PYTHON (default python3) imports (site-packages/nvidia/cudnn, libcudnn.so.9 only).
# --budget SECONDS (default 470): the whole script's wall time. Each step runs under `timeout`,
#   limited to its own share and to what is left; a step that would start with too little left
#   is skipped. Steps, most valuable first:
#     preflight      card, driver, toolchain, glibc against the bundle, cuDNN's folder
#     configure      Release, CUDA for this card's architecture (CUDA_ARCH; default from
#                    nvidia-smi), into build-gpu/
#     build          all cores
#     cpu-tests      only with --cpu-tests (a rehearsal on a machine without a GPU)
#     gpu-tests      ctest -L gpu; a test that reports "skipped" here fails
#     memcheck,      compute-sanitizer on each GPU test, limited to evae's own kernels (their
#     racecheck      names read from the built library); "unavailable" where the runtime refuses
#                    the device (gVisor)
#     train          2 epochs of MNIST on the GPU and on the CPU, compared step by step
#     nccl           the GPU run again with EVAE_COMM=nccl (one rank): the same tensors, bit for bit
#     eval           evae eval with small settings on the GPU run's checkpoint, both backends
#     bench-kernels  every op at the paper's sizes and 16x the batch
#     bench-epoch    scripts/bench_all.sh QUICK=1: epochs beside PyTorch eager and compiled
# OUT_DIR gets two files, both rewritten after every step (so a run stopped at any point still
# returns them): report.md and gpu_check_logs.tar.gz (every log, the run folders without their
# checkpoints, the benchmark results). Exits 1 when a step failed or timed out.
set -u

usage() {
    echo "usage: scripts/gpu_check.sh [--bundle DIR] [--budget SECONDS] [--cpu-tests] OUT_DIR" >&2
    exit 2
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SELF="$ROOT/scripts/gpu_check.sh"

# ---- a step run in its own process: gpu_check.sh --run-step NAME (environment from below) ----
if [ "${1:-}" = "--run-step" ]; then
    STEP_MODE=1
    STEP=$2
else
    STEP_MODE=0
    BUNDLE=${EVAE_BUNDLE:-}
    BUDGET=${GPU_CHECK_BUDGET_S:-470}
    CPU_TESTS=0
    OUT_ARG=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --bundle) [ $# -ge 2 ] || usage; BUNDLE=$2; shift 2 ;;
            --budget) [ $# -ge 2 ] || usage; BUDGET=$2; shift 2 ;;
            --cpu-tests) CPU_TESTS=1; shift ;;
            -h | --help) usage ;;
            -*) usage ;;
            *) [ -z "$OUT_ARG" ] || usage; OUT_ARG=$1; shift ;;
        esac
    done
    [ -n "$OUT_ARG" ] || usage
    [[ "$BUDGET" =~ ^[0-9]+$ ]] || usage
    mkdir -p "$OUT_ARG" || exit 2
    OUT=$(cd "$OUT_ARG" && pwd)
    cd "$ROOT" || exit 2
    BUILD=build-gpu
    WORK="$ROOT/$BUILD/gpu_check" # logs and run folders; archived into OUT after every step
    rm -rf "$WORK"
    mkdir -p "$WORK/logs"
    JOBS=$(nproc 2>/dev/null || echo 4)
    PYTHON=${PYTHON:-python3}
    TRIPLET=x86_64-linux-gnu

    NVCC=$(command -v nvcc || true)
    [ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
    CUDA_HOME=""
    [ -n "$NVCC" ] && CUDA_HOME=$(cd "$(dirname "$NVCC")/.." && pwd)
    SANITIZER=$(command -v compute-sanitizer || true)
    if [ -z "$SANITIZER" ] && [ -n "$CUDA_HOME" ] && [ -x "$CUDA_HOME/bin/compute-sanitizer" ]; then
        SANITIZER="$CUDA_HOME/bin/compute-sanitizer"
    fi

    # the bundle: headers and libraries for configure, libraries for every program run here
    BUNDLE_LIB=""
    if [ -n "$BUNDLE" ]; then
        BUNDLE=$(cd "$BUNDLE" 2>/dev/null && pwd) || { echo "gpu_check: no bundle folder ${BUNDLE}" >&2; exit 2; }
        BUNDLE_LIB="$BUNDLE/usr/lib/$TRIPLET"
        export LD_LIBRARY_PATH="$BUNDLE_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi

    # cuDNN: CUDNN_ROOT, else the toolkit or the system (nothing to do), else the wheel
    CUDNN_FROM="CUDNN_ROOT"
    if [ -z "${CUDNN_ROOT:-}" ]; then
        CUDNN_FROM=""
        for d in ${CUDA_HOME:+"$CUDA_HOME/include"} /usr/include "/usr/include/$TRIPLET"; do
            if [ -f "$d/cudnn.h" ]; then CUDNN_FROM="$d/cudnn.h (toolkit or system)"; break; fi
        done
        if [ -z "$CUDNN_FROM" ]; then
            wheel=$("$PYTHON" -c 'import nvidia.cudnn as c; print(list(c.__path__)[0])' 2>/dev/null || true)
            if [ -n "$wheel" ] && [ -f "$wheel/include/cudnn.h" ]; then
                export CUDNN_ROOT=$wheel
                CUDNN_FROM="the nvidia-cudnn wheel of $PYTHON"
            fi
        fi
    fi
    if [ -n "${CUDNN_ROOT:-}" ]; then
        export LD_LIBRARY_PATH="$CUDNN_ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
    # NCCL the same way: NCCL_ROOT, else the toolkit or the system, else the nvidia-nccl wheel
    NCCL_FROM="NCCL_ROOT"
    if [ -z "${NCCL_ROOT:-}" ]; then
        NCCL_FROM=""
        for d in ${CUDA_HOME:+"$CUDA_HOME/include"} /usr/include "/usr/include/$TRIPLET"; do
            if [ -f "$d/nccl.h" ]; then NCCL_FROM="$d/nccl.h (toolkit or system)"; break; fi
        done
        if [ -z "$NCCL_FROM" ]; then
            wheel=$("$PYTHON" -c 'import nvidia.nccl as c; print(list(c.__path__)[0])' 2>/dev/null || true)
            if [ -n "$wheel" ] && [ -f "$wheel/include/nccl.h" ]; then
                export NCCL_ROOT=$wheel
                NCCL_FROM="the nvidia-nccl wheel of $PYTHON"
            fi
        fi
    fi
    if [ -n "${NCCL_ROOT:-}" ]; then
        export LD_LIBRARY_PATH="$NCCL_ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi

    # the card's architecture (9.0 -> 90); 90, the H100/H200, where nvidia-smi cannot tell
    if [ -z "${CUDA_ARCH:-}" ]; then
        CUDA_ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null |
            head -n 1 | tr -d ' .')
        [[ "$CUDA_ARCH" =~ ^[0-9]+$ ]] || CUDA_ARCH=90
    fi
    export ROOT BUILD WORK JOBS PYTHON TRIPLET NVCC CUDA_HOME SANITIZER BUNDLE BUNDLE_LIB
    export CUDNN_FROM NCCL_FROM CUDA_ARCH
fi
cd "$ROOT" || exit 2
LOGS="$WORK/logs"

# ---- the steps: each runs with its output in logs/NAME.log; exit 3 = unavailable here ----

# the MNIST settings of the train and eval steps: small enough for seconds on either backend
TRAIN_ARGS=(experiments/mnist.ini train.epochs=2 train.log_every=1)
EVAL_ARGS=(eval.k=100 eval.test_limit=200 eval.ais_chains=100 eval.ais_temperatures=300
           eval.ais_runs=4 eval.classifier_epochs=1 eval.classifier_train_limit=2000
           eval.langevin_steps=50)

step_preflight() {
    local rc=0
    nvidia-smi || { echo "nvidia-smi failed: no usable NVIDIA driver or device"; rc=1; }
    nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version,clocks.max.sm \
        --format=csv 2>/dev/null
    echo "CUDA architecture: $CUDA_ARCH"
    if [ -n "$NVCC" ]; then "$NVCC" --version | tail -n 2; else echo "nvcc not found"; rc=1; fi
    cmake --version | head -n 1 || rc=1
    command -v ninja >/dev/null && echo "ninja $(ninja --version)"
    "${CC:-cc}" --version | head -n 1 || rc=1
    echo "compute-sanitizer: ${SANITIZER:-not found}"
    [ -n "$SANITIZER" ] && "$SANITIZER" --version | tail -n 1
    "$PYTHON" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__,
"cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -n 1
    echo "cuDNN: ${CUDNN_FROM:-not found}${CUDNN_ROOT:+ ($CUDNN_ROOT)}"
    echo "NCCL: ${NCCL_FROM:-not found}${NCCL_ROOT:+ ($NCCL_ROOT)}"
    [ -n "$CUDNN_FROM" ] || rc=1
    local have need
    have=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
    echo "glibc $have"
    if [ -n "$BUNDLE" ]; then
        sed 's/^/bundle: /' "$BUNDLE/BUNDLE.txt"
        need=$(sed -n 's/.*needs glibc >= \([0-9.]*\).*/\1/p' "$BUNDLE/BUNDLE.txt")
        if [ -z "$need" ] || [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n 1)" != "$need" ]; then
            echo "the bundle needs glibc >= ${need:-?}; this machine has $have"
            rc=1
        fi
        for f in "$BUNDLE/usr/include/$TRIPLET/cblas.h" "$BUNDLE/usr/include/zlib.h" \
            "$BUNDLE_LIB/libopenblas.so.0" "$BUNDLE_LIB/libgfortran.so.5"; do
            [ -e "$f" ] || { echo "bundle: $f missing"; rc=1; }
        done
    fi
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    return "$rc"
}

step_configure() {
    [ -n "$NVCC" ] || { echo "nvcc not found (PATH or /usr/local/cuda/bin)"; return 1; }
    local gen=() out rc
    command -v ninja >/dev/null && gen=(-G Ninja)
    out=$(cmake -S . -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DEVAE_WITH_CUDA=ON \
        -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" \
        ${BUNDLE:+-DCMAKE_PREFIX_PATH="$BUNDLE/usr"} ${CUDNN_ROOT:+-DCUDNN_ROOT="$CUDNN_ROOT"} \
        ${NCCL_ROOT:+-DNCCL_ROOT="$NCCL_ROOT"} 2>&1)
    rc=$?
    echo "$out"
    [ "$rc" -eq 0 ] || return "$rc"
    echo "$out" | grep -q "evae: CUDA backend ON" || { echo "CMake did not enable the CUDA backend"; return 1; }
    # the libraries CMake chose, to show that the bundle and the wanted cuDNN were used
    grep -E "^(OPENBLAS_LIB|CBLAS_INCLUDE|ZLIB_LIBRARY_RELEASE|STB_LIB|INIH_LIB|CJSON_LIB|CUDNN_LIB|CUDNN_INCLUDE|NCCL_LIB|NCCL_INCLUDE):" \
        "$BUILD/CMakeCache.txt"
}

step_build() { cmake --build "$BUILD" -j "$JOBS"; }

step_cpu_tests() { ctest --test-dir "$BUILD" -L cpu -j "$JOBS" --output-on-failure; }

step_gpu_tests() {
    local log="$LOGS/gpu-tests.ctest" rc
    ctest --test-dir "$BUILD" -L gpu -j 4 --output-on-failure -V > "$log" 2>&1
    rc=$?
    cat "$log"
    if grep -q "(Skipped)\|\*\*\*Skipped\|Not Run" "$log"; then
        echo "a GPU test was skipped or not run on a machine that should run it"
        rc=1
    fi
    return "$rc"
}

# The kernel filter of compute-sanitizer: one --kernel-name kns=<length><name> per __global__
# function in kernels/, a substring of its mangled name whatever its linkage, namespace or
# template arguments, so cuBLAS's, cuRAND's and cuDNN's kernels run unchecked. Each pattern
# must occur among the built library's symbols (the host side of a kernel carries its mangled
# name), else the filter would check nothing.
kernel_filter() {
    local lib="$BUILD/libevae_cuda.a" syms name
    syms=$(nm "$lib" 2>/dev/null) || { echo "cannot read $lib" >&2; return 1; }
    grep -h "__global__" kernels/*.cu kernels/*.cuh |
        sed -nE 's/^.*__global__[^(]*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*$/\1/p' |
        sort -u | while read -r name; do
            if ! grep -q "${#name}$name" <<<"$syms"; then
                echo "kernel $name: no symbol ${#name}$name in $lib" >&2
                return 1
            fi
            printf -- '--kernel-name\nkns=%s\n' "${#name}$name"
        done
}

# sanitize TOOL: the GPU tests under compute-sanitizer TOOL, side by side; EVAE_SANITIZER_RUN=1
# lets a test use smaller sizes and skip statistical runs that repeat kernels it has exercised
sanitize() {
    local tool=$1 rc=0 filter pids=() t
    [ -n "$SANITIZER" ] || { echo "compute-sanitizer not found"; return 1; }
    if [ -f "$WORK/sanitizer-unavailable" ]; then
        cat "$WORK/sanitizer-unavailable"
        return 3
    fi
    local list
    list=$(kernel_filter) || return 1
    mapfile -t filter <<<"$list"
    [ ${#filter[@]} -gt 1 ] || { echo "no kernels found in kernels/"; return 1; }
    echo "checking $(( ${#filter[@]} / 2 )) kernels: $(printf '%s\n' "${filter[@]}" | sed -n 's/^kns=//p' | tr '\n' ' ')"
    local tests=()
    for src in tests/gpu/test_*.c; do tests+=("$(basename "$src" .c)"); done
    local port=49152 # side by side, each its own connection ports
    for t in "${tests[@]}"; do
        [ -x "$BUILD/$t" ] || { echo "$BUILD/$t was not built"; rc=1; continue; }
        EVAE_SANITIZER_RUN=1 EVAE_BIN="$ROOT/$BUILD/evae" OPENBLAS_NUM_THREADS=2 \
            "$SANITIZER" --tool "$tool" --error-exitcode 1 --port "$port" \
            "${filter[@]}" "$BUILD/$t" > "$LOGS/$tool-$t.log" 2>&1 &
        pids+=("$!:$t")
        port=$((port + 100))
    done
    for p in "${pids[@]}"; do
        wait "${p%%:*}" || rc=1
        t=${p#*:}
        echo "---- $tool: $t"
        grep -E "ERROR SUMMARY|RACECHECK SUMMARY|checks, [0-9]+ failed|skipped|Device not supported|Error|error" \
            "$LOGS/$tool-$t.log" | head -n 20
    done
    if grep -l "Device not supported" "$LOGS/$tool"-*.log >/dev/null 2>&1; then
        echo "compute-sanitizer refused the device (a gVisor runtime): no sanitizer on this machine" |
            tee "$WORK/sanitizer-unavailable"
        return 3
    fi
    return "$rc"
}
step_memcheck() { sanitize memcheck; }
step_racecheck() { sanitize racecheck; }

# compare train|eval WORK: the GPU run against the CPU run, with the CPU-vs-CPU drift (another
# OpenBLAS kernel set) beside it; writes WORK/KIND_compare.md, exit 1 when a value is off
compare() {
    "$PYTHON" - "$@" <<'PY'
import json, math, re, statistics, sys

kind, work = sys.argv[1], sys.argv[2]
rows, bad = [], 0

def line(name, gpu, cpu, cpu_b, sigma, what):
    global bad
    tol = 4 * sigma
    d = abs(gpu - cpu)
    ok = d <= tol and d == d
    bad += not ok
    rows.append(f"| {name} | {gpu:.6g} | {cpu:.6g} | {d:.3g} | {abs(cpu_b - cpu):.3g} | {tol:.3g} ({what}) | {'ok' if ok else '**OFF**'} |")

if kind == "train":
    # per step: batch_alb and batch_ssm; per epoch: train_alb and test_alb. sigma is the
    # statistical noise of each value, measured on the CPU run: the batch-to-batch sd of a
    # batch value (robust, from second differences, which cancel the learning trend), and for
    # an epoch mean of N examples that sd scaled by sqrt(B / N)
    def load(name):
        return [json.loads(l) for l in open(f"{work}/{name}/metrics.jsonl") if l.strip()]
    g, c, b = load("train-cuda"), load("train-cpu"), load("train-cpu-b")
    section = batch = None  # train.batch from the run's resolved config.ini
    for l in open(f"{work}/train-cpu/config.ini"):
        l = l.split(";")[0].strip()
        if l.startswith("["):
            section = l.strip("[]")
        elif section == "train" and l.replace(" ", "").startswith("batch="):
            batch = int(l.split("=")[1])
    for key in ("batch_alb", "batch_ssm"):
        cs = [r[key] for r in c if key in r]
        gs = [r[key] for r in g if key in r]
        bs = [r[key] for r in b if key in r]
        if len(gs) != len(cs) or len(bs) != len(cs) or len(cs) < 3:
            print(f"{key}: {len(gs)} GPU steps, {len(cs)} and {len(bs)} CPU steps")
            sys.exit(1)
        d2 = [abs(cs[i + 1] - 2 * cs[i] + cs[i - 1]) for i in range(1, len(cs) - 1)]
        sd = statistics.median(d2) / 0.6745 / math.sqrt(6)
        if key == "batch_alb":
            sd_alb = sd
        # every step is checked; the table shows the first, the last and the farthest off
        off = [i for i in range(len(cs)) if not abs(gs[i] - cs[i]) <= 4 * sd]
        worst = max(range(len(cs)), key=lambda i: abs(gs[i] - cs[i]) if gs[i] == gs[i] else math.inf)
        for i in sorted({0, len(cs) - 1, worst}):
            line(f"{key}, step {i + 1} of {len(cs)}", gs[i], cs[i], bs[i], sd, "4 x batch sd")
        bad += len([i for i in off if i not in (0, len(cs) - 1, worst)])
    ge = [r for r in g if "train_alb" in r]
    ce = [r for r in c if "train_alb" in r]
    be = [r for r in b if "train_alb" in r]
    m = re.search(r": (\d+) \w+ examples, (\d+) ", open(f"{work}/train-cpu.out").read())
    n_train, n_test = int(m.group(1)), int(m.group(2))
    if len(ge) != len(ce):
        print(f"{len(ge)} GPU epochs, {len(ce)} CPU epochs"); sys.exit(1)
    for e, (x, y, z) in enumerate(zip(ge, ce, be)):
        line(f"train_alb, epoch {e + 1}", x["train_alb"], y["train_alb"], z["train_alb"],
             sd_alb * math.sqrt(batch / n_train), f"4 sd of a {n_train}-example mean")
        key = "test_alb" if "test_alb" in y else "validation_alb"
        line(f"{key}, epoch {e + 1}", x[key], y[key], z[key], sd_alb * math.sqrt(batch / n_test),
             f"4 sd of a {n_test}-example mean")
else:
    # evae eval on one checkpoint: the importance samples and the classifier's data and noise
    # are the same draws on both backends, so the difference is rounding, except where AIS's
    # chains (or the classifier's SGD) took another path after rounding flipped a draw. The
    # scale is each estimate's own Monte Carlo error: AIS's reported SE for log Z; for the IS
    # estimates the delta-method SE of ln mean exp over K samples, sqrt(1/ESS - 1/K) per example
    # (bounded with the smallest ESS), over n examples; for the classifier its KL term's SE
    g, c, b = (json.load(open(f"{work}/eval-{n}.json")) for n in ("cuda", "cpu", "cpu-b"))
    def is_mc(e):
        k, n = e["settings"]["k"], e["test_set"]["examples"]
        ess_min = max(e["diagnostics"]["is_ess_fraction_min"] * k, 1.0)
        return math.sqrt(max(1.0 / ess_min - 1.0 / k, 0.0) / n)
    lz = math.hypot(g["log_z"]["std_err"], c["log_z"]["std_err"])
    mc = math.hypot(is_mc(g), is_mc(c))
    kl = math.hypot(g["diagnostics"]["kl_classifier_std_err"], c["diagnostics"]["kl_classifier_std_err"])
    def floor(v):  # 16 float32 ulps: where every scale above is 0 (an exact log Z)
        return 16 * 2.0 ** -23 * abs(v) / 4
    line("log Z (AIS)", g["log_z"]["value"], c["log_z"]["value"], b["log_z"]["value"],
         max(lz, floor(c["log_z"]["value"])), "4 x AIS SE")
    for name, ge in g["estimates"].items():
        ce, be = c["estimates"][name], b["estimates"][name]
        if name == "neg_vlb_classifier":
            sigma, what = kl, "4 x the classifier KL's SE"
        elif name in ("nll_importance_sampling", "neg_elbo"):
            sigma, what = math.hypot(lz, mc), "4 x AIS and IS Monte Carlo SE"
        else:
            sigma, what = mc, "4 x IS Monte Carlo SE"
        line(name, ge["value"], ce["value"], be["value"], max(sigma, floor(ce["value"])), what)

with open(f"{work}/{kind}_compare.md", "w") as f:
    f.write("| value | GPU | CPU | GPU - CPU | CPU - CPU (other kernels) | tolerance | |\n")
    f.write("|---|---|---|---|---|---|---|\n")
    f.write("\n".join(rows) + "\n")
    if bad:
        f.write(f"\n**{bad} values off.**\n")
print(open(f"{work}/{kind}_compare.md").read())
sys.exit(1 if bad else 0)
PY
}

# the second CPU run uses another OpenBLAS kernel set than the first (read from its manifest):
# the two CPU runs differ by rounding alone, which shows how far a correct backend drifts
other_coretype() {
    if grep -q '"openblas".*Prescott' "$1/manifest.json" 2>/dev/null; then echo HASWELL; else echo PRESCOTT; fi
}

# train_run NAME DEVICE [ENV...]: one training run into WORK/NAME, its output in WORK/NAME.out
train_run() {
    local name=$1 dev=$2
    shift 2
    env OPENBLAS_NUM_THREADS="$JOBS" "$@" "./$BUILD/evae" train "${TRAIN_ARGS[@]}" device="$dev" \
        run.dir="$WORK/$name" 2>&1 | tee "$WORK/$name.out"
    return "${PIPESTATUS[0]}"
}

step_train() {
    rm -rf "$WORK"/train-*
    train_run train-cuda cuda || return 1
    train_run train-cpu cpu || return 1
    train_run train-cpu-b cpu OPENBLAS_CORETYPE="$(other_coretype "$WORK/train-cpu")" || return 1
    compare train "$WORK"
}

# The NCCL path with one rank (EVAE_COMM=nccl: the gradients go through ncclAllReduce on the
# backend's stream): the run of step train on the GPU again, whose checkpoint it must reproduce
# bit for bit (a one-rank sum is the value itself), its manifest naming NCCL.
step_nccl() {
    local run="$WORK/train-cuda"
    [ -f "$run/checkpoint.safetensors" ] || { echo "no GPU-trained checkpoint ($run)"; return 1; }
    rm -rf "$WORK/train-nccl"
    train_run train-nccl cuda EVAE_COMM=nccl || return 1
    grep -q '"communicator":[[:space:]]*"nccl"' "$WORK/train-nccl/manifest.json" ||
        { echo "the manifest does not name the nccl communicator"; return 1; }
    grep -E '"(communicator|communication|world_size)"' "$WORK/train-nccl/manifest.json"
    # every tensor, byte for byte (the metadata differ: the run folder is part of the config)
    "$PYTHON" - "$run/checkpoint.safetensors" "$WORK/train-nccl/checkpoint.safetensors" <<'PY'
import json, struct, sys
def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]]
            for k, v in head.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
bad = sorted(k for k in a if a[k] != b.get(k)) + sorted(set(b) - set(a))
print(f"NCCL, one rank: {len(a) - len(bad)} of {len(a)} tensors equal the run without it, "
      f"bit for bit" + (f"; differing: {', '.join(bad)}" if bad else ""))
sys.exit(1 if bad else 0)
PY
}

step_eval() {
    local run="$WORK/train-cuda" dev
    [ -f "$run/checkpoint.safetensors" ] || { echo "no GPU-trained checkpoint ($run)"; return 1; }
    for dev in cuda cpu cpu-b; do
        local env=(OPENBLAS_NUM_THREADS="$JOBS")
        [ "$dev" = cpu-b ] && env+=(OPENBLAS_CORETYPE="$(other_coretype "$WORK/train-cpu")")
        echo "---- evae eval on $dev"
        env "${env[@]}" "./$BUILD/evae" eval "$run" device="${dev%-b}" "${EVAL_ARGS[@]}" || return 1
        cp "$run/eval.json" "$WORK/eval-$dev.json"
        cp "$run/eval.md" "$WORK/eval-$dev.md"
    done
    compare eval "$WORK"
}

step_bench_kernels() {
    mkdir -p "$WORK/bench"
    "./$BUILD/bench_kernels" --device cuda --sizes paper,fill --budget 0.05 \
        --json "$WORK/bench/kernels_cuda.json" --md "$WORK/bench/kernels_cuda.md"
}

# the epochs of evae and of the PyTorch model, eager and compiled, and the step match; QUICK=1:
# 10,240 MNIST and 2,048 CIFAR-10 examples per epoch (about 4 minutes at full size)
step_bench_epoch() {
    QUICK=1 BUILD_DIR="$BUILD" DEVICE=cuda PYTHON="$PYTHON" bash scripts/bench_all.sh "$WORK/bench-all"
}

if [ "$STEP_MODE" = 1 ]; then
    "step_${STEP//-/_}"
    exit $?
fi

# ---- the driver: budgets, timeouts, report after every step ----

START=$(date +%s)
DEADLINE=$((START + BUDGET))
RESERVE=10 # seconds kept for the last report and archive
STEP_NAMES=()
STEP_RESULTS=()
STEP_TIMES=()
STEP_LIMITS=()
FAILED=0

smi() {
    local v
    v=$(nvidia-smi --query-gpu="$1" --format=csv,noheader 2>/dev/null | head -n 1)
    echo "${v:-unknown}"
}

section() { # section TITLE FILE [head-lines]: a file's content as a report section, if it exists
    [ -s "$2" ] || return 0
    echo "## $1"
    echo
    if [ -n "${3:-}" ]; then head -n "$3" "$2"; else cat "$2"; fi
    echo
}

write_report() {
    local tmp="$OUT/.report.md.tmp"
    {
        echo "# GPU check $(date -u -d "@$START" '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (with local changes)')"
        echo "- card: $(smi name), $(smi memory.total), compute capability $(smi compute_cap); built for $CUDA_ARCH"
        echo "- driver: $(smi driver_version); CUDA toolkit: $([ -n "$NVCC" ] && "$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p' || echo none)"
        echo "- host: $(uname -srm), $JOBS cores, $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), glibc $(getconf GNU_LIBC_VERSION | awk '{print $2}')"
        echo "- bundle: ${BUNDLE:-none}; cuDNN: ${CUDNN_FROM:-not found}${CUDNN_ROOT:+ ($CUDNN_ROOT)}"
        echo "- budget: ${BUDGET} s; elapsed: $(( $(date +%s) - START )) s"
        echo
        echo "| step | result | wall s | limit s |"
        echo "|---|---|---|---|"
        for i in "${!STEP_NAMES[@]}"; do
            echo "| ${STEP_NAMES[$i]} | ${STEP_RESULTS[$i]} | ${STEP_TIMES[$i]} | ${STEP_LIMITS[$i]} |"
        done
        echo
        echo "Logs: gpu_check_logs.tar.gz (logs/STEP.log for each step)."
        echo
        if [ -f "$LOGS/gpu-tests.ctest" ]; then
            echo "## GPU tests"
            echo
            echo '```'
            grep -E "tests passed|tests failed|Total Test time|\(Failed\)|\(Skipped\)|\(Timeout\)|: [0-9]+ checks, [0-9]+ failed|skipped:" \
                "$LOGS/gpu-tests.ctest" | tail -n 40
            echo '```'
            echo
        fi
        for tool in memcheck racecheck; do
            [ -f "$LOGS/$tool.log" ] || continue
            echo "## $tool"
            echo
            echo '```'
            grep -E "^---- |ERROR SUMMARY|RACECHECK SUMMARY|unavailable|not found|not built|checking" "$LOGS/$tool.log" | cut -c1-300
            echo '```'
            echo
        done
        section "Preflight" "$LOGS/preflight.log"
        section "Training, GPU against CPU (2 epochs of the bundled MNIST, every step logged)" "$WORK/train_compare.md"
        section "evae eval, GPU against CPU (the GPU-trained checkpoint)" "$WORK/eval_compare.md"
        section "evae eval on the GPU" "$WORK/eval-cuda.md" 30
        section "Kernel benchmarks" "$WORK/bench/kernels_cuda.md"
        if [ -s "$WORK/bench-all/bench.md" ]; then
            section "Epoch benchmarks beside PyTorch (bench_all.sh QUICK=1)" "$WORK/bench-all/bench.md"
        else # stopped before its report: what it measured so far
            for md in "$WORK"/bench-all/epoch_*.md; do section "$(basename "$md" .md)" "$md"; done
        fi
        if [ "$FAILED" -eq 0 ]; then echo "**No step failed.**"; else echo "**Some steps failed.**"; fi
    } > "$tmp"
    mv "$tmp" "$OUT/report.md"
    # the archive: every log and result, without checkpoints (the limit is 16 MiB a file)
    tar -czf "$OUT/.logs.tmp" -C "$WORK" --exclude='*.safetensors' . 2>/dev/null &&
        mv "$OUT/.logs.tmp" "$OUT/gpu_check_logs.tar.gz"
}

# run_step NAME SHARE_S [NEEDS_FILE]: the step under `timeout`, limited to SHARE_S and to what
# is left of the budget; skipped when NEEDS_FILE (e.g. the build's evae) is missing
run_step() {
    local name=$1 share=$2 needs=${3:-} left limit start rc result
    left=$((DEADLINE - RESERVE - $(date +%s)))
    limit=$((share < left ? share : left))
    start=$(date +%s)
    if [ -n "$needs" ] && [ ! -e "$needs" ]; then
        result="SKIPPED (no $needs)"
        limit=0
    elif [ "$limit" -lt 5 ]; then
        result="SKIPPED (budget spent)"
        limit=0
    else
        echo
        echo "==== $name (limit ${limit} s)"
        timeout -k 5 "$limit" bash "$SELF" --run-step "$name" > "$LOGS/$name.log" 2>&1
        rc=$?
        tail -n 25 "$LOGS/$name.log"
        case "$rc" in
            0) result=PASS ;;
            3) result="UNAVAILABLE (see log)" ;;
            124 | 137) result="TIMEOUT"; FAILED=1 ;;
            *) result="FAIL (exit $rc)"; FAILED=1 ;;
        esac
        echo "==== $name: $result"
    fi
    STEP_NAMES+=("$name")
    STEP_RESULTS+=("$result")
    STEP_TIMES+=("$(($(date +%s) - start))")
    STEP_LIMITS+=("$limit")
    write_report
}

EVAE="$BUILD/evae"
run_step preflight 15
run_step configure 60
run_step build 150
[ "$CPU_TESTS" = 1 ] && run_step cpu-tests 3600 "$EVAE"
run_step gpu-tests 90 "$EVAE"
run_step memcheck 75 "$EVAE"
run_step racecheck 75 "$EVAE"
run_step train 40 "$EVAE"
run_step nccl 20 "$EVAE"
run_step eval 40 "$EVAE"
run_step bench-kernels 30 "$EVAE"
run_step bench-epoch 150 "$EVAE"

echo
echo "report: $OUT/report.md; logs: $OUT/gpu_check_logs.tar.gz ($(( $(date +%s) - START )) s)"
exit "$FAILED"
