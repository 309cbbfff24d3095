#!/usr/bin/env bash
# One command from a fresh clone: install what is missing, build, and train the MNIST
# energy-prior VAE on the bundled 9,000 digits. Extra arguments are config overrides, e.g.
#   scripts/quickstart.sh train.epochs=5
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
./build/evae train experiments/mnist.ini "$@"
