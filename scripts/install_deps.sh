#!/usr/bin/env bash
# Installs what evae builds and tests against (only what is missing): the Debian/Ubuntu packages,
# and the Python packages safetensors and numpy for the test that reads checkpoints with
# HuggingFace's reader. --checks adds what the extra CI checks need (scripts/fuzz.sh: clang and
# its libFuzzer runtime; the main build stays on gcc).
# The CUDA Toolkit is not installed here: when nvcc is present, the CUDA backend is built too.
set -euo pipefail
# libopenmpi-dev and openmpi-bin: data-parallel training over MPI (mpirun), and its tests;
# python3-numpy, python3-matplotlib, python3-pil: the report and checks of experiments/table1.sh
pkgs=(cmake make gcc pkg-config libopenblas-dev zlib1g-dev libstb-dev libinih-dev libcjson-dev
      libopenmpi-dev openmpi-bin python3 python3-numpy python3-matplotlib python3-pil)
if [ "${1:-}" = "--checks" ]; then
  # a single-node Slurm (scripts/slurm/ci_cluster.sh); a daemonless image build from a local
  # Debian base (scripts/container/build_cpu_image.sh)
  pkgs+=(slurmctld slurmd slurm-client munge podman runc debootstrap)
  pkgs+=(clang)
  # libFuzzer and the sanitizer runtimes of the clang in use (Debian 12: clang 14)
  major=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
  pkgs+=("libclang-rt-${major:-14}-dev")
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all packages present"
else
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install_deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

# Python packages, into the user's site of the python3 on PATH (the one CMake finds):
# safetensors and numpy for the checkpoint test, kubernetes-validate (with its offline schemas)
# for k8s/validate.sh
if command -v python3 >/dev/null &&
   ! python3 -c 'import safetensors, numpy, kubernetes_validate' 2>/dev/null; then
  echo "install_deps: installing the Python packages safetensors, numpy, kubernetes-validate (pip --user)"
  # a Debian python3 refuses --user installs unless told (PEP 668); they do not touch its files
  python3 -m pip install --user -q safetensors numpy kubernetes-validate 2>/dev/null ||
    python3 -m pip install --user -q --break-system-packages safetensors numpy kubernetes-validate
fi
