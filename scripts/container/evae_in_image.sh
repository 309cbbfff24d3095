#!/usr/bin/env bash
# `evae ARGS...` run inside the container image EVAE_IMAGE (default localhost/evae-cpu, the CPU
# image of docker/Dockerfile.cpu), with the current folder mounted at its own path and as the
# working folder, so that every path an evae command names (configs, data, run folders) means
# the same inside and out. A drop-in for the evae program: EVAE=scripts/container/evae_in_image.sh
# experiments/table1.sh ... runs each cell in the image.
#   CONTAINER_ENGINE  podman (default when present), docker, or apptainer (EVAE_IMAGE: a .sif)
#   ENGINE_ARGS       the engine's global options, e.g. "--runtime runc" (podman)
#   ENGINE_RUN_ARGS   options of its run/exec, e.g. "--device nvidia.com/gpu=all" (podman with
#                     CDI), "--gpus all" (docker), "--nv" (apptainer) for the CUDA image
set -euo pipefail
image=${EVAE_IMAGE:-localhost/evae-cpu}
engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  for e in podman docker apptainer; do command -v "$e" >/dev/null && { engine=$e; break; }; done
fi
[ -n "$engine" ] || { echo "evae_in_image: no container engine (podman, docker or apptainer)" >&2; exit 1; }
here=$PWD
# shellcheck disable=SC2086  # ENGINE_ARGS and ENGINE_RUN_ARGS are lists of words
case "$engine" in
apptainer | singularity)
  exec "$engine" ${ENGINE_ARGS:-} exec --bind "$here" --pwd "$here" ${ENGINE_RUN_ARGS:-} \
    "$image" evae "$@" ;;
*) # podman, docker: the image's entry point is evae
  exec "$engine" ${ENGINE_ARGS:-} run --rm --network none -v "$here:$here" -w "$here" \
    -e OPENBLAS_NUM_THREADS ${ENGINE_RUN_ARGS:-} "$image" "$@" ;;
esac
