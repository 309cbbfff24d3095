#!/usr/bin/env bash
# One command from a fresh clone: install what is missing, build (with CUDA when nvcc is found),
# and run the whole test suite. GPU tests report "skipped" on a machine without a device.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)"
