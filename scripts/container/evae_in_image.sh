#!/usr/bin/env bash
# `evae ARGS...` run inside the container image EVAE_IMAGE (default localhost/evae-cpu, the CPU
# image of docker/Dockerfile.cpu), with the current folder mounted at its own path and as the
# working folder, so that every path an evae command names (configs, data, run folders) means
# the same inside and out. A drop-in for the evae program: EVAE=scripts/container/evae_in_image.sh
# experiments/table1.sh ... runs each cell in the image.
#   CONTAINER_ENGINE  podman (default when present), docker, or apptainer (EVAE_IMAGE: a .sif)
#   EVAE_DEVICE_ARGS  extra engine arguments, e.g. "--device nvidia.com/gpu=all" (podman + CDI)
#                     or "--nv" (apptainer) for the CUDA image
set -euo pipefail
image=${EVAE_IMAGE:-localhost/evae-cpu}
engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  for e in podman docker apptainer; do command -v "$e" >/dev/null && { engine=$e; break; }; done
fi
[ -n "$engine" ] || { echo "evae_in_image: no container engine (podman, docker or apptainer)" >&2; exit 1; }
here=$PWD
# shellcheck disable=SC2086  # EVAE_DEVICE_ARGS is a list of words
case "$engine" in
apptainer | singularity)
  exec "$engine" exec --bind "$here" --pwd "$here" ${EVAE_DEVICE_ARGS:-} "$image" evae "$@" ;;
podman)
  # runc and the host's limits: the sandboxes evae is developed in refuse crun's rlimits
  exec podman ${PODMAN_GLOBAL_ARGS:-} run --rm --network none -v "$here:$here" -w "$here" \
    -e OPENBLAS_NUM_THREADS ${EVAE_DEVICE_ARGS:-} "$image" "$@" ;;
*)
  exec "$engine" run --rm --network none -v "$here:$here" -w "$here" -e OPENBLAS_NUM_THREADS \
    ${EVAE_DEVICE_ARGS:-} "$image" "$@" ;;
esac
