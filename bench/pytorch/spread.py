#!/usr/bin/env python3
"""The spread over repeated runs of scripts/bench_all.sh: for each data set and thread count,
the range (min to max over the runs) of evae's epoch, its floor, evae / floor, PyTorch eager and
compiled, and the ratios taken within each run (evae against its floor and against PyTorch,
measured back to back). Standard library only.

  python3 bench/pytorch/spread.py OUT_DIR1 OUT_DIR2 [...] > spread.md
"""
import glob
import os
import sys

from report import load


def span(values, digits=2, scale=1.0):
    v = [x * scale for x in values if x is not None]
    if not v:
        return "-"
    lo, hi = min(v), max(v)
    return f"{lo:.{digits}f}" if lo == hi else f"{lo:.{digits}f}-{hi:.{digits}f}"


def runs_of(out):
    """{(dataset, tag): row} of one OUT_DIR"""
    rows = {}
    for p in glob.glob(os.path.join(out, "epoch_*.json")):
        j = load(p)
        if not j:
            continue
        name = os.path.basename(p)[len("epoch_"):-len(".json")]
        e, m = j["epoch"], j["machine"]
        pt = load(os.path.join(out, f"pytorch_{name}.json")) or {}
        by_mode = {}
        for r in pt.get("results", []):
            if "ms_per_epoch" in r:
                by_mode[r["mode"]] = r["ms_per_epoch"] * e["examples"] / r["examples"] / 1e3
        rows[(e["dataset"], m.get("threads", m.get("sm_count")))] = {
            "epoch": e["epoch_s"], "floor": e["floor_s"], "x": e["x_floor"],
            "eager": by_mode.get("eager"), "compile": by_mode.get("compile"),
            "sgemm": m["sgemm_gflops"], "load": m.get("loadavg", "?"), "date": m.get("date", "?"),
            "torch": pt.get("torch"), "kernels": m.get("backend", "")}
    return rows


def main():
    outs = sys.argv[1:]
    if not outs:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 1
    runs = [runs_of(o) for o in outs]
    keys = sorted({k for r in runs for k in r}, key=lambda k: (k[0] != "mnist", k[0], k[1]))
    print(f"Spread over {len(outs)} runs of `scripts/bench_all.sh` "
          "(each value: lowest-highest; ratios taken within each run).\n")
    print("| data set | threads | sgemm GFLOP/s | evae s | floor s | evae / floor | "
          "PyTorch eager s | PyTorch compiled s | eager / evae | compiled / evae |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k in keys:
        rs = [r[k] for r in runs if k in r]
        g = lambda f: [x[f] for x in rs]
        eager_ratio = [x["eager"] / x["epoch"] if x["eager"] else None for x in rs]
        comp_ratio = [x["compile"] / x["epoch"] if x["compile"] else None for x in rs]
        print(f"| {k[0]} | {k[1]} | {span(g('sgemm'), 1)} | {span(g('epoch'))} | "
              f"{span(g('floor'))} | {span(g('x'))} | {span(g('eager'))} | "
              f"{span(g('compile'))} | {span(eager_ratio)} | {span(comp_ratio)} |")
    print()
    for i, (o, r) in enumerate(zip(outs, runs)):
        for k in keys:
            if k in r:
                x = r[k]
                print(f"- run {i + 1} ({os.path.basename(os.path.normpath(o))}), {k[0]}, "
                      f"{k[1]} threads: {x['date']}, load average {x['load']}")
    first = next((r[k] for r in runs for k in keys if k in r), None)
    if first:
        print(f"\nKernels: {first['kernels']}. PyTorch {first['torch'] or 'not run'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
