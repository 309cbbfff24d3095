#!/usr/bin/env bash
# Rehearses scripts/gpu_check.sh on a machine without a GPU, as the bare GPU machine will run it:
# in a Debian chroot (12 unless SUITE says otherwise) that holds the compiler, CMake, Ninja and
# Python and none of evae's -dev packages (nor OpenBLAS, libgfortran, stb, inih or cJSON at
# all), with the CUDA toolkit
# mounted read-only minus its cuDNN, and cuDNN laid out as the nvidia-cudnn-cu13 wheel lays it out
# (site-packages/nvidia/cudnn/{include,lib}: libcudnn*.so.9, no unversioned links), found through
# Python as on the GPU machine. The build gets evae's dependencies from the bundle alone.
#   scripts/gpu_rehearse.sh [ROOTFS]     (as root; default ROOTFS /var/tmp/evae-rehearsal)
#   SUITE=trixie scripts/gpu_rehearse.sh /var/tmp/evae-rehearsal-trixie   (a newer glibc and gcc
#   than the bundle's Debian 12, as on a newer GPU machine image)
# Needs debootstrap and the Debian mirror the first time (the chroot is kept for reruns), and the
# bundle (scripts/gpu_bundle.sh gpu_bundle, run here first when missing). The mounts live in a
# private mount namespace (unshare -m): nothing is mounted outside it and nothing stays mounted.
# Runs gpu_check.sh --cpu-tests there (CUDA_ARCH=90, the GPU machine's), then checks that
# configure, build and the CPU tests passed, that the GPU steps failed cleanly for want of a
# device, that CMake took every library from the bundle and cuDNN from the wheel folder, that the
# programs load them from there, and that OUT holds at most 8 files at most 2 folders deep.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROOTFS=${1:-/var/tmp/evae-rehearsal}
SUITE=${SUITE:-bookworm}
MIRROR=http://deb.debian.org/debian
[ "$(id -u)" -eq 0 ] || { echo "gpu_rehearse: run as root (chroot, mounts)" >&2; exit 1; }
CUDA=$(readlink -f /usr/local/cuda)
[ -x "$CUDA/bin/nvcc" ] || { echo "gpu_rehearse: no CUDA toolkit at /usr/local/cuda" >&2; exit 1; }
[ -f gpu_bundle/BUNDLE.txt ] || scripts/gpu_bundle.sh gpu_bundle

# ---- the chroot: toolchain only ----
if ! grep -qs "^$SUITE " "$ROOTFS/etc/evae-rehearsal"; then
  command -v debootstrap >/dev/null || { echo "gpu_rehearse: apt-get install debootstrap" >&2; exit 1; }
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase --include=gcc,g++,make,cmake,ninja-build,python3 \
    "$SUITE" "$ROOTFS" "$MIRROR"
  echo "$SUITE minbase + gcc g++ make cmake ninja-build python3" > "$ROOTFS/etc/evae-rehearsal"
fi
# none of what the bundle brings may be there
found=$(find "$ROOTFS" -xdev \( -name 'cblas.h' -o -name 'zlib.h' -o -name 'ini.h' -o -name 'cJSON.h' \
  -o -name 'stb_image_write.h' -o -name 'libopenblas*' -o -name 'libgfortran*' -o -name 'libinih*' \
  -o -name 'libcjson*' -o -name 'libstb*' -o -name 'libz.so' -o -name 'libcudnn*' \) -print)
if [ -n "$found" ]; then
  echo "gpu_rehearse: the chroot has files the bundle should bring:" >&2
  echo "$found" >&2
  exit 1
fi

# ---- the wheel layout of cuDNN, from the files the toolkit's copy of the wheel lists ----
WHEEL=$(mktemp -d /var/tmp/evae-cudnn-wheel.XXXXXX)
WHITEOUT=$(mktemp -d /var/tmp/evae-cuda-whiteout.XXXXXX)
trap 'rm -rf "$WHEEL" "$WHITEOUT"' EXIT
mkdir -p "$WHEEL/nvidia/cudnn/include" "$WHEEL/nvidia/cudnn/lib" "$WHITEOUT/include" "$WHITEOUT/lib"
for f in "$CUDA"/include/cudnn*.h "$CUDA"/lib/libcudnn*.so.9; do
  case "$f" in *.h) sub=include ;; *) sub=lib ;; esac
  cp -l "$f" "$WHEEL/nvidia/cudnn/$sub/" 2>/dev/null || cp "$f" "$WHEEL/nvidia/cudnn/$sub/"
