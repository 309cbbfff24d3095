#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages evae builds against (only those missing).
# The CUDA Toolkit is not installed here: when nvcc is present, the CUDA backend is built too.
set -euo pipefail
# python3-numpy, python3-matplotlib, python3-pil: the report and checks of experiments/table1.sh
pkgs=(cmake make gcc pkg-config libopenblas-dev zlib1g-dev libstb-dev libinih-dev libcjson-dev
      python3 python3-numpy python3-matplotlib python3-pil)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install_deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
