"""Checks the outputs of an experiments/table1.sh run (CI runs it after the smoke profile).

    check.py OUT_DIR [--all]

- table1.json: the schema report.py writes, no NaN or infinity anywhere, its counts consistent
  with its cells; with --all, every cell finished;
- table1.md: the table with the paper's rows, the three verdicts, and every figure it embeds
  present and listed in table1.json;
- every PNG (figures/ and each cell's grids/): the PNG signature, and decoded whole by Pillow;
- every finished cell: eval.json strict JSON with finite numbers, eval_examples.csv with one row
  per test example whose column means are eval.json's values, the held-out ELBO logged at the
  last epoch, the grids of the last epoch.
Prints each problem and exits 1 if there is any.
"""
import csv
import json
import math
import os
import re
import sys

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ESTIMATES = ["nll_importance_sampling", "nll_self_normalized_eq4", "neg_vlb_self_normalized_eq3",
             "neg_vlb_classifier", "neg_elbo", "neg_alb", "reconstruction"]

problems = []


def problem(msg):
    problems.append(msg)
    print(f"check: {msg}", file=sys.stderr)


def strict_json(path):
    """JSON that refuses NaN and Infinity (Python's json takes them by default)."""
    def refuse(c):
        raise ValueError(f"non-finite number {c}")
    try:
        with open(path) as f:
            return json.load(f, parse_constant=refuse)
    except (OSError, ValueError) as e:
        problem(f"{path}: {e}")
        return None


def numbers_finite(o, where):
    if isinstance(o, bool) or o is None:
        if o is None:
            problem(f"{where} is null")
        return
    if isinstance(o, (int, float)):
        if not math.isfinite(o):
            problem(f"{where} = {o}")
    elif isinstance(o, dict):
        for k, v in o.items():
            numbers_finite(v, f"{where}.{k}")
    elif isinstance(o, list):
        for i, v in enumerate(o):
            numbers_finite(v, f"{where}[{i}]")


def need(o, key, kind, where):
    if not isinstance(o, dict) or key not in o:
        problem(f"{where}: no '{key}'")
        return None
    if not isinstance(o[key], kind) or (kind is int and isinstance(o[key], bool)):
        problem(f"{where}.{key}: not {getattr(kind, '__name__', kind)}")
        return None
    return o[key]


def check_png(path):
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        if head != PNG_SIGNATURE:
            problem(f"{path}: not a PNG (signature {head!r})")
            return
        with Image.open(path) as im:
            im.load()  # decodes every row: a truncated or corrupt file raises
            if im.format != "PNG" or im.width < 1 or im.height < 1:
                problem(f"{path}: format {im.format}, {im.width}x{im.height}")
    except (OSError, SyntaxError, ValueError) as e:
        problem(f"{path}: does not decode: {e}")


