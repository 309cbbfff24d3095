#!/usr/bin/env bash
# Builds the CPU image (docker/Dockerfile.cpu) with podman, without a Docker daemon and without
# an image registry: the Debian 12 base is made here with debootstrap (minbase, from the Debian
# mirror apt uses) and imported, unless BASE names an image podman already has. --smoke then runs
# the image: `evae --version`, one training process, and two ranks under the image's mpirun.
#   scripts/container/build_cpu_image.sh [--tag TAG] [--smoke] [--keep-base]
#     TAG default localhost/evae-cpu; BASE default: a fresh debootstrap base (removed at the end
#     unless --keep-base); needs root, podman, runc and debootstrap (Debian: apt-get install
#     podman runc debootstrap).
# podman runs with runc and with the shell's own resource limits: crun cannot run where cgroups v1
# and v2 are mounted together, and podman's default limits are above what a container sandbox
# without CAP_SYS_RESOURCE may set (both are so in the machines evae is developed on).
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=localhost/evae-cpu smoke=0 keep_base=0
while [ $# -gt 0 ]; do
  case "$1" in
  --tag) tag=$2; shift 2 ;;
  --smoke) smoke=1; shift ;;
  --keep-base) keep_base=1; shift ;;
  *) echo "usage: build_cpu_image.sh [--tag TAG] [--smoke] [--keep-base]" >&2; exit 2 ;;
  esac
done
for p in podman runc; do
  command -v "$p" >/dev/null || { echo "build_cpu_image: $p not found (apt-get install podman runc debootstrap)" >&2; exit 1; }
done
# open files: the shell's own; processes: podman's default 32768, or less where the shell has less
nproc=$(ulimit -Hu)
if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
limits=(--ulimit "nofile=$(ulimit -Sn):$(ulimit -Hn)" --ulimit "nproc=$nproc:$nproc")
run_args=(--runtime runc "${limits[@]}")
t0=$SECONDS

base=${BASE:-}
made_base=""
if [ -z "$base" ]; then
  command -v debootstrap >/dev/null || { echo "build_cpu_image: debootstrap not found" >&2; exit 1; }
  [ "$(id -u)" -eq 0 ] || { echo "build_cpu_image: debootstrap needs root" >&2; exit 1; }
  mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
  mirror=${mirror:-http://deb.debian.org/debian}
  root=$(mktemp -d /tmp/evae-debian-base-XXXXXX)
  trap 'rm -rf "$root"' EXIT
  echo "==== debootstrap bookworm (minbase) from $mirror"
  debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.log" 2>&1 ||
    { tail -20 "$root.log"; exit 1; }
  # a small base: no package cache, and no documentation, manuals or translations from this
  # point on (the packages the image installs later leave theirs out too)
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-exclude=/usr/share/man/*' \
    'path-exclude=/usr/share/locale/*' > "$root/etc/dpkg/dpkg.cfg.d/01-evae-slim"
  base=localhost/evae-debian-base:bookworm
  tar -C "$root" -c . | podman import - "$base" > /dev/null
  rm -rf "$root" "$root.log"
  made_base=$base
  echo "==== base $base: $((SECONDS - t0)) s"
fi

echo "==== podman build -f docker/Dockerfile.cpu -t $tag (BASE=$base)"
podman build "${run_args[@]}" --network host --build-arg "BASE=$base" -f docker/Dockerfile.cpu \
  -t "$tag" .
podman image prune -f > /dev/null # the build stage's layers
echo "==== image $tag: $(podman image inspect "$tag" --format '{{.Size}}' | awk '{printf "%.0f MB", $1 / 1e6}'), $((SECONDS - t0)) s"
[ -z "$made_base" ] || [ "$keep_base" = 1 ] || podman rmi "$made_base" > /dev/null

if [ "$smoke" = 1 ]; then
  out=$(mktemp -d /tmp/evae-image-smoke-XXXXXX)
  small=(experiments/mnist.ini device=cpu train.epochs=1 data.train_limit=512 train.batch=128
         model.hidden=64 sample.steps=5)
  echo "==== smoke: evae --version, one process, two ranks under mpirun"
  podman run "${run_args[@]}" --rm --network none "$tag" --version
  podman run "${run_args[@]}" --rm --network none -v "$out:/evae/runs" "$tag" train \
    "${small[@]}" run.dir=runs/one
  podman run "${run_args[@]}" --rm --network none -v "$out:/evae/runs" --entrypoint mpirun "$tag" \
    -np 2 --oversubscribe evae train "${small[@]}" run.dir=runs/two
  ok=1
  for run in one two; do
    for f in checkpoint.safetensors metrics.jsonl manifest.json; do
      [ -s "$out/$run/$f" ] || { echo "smoke: $run/$f missing"; ok=0; }
    done
  done
  grep -q '"world_size":[[:space:]]*2' "$out/two/manifest.json" || { echo "smoke: the mpirun run is not 2 ranks"; ok=0; }
  rm -rf "$out"
  [ "$ok" = 1 ] || exit 1
  echo "==== smoke passed: $((SECONDS - t0)) s in all"
fi
