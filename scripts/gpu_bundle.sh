#!/usr/bin/env bash
# Puts into DIR what a bare GPU machine lacks to build and run evae: the headers and libraries of
# the Debian packages evae builds against (OpenBLAS with its libgfortran, zlib, stb, inih, cJSON),
# fetched with `apt-get download` and unpacked with `dpkg -x` (nothing is installed here):
#   scripts/gpu_bundle.sh DIR            (default DIR: gpu_bundle, git-ignored)
# Then, on the GPU machine: scripts/gpu_check.sh --bundle DIR OUT_DIR (README.md, "Using a GPU").
# DIR/usr is the prefix CMake searches (CMAKE_PREFIX_PATH) and DIR/usr/lib/<arch> the folder the
# programs load from (LD_LIBRARY_PATH). The links that update-alternatives would make for OpenBLAS
# are made here; documentation, static libraries and the LAPACK/BLAS compatibility libraries are
# left out. DIR/BUNDLE.txt lists the packages and versions and the newest glibc symbol version
# the libraries need (the GPU machine's glibc must be at least that). Needs apt's package lists
# of a Debian 12 (amd64) machine; the result is about 39 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-gpu_bundle}
ARCH=$(dpkg --print-architecture)
if [ "$ARCH" != amd64 ]; then
  echo "gpu_bundle: this machine is $ARCH; the GPU machine is amd64 (x86-64)" >&2
  exit 1
fi
TRIPLET=x86_64-linux-gnu
# the -dev packages of scripts/install_deps.sh (libopenblas-dev is the pthread variant's
# metapackage) and the runtime libraries they link to
PKGS=(libopenblas-pthread-dev libopenblas0-pthread libgfortran5 libquadmath0
      zlib1g-dev zlib1g libstb-dev libstb0 libinih-dev libinih1 libcjson-dev libcjson1)

rm -rf "$DIR"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
DEBS=$(mktemp -d)
trap 'rm -rf "$DEBS"' EXIT
chmod 777 "$DEBS" # apt downloads as its own user (_apt), which must write there
if ! (cd "$DEBS" && apt-get download "${PKGS[@]}" >/dev/null); then
  echo "gpu_bundle: apt-get download failed (run 'apt-get update' first?)" >&2
  exit 1
fi
for deb in "$DEBS"/*.deb; do dpkg-deb -x "$deb" "$DIR"; done

LIB="$DIR/usr/lib/$TRIPLET"
# zlib1g ships its library under /lib (merged into /usr/lib on the machines this runs on)
if [ -d "$DIR/lib/$TRIPLET" ]; then
  mv "$DIR/lib/$TRIPLET"/* "$LIB/"
  rm -rf "${DIR:?}/lib"
fi
# zlib1g-dev's libz.so points to /lib/...: point it at the bundle's copy. The soname link
# libz.so.1 goes, so programs keep loading the machine's own (newer) zlib at run time.
ln -sfn "$(basename "$(readlink "$LIB/libz.so")")" "$LIB/libz.so"
rm -f "$LIB/libz.so.1"
# what update-alternatives makes for libopenblas-pthread-dev and libopenblas0-pthread
for f in libopenblas.so libopenblas.so.0; do ln -sfn "openblas-pthread/$f" "$LIB/$f"; done
for f in cblas.h openblas_config.h f77blas.h; do
  ln -sfn "openblas-pthread/$f" "$DIR/usr/include/$TRIPLET/$f"
done

# prune: documentation, static libraries, the BLAS/LAPACK compatibility libraries (evae calls
# OpenBLAS directly), the C++ INIReader, the stb headers neither evae nor its tests include (the
# GPU tests decode PNGs with stb_image), dangling links
stb_used=$(grep -rhoE '#include <stb/[a-z_]+\.h>' src include tests bench |
  sed 's/.*<stb\/\(.*\)>/\1/' | sort -u)
rm -rf "${DIR:?}/usr/share" "${DIR:?}/etc"
find "$DIR" \( -name '*.a' -o -name 'liblapack.so*' -o -name 'libblas.so*' \
  -o -name '*INIReader*' \) -exec rm -rf {} +
for h in "$DIR"/usr/include/stb/*.h; do
  grep -qxF "$(basename "$h")" <<<"$stb_used" || rm -f "$h"
done
find "$DIR" -xtype l -delete
find "$DIR" -type d -empty -delete

# every library the bundle's libraries need is in the bundle or in glibc / libgcc
missing=""
while read -r so; do
  for need in $(objdump -p "$so" | awk '/NEEDED/ {print $2}'); do
    case "$need" in
      libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | libgcc_s.so.* | ld-linux*) ;;
      libz.so.1) ;; # every Debian/Ubuntu system has zlib1g
      *) [ -e "$LIB/$need" ] || missing="$missing $(basename "$so"):$need" ;;
    esac
  done
done < <(find "$LIB" -type f -name '*.so*')
if [ -n "$missing" ]; then
  echo "gpu_bundle: libraries needed but not bundled:$missing" >&2
  exit 1
fi

# the newest symbol versions the libraries ask of glibc and libgcc_s
need_version() {
  find "$LIB" -type f -name '*.so*' -exec objdump -T {} + | grep -oE "\b$1_[0-9.]+\b" |
    sed "s/^$1_//" | sort -uV | tail -n 1
}
GLIBC_NEED=$(need_version GLIBC)
GCC_NEED=$(need_version GCC)
{
  echo "evae GPU bundle, made $(date -u '+%Y-%m-%d %H:%M UTC') on $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "prefix: usr (CMAKE_PREFIX_PATH), libraries: usr/lib/$TRIPLET (LD_LIBRARY_PATH)"
  echo "needs glibc >= $GLIBC_NEED, libgcc_s with GCC_$GCC_NEED, zlib (libz.so.1)"
  echo "packages:"
  for deb in "$DEBS"/*.deb; do dpkg-deb -W --showformat='  ${Package} ${Version}\n' "$deb"; done
} > "$DIR/BUNDLE.txt"
cat "$DIR/BUNDLE.txt"
echo "gpu_bundle: $(du -sh "$DIR" | cut -f1) in $DIR"