def check_cell(out_dir, cell):
    folder = os.path.join(out_dir, cell["folder"])
    ev = strict_json(os.path.join(folder, "eval.json"))
    if ev is None:
        return
    numbers_finite(ev, f"{folder}/eval.json")
    n = ev["test_set"]["examples"]
    if cell.get("test_examples") != n:
        problem(f"{cell['name']}: table1.json says {cell.get('test_examples')} test examples, "
                f"eval.json {n}")
    with open(os.path.join(folder, "eval_examples.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != n:
        problem(f"{folder}/eval_examples.csv: {len(rows)} rows for {n} test examples")
    for key in ESTIMATES:
        col = [float(r[key]) for r in rows]
        if not all(math.isfinite(x) for x in col):
            problem(f"{folder}/eval_examples.csv: {key} has a non-finite value")
            continue
        mean, want = sum(col) / len(col), ev["estimates"][key]["value"]
        if abs(mean - want) > 1e-9 * max(1.0, abs(want)):
            problem(f"{folder}: the mean of {key} over eval_examples.csv is {mean!r}, eval.json "
                    f"has {want!r}")
    lines = []
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        for line in f:
            o = json.loads(line, parse_constant=lambda c: float("nan"))
            if "epoch_time_s" in o:
                lines.append(o)
            numbers_finite(o, f"{folder}/metrics.jsonl line {len(lines)}")
    last = lines[-1] if lines else {}
    held = ev["test_set"]["name"]
    for key in (f"{held}_elbo", f"{held}_elbo_std_err", "log_z", "log_z_std_err"):
        if key not in last:
            problem(f"{folder}/metrics.jsonl: the last epoch has no {key}")
    epoch = last.get("epoch", cell.get("epochs"))
    for kind in ("recon", "samples"):
        path = os.path.join(folder, "grids", f"{kind}_epoch{epoch:03d}.png")
        if not os.path.isfile(path):
            problem(f"{path}: missing (the last epoch's grid)")


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir, want_all = argv[0], "--all" in argv[1:]
    js = strict_json(os.path.join(out_dir, "table1.json"))
    if js is None:
        return 1
    numbers_finite(js, "table1.json")
    if js.get("format") != "evae-table1-1":
        problem(f"table1.json: format {js.get('format')!r}")
    need(js, "profile", str, "table1.json")
    cells = need(js, "cells", list, "table1.json") or []
    need(js, "missing", list, "table1.json")
    finished = [c for c in cells if c.get("state") == "finished"]
    if js.get("finished") != len(finished):
        problem(f"table1.json: finished = {js.get('finished')}, {len(finished)} cells say so")
    if sorted(js.get("missing", [])) != sorted(c["name"] for c in cells if c not in finished):
        problem("table1.json: 'missing' is not the list of unfinished cells")
    if want_all and (not cells or len(finished) != len(cells)):
        problem(f"{len(finished)} of {len(cells)} cells finished; --all wants every one")
    for c in cells:
        for key, kind in (("index", int), ("name", str), ("dataset", str), ("prior", str),
                          ("seed", int), ("state", str), ("folder", str)):
            need(c, key, kind, f"cells[{c.get('index')}]")
        if c in finished:
            est = need(c, "estimates", dict, c["name"]) or {}
            for key in ESTIMATES[:-1]:
                e = need(est, key, dict, f"{c['name']}.estimates")
                if e:
                    need(e, "mean", float, f"{c['name']}.estimates.{key}")
                    need(e, "std_err", float, f"{c['name']}.estimates.{key}")
            check_cell(out_dir, c)
    results = need(js, "results", dict, "table1.json") or {}
    for ds, per in results.items():
        for prior, r in per.items():
            for key in ESTIMATES[:-1]:
                e = need(r.get("estimates", {}), key, dict, f"results.{ds}.{prior}")
                if e:
                    need(e, "mean", float, f"results.{ds}.{prior}.{key}")
    paper = need(js, "paper", dict, "table1.json") or {}
    rows = need(paper, "rows", list, "paper") or []
    if not any(r.get("mnist") == 71.77 and r.get("cifar10") == 5.98 for r in rows):
        problem("table1.json: the paper's row 71.77 / 5.98 is missing")
    verdicts = need(js, "verdicts", dict, "table1.json") or {}
    for key in ("gain", "optimism", "reproduced"):
        need(verdicts, key, dict, "verdicts")
    if want_all:  # with every cell there, every verdict has its numbers
        for ds in results:
            for key in ("gain", "optimism", "reproduced"):
                if ds not in verdicts.get(key, {}):
                    problem(f"verdicts.{key}: nothing for {ds}")
    figures = need(js, "figures", list, "table1.json") or []

    md_path = os.path.join(out_dir, "table1.md")
    try:
        with open(md_path) as f:
            md = f.read()
    except OSError as e:
        problem(f"{md_path}: {e}")
        md = ""
    for text in ("# Table 1", "| model | estimator |", "quoted from the paper", "71.77", "5.98",
                 "## Verdicts", "The energy prior against N(0, I)", "optimism",
                 "reproduced"):
        if text not in md:
            problem(f"{md_path}: no '{text}'")
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    if sorted(linked) != sorted(figures):
        problem(f"{md_path}: embeds {len(linked)} figures, table1.json lists {len(figures)}")
    if want_all and not figures:
        problem("no figures")
    for f in linked:
        if not os.path.isfile(os.path.join(out_dir, f)):
            problem(f"{md_path}: embeds {f}, which is missing")

    pngs = []
    for base, _, files in os.walk(out_dir):
        pngs += [os.path.join(base, f) for f in files if f.endswith(".png")]
    for p in sorted(pngs):
        check_png(p)
    print(f"check: {out_dir}: {len(finished)} of {len(cells)} cells, {len(pngs)} PNG files, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
