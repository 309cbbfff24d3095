#!/usr/bin/env bash
# Configures and builds evae in build/ (Release). The CUDA backend is built when nvcc is found;
# pass -DEVAE_WITH_CUDA=OFF to skip it, or -DCMAKE_CUDA_ARCHITECTURES=90 to build for one card.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j "$(nproc)"
