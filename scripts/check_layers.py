#!/usr/bin/env python3
"""Checks that includes point down the layers of docs/DESIGN.md section 7:

    cli -> eval -> model -> dist -> {backend, data, io} -> {math, util}

A file in src/<layer>/, include/evae/<layer>/ or kernels/ (the CUDA half of backend) may include
the headers of its own layer and of the layers below it, never those above or of a sibling.
The headers of kernels/ (*.cuh, kernels/testing/*.h) are private to the CUDA backend: no file
under src/ or include/ may include them (the CUDA backend is reached through its table only).
Prints each violation as FILE:LINE and exits 1 when there is one. With --self-test it also checks
that planted violations are caught."""
import os
import re
import sys

RANK = {"util": 0, "math": 0, "backend": 1, "data": 1, "io": 1, "dist": 2, "model": 3, "eval": 4,
        "cli": 5}
INCLUDE = re.compile(r'^\s*#\s*include\s+"evae/(?:([a-z_]+)/)?[a-z_]+\.h"')
KERNEL_HEADER = re.compile(r'^\s*#\s*include\s+"(?:[a-z_]+/)*([a-z_]+\.(?:h|cuh))"')


def layer_of(path):
    parts = path.split(os.sep)
    if parts[0] == "kernels":
        return "backend"
    if parts[0] == "src" and len(parts) > 2:
        return parts[1]
    if parts[:2] == ["include", "evae"]:
        return parts[2] if len(parts) > 3 else "util"
    return None


def allowed(src_layer, dep_layer):
    if dep_layer == src_layer:
        return True
    return RANK[dep_layer] < RANK[src_layer]


def violations(root, extra=None):
    found = []
    files = []
    for top in ("src", "include", "kernels"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for n in names:
                if n.endswith((".c", ".h", ".cu", ".cuh")):
                    files.append(os.path.relpath(os.path.join(dirpath, n), root))
    kernel_headers = {os.path.basename(f) for f in files
                      if f.startswith("kernels") and f.endswith((".h", ".cuh"))}
    for rel in sorted(files):
        layer = layer_of(rel)
        if layer is None:
            continue
        if layer not in RANK:
            found.append(f"{rel}: folder '{layer}' is not a known layer")
            continue
        lines = open(os.path.join(root, rel), encoding="utf-8").read().splitlines()
        if extra and rel == extra[0]:
            lines = lines + [extra[1]]
        for no, line in enumerate(lines, 1):
            k = KERNEL_HEADER.match(line)
            if k and not rel.startswith("kernels") and k.group(1) in kernel_headers:
                found.append(f"{rel}:{no}: includes the CUDA backend's private header "
                             f"'{k.group(1)}'")
            m = INCLUDE.match(line)
            if not m:
                continue
            dep = m.group(1) or "util"
            if dep not in RANK:
                found.append(f"{rel}:{no}: includes from unknown layer '{dep}'")
            elif not allowed(layer, dep):
                found.append(f"{rel}:{no}: layer '{layer}' includes '{line.strip()}' from "
                             f"layer '{dep}' above it or beside it")
    return found


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bad = violations(root)
    for v in bad:
        print(v)
    if "--self-test" in sys.argv:
        planted = violations(root, ("src/model/model.c", '#include "evae/cli/run.h"'))
        if len(planted) != len(bad) + 1:
            print("self-test: a planted upward include (model -> cli) was not caught")
            return 1
        planted = violations(root, ("src/io/config.c", '#include "evae/backend/backend.h"'))
        if len(planted) != len(bad) + 1:
            print("self-test: a planted sibling include (io -> backend) was not caught")
            return 1
        planted = violations(root, ("src/cli/run.c", '#include "cuda_context.cuh"'))
        if len(planted) != len(bad) + 1:
            print("self-test: a planted include of a CUDA-private header was not caught")
            return 1
    if bad:
        return 1
    print("layers: every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
