#!/usr/bin/env bash
# Prints the command of a Python 3 (3.8 or newer) for experiments/table1/: `python.sh stdlib`
# one with the standard library, `python.sh plot` one that also imports numpy, matplotlib and
# Pillow (Debian: python3-numpy python3-matplotlib python3-pil). The first that works of $PYTHON,
# python3 and /usr/bin/python3, each with -s: packages in the user's site folder (~/.local) are
# left out, where a pip-installed numpy can break Debian's matplotlib. Exit 1 when none works.
set -uo pipefail
case "${1:-}" in
stdlib) need="import sys; assert sys.version_info >= (3, 8)" ;;
plot) need="import sys, numpy, matplotlib, PIL; assert sys.version_info >= (3, 8)" ;;
*) echo "usage: $0 stdlib|plot" >&2; exit 2 ;;
esac
for cand in ${PYTHON:+"$PYTHON"} "python3 -s" "/usr/bin/python3 -s"; do
    if $cand -c "$need" 2> /dev/null; then
        echo "$cand"
        exit 0
    fi
done
exit 1
