#!/usr/bin/env bash
# Validates the manifests of k8s/ against the Kubernetes API schemas, offline: kubernetes-validate
# (PyPI; it carries the schemas of Kubernetes 1.25 to 1.37) in strict mode, so an unknown or
# misplaced field fails as well as a wrong type, for the oldest and the newest version evae's
# manifests are meant for. Then the same check on two broken copies, which must fail: a check that
# cannot fail checks nothing.
#   k8s/validate.sh            (scripts/install_deps.sh installs kubernetes-validate)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VERSIONS=(1.27.0 1.37.0)
"$PYTHON" -c 'import kubernetes_validate' 2>/dev/null ||
  { echo "k8s/validate.sh: kubernetes-validate is not installed (pip install kubernetes-validate)" >&2; exit 1; }
validate() { # FILE...: every resource of every file against every version
  local v rc=0
  for v in "${VERSIONS[@]}"; do
    "$PYTHON" -m kubernetes_validate --strict --kubernetes-version "$v" "$@" || rc=1
  done
  return $rc
}
manifests=(*.yaml)
validate "${manifests[@]}"
echo "k8s: ${#manifests[@]} manifests valid for Kubernetes ${VERSIONS[*]}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's/^\(  *\)restartPolicy: Never/\1restartPolicyy: Never/' train-gpu-job.yaml > "$tmp/misspelled.yaml"
sed 's/^\(  *\)completions: 24/\1completions: twenty-four/' table1-indexed-job.yaml > "$tmp/wrong-type.yaml"
for broken in "$tmp"/*.yaml; do
  cmp -s "$broken" train-gpu-job.yaml && { echo "k8s: the broken copy $broken was not changed" >&2; exit 1; }
  if validate "$broken" > "$tmp/out.txt" 2>&1; then
    cat "$tmp/out.txt"
    echo "k8s: the broken manifest $(basename "$broken") passed validation" >&2
    exit 1
  fi
  echo "k8s: the broken copy $(basename "$broken") is refused: $(grep -m 1 ERROR "$tmp/out.txt")"
done
