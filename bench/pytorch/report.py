#!/usr/bin/env python3
"""Builds OUT_DIR/bench.md from the JSON and markdown that scripts/bench_all.sh collected there:
the epoch table of evae against its floor and against PyTorch (eager and compiled) on the same
machine in the same run, then the per-op tables and the epoch profiles. Standard library only.

  python3 bench/pytorch/report.py OUT_DIR
"""
import glob
import json
import os
import subprocess
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def fmt(x, digits=1):
    return "-" if x is None else f"{x:,.{digits}f}"


def git_commit(root):
    try:
        out = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    if len(sys.argv) != 2:
        print("usage: report.py OUT_DIR", file=sys.stderr)
        return 1
    out = sys.argv[1]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    lines = ["# evae benchmarks", ""]
    # epoch_<dataset>_<tag>.json, tag = cuda or cpu_t<threads>; PyTorch's: pytorch_<same>
    epochs = sorted(glob.glob(os.path.join(out, "epoch_*.json")),
                    key=lambda p: (0 if "mnist" in os.path.basename(p) else 1, p))
    kernels = sorted(glob.glob(os.path.join(out, "kernels_*.json")))
    machine = None
    for p in epochs + kernels:
        j = load(p)
        if j and "machine" in j:
            machine = j["machine"]
            break
    lines.append(f"Commit {git_commit(root)}. Commands: `scripts/bench_all.sh OUT_DIR` (all of "
                 "the below), or each program alone (see bench/results/README.md).")
    if machine:
        lines.append("")
        if machine.get("cpu_features"):
            lines.append(f"CPU features: {machine['cpu_features']}; OpenBLAS core: "
                         f"{machine.get('openblas_core', '-')}.")
            lines.append("")
        lines.append(f"Machine: {machine['name']} ({machine['device']}; {machine['backend']}), "
                     f"measured {machine['date']}: sgemm {machine['sgemm_gflops']:.1f} GFLOP/s "
                     f"(n = {machine['sgemm_n']}), copy {machine['copy_gbs']:.1f} GB/s"
                     + (f", load average {machine['loadavg']}" if "loadavg" in machine else "")
                     + ".")
    lines.append("")

    # ---- epochs: ours, the floor, PyTorch ----
    lines += ["## Whole epochs", "",
              "| data set | device | threads | examples | evae ms/epoch | evae examples/s | "
              "floor ms | evae / floor | PyTorch eager ms | PyTorch compiled ms | eager / evae | "
              "compiled / evae |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    notes = []
    for p in epochs:
        j = load(p)
        if not j:
            continue
        e, m = j["epoch"], j["machine"]
        dev = m["device"]
        pt_base = os.path.join(out, "pytorch_" + os.path.basename(p)[len("epoch_"):-len(".json")])
        pt = load(pt_base + ".json")
        threads = m.get("threads", m.get("sm_count", "-"))
        eager = comp = None
        if pt:
            for r in pt.get("results", []):
                if "error" in r:
                    notes.append(f"PyTorch {r['dataset']} {r['mode']} on {dev} failed: "
                                 f"{r['error']}")
                    continue
                if r["examples"] != e["examples"]:
                    notes.append(f"PyTorch {r['dataset']} {r['mode']} timed {r['examples']} "
                                 f"examples, evae {e['examples']}: compared per example")
                ms = r["ms_per_epoch"] * e["examples"] / r["examples"]
                if r["mode"] == "eager":
                    eager = ms
                elif r["mode"] == "compile":
                    comp = ms
                    notes.append(f"PyTorch compiled {r['dataset']} on {dev}: "
                                 + ", ".join(f"{k} {v}" for k, v in r["parts"].items())
                                 + f"; compilation took {r['compile_s']:.0f} s (not timed)")
            notes.append(f"PyTorch {pt['torch']} on {pt['device_name']} ({pt['device']}, "
                         f"threads: {pt['threads']}, TF32 off)")
        else:
            skip = read_text(pt_base + ".skip").strip()
            if skip:
                notes.append(f"PyTorch {e['dataset']} on {dev}: not run ({skip})")
        ms = e["ms_per_epoch"]
        lines.append(
            f"| {e['dataset']} | {dev} | {threads} | {e['examples']:,} | {fmt(ms)} | "
            f"{fmt(e['examples_per_s'], 0)} | {fmt(e['floor_s'] * 1e3)} | {e['x_floor']:.2f} | "
            f"{fmt(eager)} | {fmt(comp)} | {fmt(eager / ms if eager else None, 2)} | "
            f"{fmt(comp / ms if comp else None, 2)} |")
    # CPU: the same in CPU seconds of each process (robust to other work on a shared machine)
    cpu_rows = []
    for p in epochs:
        j = load(p)
        if not j or j["machine"]["device"] != "cpu" or "epoch_cpu_s" not in j["epoch"]:
            continue
        e = j["epoch"]
        pt = load(os.path.join(out, "pytorch_" + os.path.basename(p)[len("epoch_"):])) or {}
        by_mode = {r["mode"]: r["epoch_cpu_s"] * e["examples"] / r["examples"]
                   for r in pt.get("results", []) if "epoch_cpu_s" in r}
        eg, cp = by_mode.get("eager"), by_mode.get("compile")
        cpu_rows.append(
            f"| {e['dataset']} | {j['machine'].get('threads', '-')} / "
            f"{pt.get('threads', '-')} | {e['epoch_cpu_s']:.2f} | {e['floor_cpu_s']:.2f} | "
            f"{e['x_floor_cpu']:.2f} | {fmt(eg, 2)} | {fmt(cp, 2)} | "
            f"{fmt(eg / e['epoch_cpu_s'] if eg else None, 2)} | "
            f"{fmt(cp / e['epoch_cpu_s'] if cp else None, 2)} |")
    if cpu_rows:
        lines += ["", "The same epochs in CPU seconds of each process (all its threads), which "
                  "other work on a shared machine moves far less than the wall clock:", "",
                  "| data set | threads evae / PyTorch | evae CPU s | floor CPU s | evae / floor | "
                  "PyTorch eager CPU s | PyTorch compiled CPU s | eager / evae | "
                  "compiled / evae |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"] + cpu_rows
    lines.append("")
    lines.append("floor = the epoch's matrix-product and convolution FLOPs over the measured sgemm "
                 "rate; ratios above 1 mean PyTorch takes longer than evae.")
    tc = load(os.path.join(out, "train_check.json"))
    if tc:
        lines.append("")
        lines.append(f"Cross-check through the trainer itself (`evae train`, one epoch of the "
                     f"bundled {tc['examples']:,} digits on {tc['device']}, its first steps "
                     f"included): {tc['examples_per_s']:,.0f} examples/s.")
    for ds in ("mnist", "cifar10"):
        mj = load(os.path.join(out, f"match_{ds}.json"))
        if mj:
            errs = ", ".join(f"{k} {v:.1e}" for k, v in mj["relative_errors"].items())
            verdict = "matches" if mj["match"] else "DOES NOT match"
            notes.append(f"The PyTorch {ds} model {verdict} evae on one step recomputed from "
                         f"the same parameters, input and noise (relative errors: {errs})")
    for n in notes:
        lines.append(f"- {n}")
    lines.append("")

    # ---- details ----
    for p in epochs:
        md = read_text(p[:-5] + ".md")
        if md:
            lines += [md.strip(), ""]
    for p in kernels:
        md = read_text(p[:-5] + ".md")
        if md:
            lines += [md.strip(), ""]
    with open(os.path.join(out, "bench.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {os.path.join(out, 'bench.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
