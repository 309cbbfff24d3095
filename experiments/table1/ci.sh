#!/usr/bin/env bash
# CI's Table 1 step: experiments/table1.sh --profile smoke end to end into OUT_DIR (default
# out/ci-table1, emptied first), its outputs checked by check.py (table1.md, table1.json, every
# number finite, every picture a PNG that decodes, each cell's files), then the same command
# again, which must skip every cell and leave outputs that pass the check.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-out/ci-table1}
rm -rf "$out"
experiments/table1.sh --profile smoke "$out"
py=$(experiments/table1/python.sh plot)
$py experiments/table1/check.py "$out" --all
cells=$(experiments/table1.sh --profile smoke --list "$out" | grep -c -- '-seed[0-9]')
again=$(experiments/table1.sh --profile smoke "$out" | grep -c 'finished: skipped')
if [ "$again" != "$cells" ]; then
    echo "table1 ci: the second run skipped $again of $cells cells" >&2
    exit 1
fi
$py experiments/table1/check.py "$out" --all