done
# the toolkit without cuDNN: a read-only overlay whose top layer holds whiteouts (0/0 character
# devices) for every cuDNN file
for f in "$CUDA"/include/cudnn*.h "$CUDA"/lib/libcudnn*; do
  rel=${f#"$CUDA"/}
  mknod "$WHITEOUT/$rel" c 0 0
done

OUT_REL=build-rehearsal/out
rm -rf "$ROOT/build-gpu" "$ROOT/build-rehearsal"
mkdir -p "$ROOT/$OUT_REL"
echo "gpu_rehearse: $SUITE chroot $ROOTFS, toolkit $CUDA without cuDNN, cuDNN as a wheel"
set +e
unshare -m --propagation private bash -s "$ROOTFS" "$CUDA" "$WHEEL" "$WHITEOUT" "$ROOT" "$OUT_REL" <<'NS'
set -eu
R=$1 CUDA=$2 WHEEL=$3 WHITEOUT=$4 SRC=$5 OUT_REL=$6
mkdir -p "$R$CUDA" "$R/opt/site-packages" "$R/src"
mount -t overlay overlay -o "ro,lowerdir=$WHITEOUT:$CUDA" "$R$CUDA"
ln -sfn "$CUDA" "$R/usr/local/cuda"
mount --bind "$WHEEL" "$R/opt/site-packages"
mount --bind "$SRC" "$R/src"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t tmpfs tmpfs "$R/tmp"
chroot "$R" /usr/bin/env -i PATH="$CUDA/bin:/usr/local/bin:/usr/bin:/bin" HOME=/root LANG=C.UTF-8 \
  PYTHONPATH=/opt/site-packages CUDA_ARCH=90 /bin/bash -c '
    cd /src
    echo "in the chroot: $(. /etc/os-release; echo $PRETTY_NAME), $(cmake --version | head -n 1), gcc $(gcc -dumpversion)"
    ls /usr/local/cuda/lib/libcudnn* /usr/local/cuda/include/cudnn.h 2>&1 | head -n 2
    scripts/gpu_check.sh --bundle gpu_bundle --budget 100000 --cpu-tests "'"$OUT_REL"'"
    echo "gpu_check exit $?"
    echo "---- where the programs load their libraries from, with the LD_LIBRARY_PATH of gpu_check.sh"
    LD_LIBRARY_PATH=/opt/site-packages/nvidia/cudnn/lib:/src/gpu_bundle/usr/lib/x86_64-linux-gnu \
      ldd build-gpu/evae | grep -E "openblas|gfortran|quadmath|inih|cjson|stb|libz|cudnn|cudart|cublas|not found"
    true'
NS
rc=$?
set -e
[ "$rc" -eq 0 ] || { echo "gpu_rehearse: the chroot run failed (exit $rc)" >&2; exit 1; }

# ---- what the rehearsal must show ----
OUT="$ROOT/$OUT_REL"
report="$OUT/report.md"
fail=0
expect() { # expect DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok: $1"; else echo "FAILED: $1"; fail=1; fi
}
step_result() { sed -n "s/^| $1 | \([^|]*\) |.*/\1/p" "$report"; }
expect "report.md written" test -s "$report"
expect "the logs archive written" test -s "$OUT/gpu_check_logs.tar.gz"
for s in configure build cpu-tests; do expect "$s passed" test "$(step_result "$s")" = PASS; done
for s in preflight gpu-tests memcheck racecheck train eval bench-kernels bench-epoch; do
  expect "$s did not pass without a GPU ($(step_result "$s"))" test "$(step_result "$s")" != PASS
done
cache="$ROOT/build-gpu/CMakeCache.txt"
for v in OPENBLAS_LIB CBLAS_INCLUDE ZLIB_LIBRARY_RELEASE ZLIB_INCLUDE_DIR STB_LIB STB_INCLUDE \
  INIH_LIB INIH_INCLUDE CJSON_LIB CJSON_INCLUDE; do
  expect "$v from the bundle" grep -q "^$v:[A-Z]*=/src/gpu_bundle/" "$cache"
done
expect "cuDNN from the wheel folder, libcudnn.so.9" \
  grep -q "^CUDNN_LIB:FILEPATH=/opt/site-packages/nvidia/cudnn/lib/libcudnn.so.9$" "$cache"
expect "cuDNN headers from the wheel folder" \
  grep -q "^CUDNN_INCLUDE:PATH=/opt/site-packages/nvidia/cudnn/include$" "$cache"
n_files=$(find "$OUT" -type f | wc -l)
expect "at most 8 files in OUT ($n_files)" test "$n_files" -le 8
expect "nothing deeper than 2 folders in OUT" test -z "$(find "$OUT" -mindepth 3 -type f)"
logs=$(mktemp -d)
tar -xzf "$OUT/gpu_check_logs.tar.gz" -C "$logs"
expect "every program loaded its libraries" \
  test -z "$(grep -rl 'error while loading shared libraries' "$logs")"
expect "the GPU tests skipped for want of a device" grep -q "skipped: no usable CUDA device" \
  "$logs/logs/gpu-tests.log"
expect "the GPU training failed for want of a device" grep -q "device=cuda is not available" \
  "$logs/logs/train.log"
rm -rf "$logs"
expect "the archive holds every step's log" \
  test "$(tar -tzf "$OUT/gpu_check_logs.tar.gz" | grep -c '^./logs/[a-z-]*\.log$')" -ge 11
echo
sed -n '/^| step/,/^$/p' "$report"
[ "$fail" -eq 0 ] && echo "gpu_rehearse: passed" || echo "gpu_rehearse: FAILED"
exit "$fail"
