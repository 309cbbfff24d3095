"""table1.md, table1.json and figures/*.png from an experiments/table1.sh run.

    report.py OUT_DIR [--no-figures]

Reads the cells OUT_DIR/cells.tsv lists; uses the finished ones (analysis.py computes every
number), names the missing ones. Figures (matplotlib, Agg): per data set the training curves of
every cell, and per cell the paper's Figure 1 / 2 (held-out images above their reconstructions;
prior samples) from the PNG grids of its last epoch. Every file is written to a temporary name
and renamed, so a report being rewritten is never read half-written.
"""
import datetime
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import analysis as A  # noqa: E402

FORMAT = "evae-table1-1"


def replace_file(path, text_or_bytes):
    tmp = f"{path}.tmp{os.getpid()}"
    mode = "wb" if isinstance(text_or_bytes, bytes) else "w"
    with open(tmp, mode) as f:
        f.write(text_or_bytes)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def decimals(unit, se=None):
    """2 decimals for nats, 3 for bits/dim; more when the SE needs them (its 2 leading digits)."""
    d = 3 if unit == "bits/dim" else 2
    if se and se > 0:
        d = max(d, min(8, 1 - math.floor(math.log10(se))))
    return d


def fmt(x, unit, se=None):
    return f"{x:.{decimals(unit, se)}f}"


def fmt_pm(m, se, unit):
    return f"{fmt(m, unit, se)} ± {fmt(se, unit, se)}"


def prior_label(prior):
    if prior.startswith("grbm-"):  # the energy prior under another objective than ssm
        return f"GRBM prior, {prior[5:]}"
    return {"grbm": "GRBM prior", "gaussian": "N(0, I) prior"}.get(prior, f"{prior} prior")


# ---- figures ----

def figures(out_dir, cells, results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.image as mpimg
    from matplotlib.ticker import MaxNLocator

    fig_dir = os.path.join(out_dir, "figures")
    os.makedirs(fig_dir, exist_ok=True)
    made = []

    def save(fig, name):
        path = os.path.join(fig_dir, name)
        tmp = f"{path}.tmp{os.getpid()}.png"
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        plt.close(fig)
        os.replace(tmp, path)
        made.append(f"figures/{name}")

    priors = sorted({c.prior for c in cells})
    colors = {p: f"C{i}" for i, p in enumerate(priors)}
    styles = ["-", "--", ":", "-."]
    for ds, (ds_label, _) in A.DATASETS.items():
        runs = [c for c in cells if c.dataset == ds and c.metrics]
        if not runs:
            continue
        held = "validation" if any("validation_alb" in m for m in runs[0].metrics) else "test"
        # the prior's loss: whatever train_* key besides the ALB and the reconstruction a run
        # logs (train_ssm for score matching; none for N(0, I))
        prior_keys = sorted({n for c in runs for m in c.metrics for n in m
                             if n.startswith("train_") and n not in ("train_alb", "train_recon")})
        panels = [
            (f"{held}_alb", f"{held} ALB (nats; not a bound, higher is better)"),
            (f"{held}_recon", f"{held} reconstruction E_q ln p(x|z) (nats)"),
            (None, f"the prior's training loss ({', '.join(prior_keys) or 'none logged'})"),
            (f"{held}_elbo", f"{held} ELBO = ALB − log Z ± SE (nats; a bound, higher is better)"),
        ]
        fig, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
        for ax, (key, title) in zip(axes.flat, panels):
            for c in runs:
                k = key
                if k is None:  # whichever prior loss the run logs (none for N(0, I))
                    k = next((n for m in c.metrics for n in m
                              if n.startswith("train_") and n not in ("train_alb", "train_recon")),
                             None)
                pts = [(m["epoch"], m[k], m.get(f"{k}_std_err")) for m in c.metrics
                       if k and k in m]
                if not pts:
                    continue
                x = [p[0] for p in pts]
                y = [p[1] for p in pts]
                kw = dict(color=colors[c.prior], linestyle=styles[(c.seed - 1) % len(styles)],
                          label=f"{prior_label(c.prior)}, seed {c.seed}")
                if key and key.endswith("_elbo"):
                    ax.errorbar(x, y, yerr=[p[2] or 0 for p in pts], marker="o", ms=3,
                                capsize=2, **kw)
                else:
                    ax.plot(x, y, **kw)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
        fig.suptitle(f"{ds_label}: training curves of every cell")
        save(fig, f"curves_{ds}.png")

    for c in cells:
        if not c.metrics:
            continue
        last = c.metrics[-1]["epoch"]
        grids = os.path.join(c.dir, "grids")
        recon = os.path.join(grids, f"recon_epoch{last:03d}.png")
        samples = os.path.join(grids, f"samples_epoch{last:03d}.png")
        if not (os.path.isfile(recon) and os.path.isfile(samples)):
            continue
        steps = c.config.get("sample.steps", "?")
        sampler = c.config.get("sample.sampler", "langevin").capitalize()
        fig, axes = plt.subplots(1, 2, figsize=(10, 5.4), constrained_layout=True)
        for ax, path, title in (
                (axes[0], recon, "held-out images (top half) above their reconstructions"),
                (axes[1], samples, f"prior samples after {steps} {sampler} steps")):
            img = mpimg.imread(path)
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        fig_no = 1 if c.dataset == "mnist" else 2
        fig.suptitle(f"As the paper's Figure {fig_no}: {A.DATASETS[c.dataset][0]}, "
                     f"{prior_label(c.prior)}, seed {c.seed}, epoch {last}")
        save(fig, f"samples_{c.name}.png")
    return made


# ---- table1.json ----

def cell_json(c):
    o = {"index": c.index, "name": c.name, "dataset": c.dataset, "prior": c.prior,
         "seed": c.seed, "state": c.state, "folder": os.path.join("cells", c.name)}
    if c.finished:
        ts = c.eval["test_set"]
        o.update({"test_set": ts["name"], "test_examples": ts["examples"],
                  "eval_seed": ts["seed"], "epochs": c.eval["checkpoint_epoch"],
                  "log_z": c.eval["log_z"]["value"],
                  "log_z_std_err": c.eval["log_z"]["std_err"],
                  "unit": A.DATASETS[c.dataset][1],
                  "estimates": {k: dict(zip(("mean", "std_err"), c.estimate(k, z)))
                                for k, _, z in A.ESTIMATORS}})
        if c.metrics:
            o["training_time_s"] = sum(m["epoch_time_s"] for m in c.metrics)
        o["evaluation_time_s"] = c.eval["timing"]["total"]["wall_s"]
    return o


def build_json(r, made):
    return {
        "format": FORMAT,
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "profile": r["profile"].get("profile", "?"),
        "seeds": int(r["profile"].get("seeds", 0)),
        "orientation": "every value is -log-likelihood-like: lower is better",
        "cells": [cell_json(c) for c in r["cells"]],
        "finished": sum(c.finished for c in r["cells"]),
        "missing": [c.name for c in r["missing"]],
        "results": r["results"],
        "paper": {"source": A.PAPER_SOURCE,
                  "rows": [{"model": m, **({"mnist": a} if a is not None else {}),
                            "cifar10": b} for m, a, b in A.PAPER_ROWS]},
        "verdicts": r["verdicts"],
        "figures": made,
    }


# ---- table1.md ----

def gain_text(ds, prior, g):
    u = g["unit"]
    head = (f"{A.DATASETS[ds][0]}: N(0, I)'s IS NLL minus the {prior_label(prior)}'s is "
            f"**{fmt_pm(g['mean'], g['std_err'], u)} {u}** (seeds {', '.join(map(str, g['seeds']))}"
            f"; paired over the same {g['test_set']})")
    says = {1: f"the {prior_label(prior)} is better than N(0, I)",
            -1: f"the {prior_label(prior)} is worse than N(0, I)",
            0: "no difference is resolved"}[g["verdict"]]
    per = "; ".join(f"seed {p['seed']}: {fmt_pm(p['value'], p['std_err'], u)}"
                    for p in g["per_seed"])
    return f"- {head}: **{says}**. Per seed: {per}."


def optimism_text(ds, prior, key, o):
    u = o["unit"]
    label = dict((k, l) for k, l, _ in A.ESTIMATORS)[key]
    says = {1: "optimistic (reports a better model than IS)",
            -1: "pessimistic (reports a worse model than IS)",
            0: "not resolved from IS"}[o["verdict"]]
    return (f"| {A.DATASETS[ds][0]} | {prior_label(prior)} | {label} | "
            f"{fmt_pm(o['mean'], o['std_err'], u)} {u} | {says} |")


def reproduced_text(ds, rep):
    u = rep["unit"]
    lines = []
    for role, name in (("paper_estimator", "the paper's estimator (Algorithm 2)"),
                       ("honest", "the honest estimator (IS with AIS log Z)")):
        x = rep[role]
        ok = "**reproduced**" if x["reproduced"] else "**not reproduced**"
        lines.append(
            f"- {A.DATASETS[ds][0]}, {name}: {fmt_pm(x['mean'], x['std_err'], u)} {u} against "
            f"the paper's {fmt(rep['paper_value'], u)}: difference {x['difference']:+.3f}, "
            f"tolerance ± {x['tolerance']:.3f} ({A.Z:g} x the SE of the difference, with the "
            f"paper's SE taken as ours per example over {A.PAPER_TEST_EXAMPLES:,} test examples): "
            f"{ok}.")
    if not rep["official_test_set"]:
        lines.append(f"  (Measured on {rep['test_set']}, not the official 10,000-image test set "
                     f"the paper reports on: a caveat on either verdict.)")
    return lines


def build_md(r, made, js):
    P = []
    cells = r["cells"]
    P.append(f"# Table 1, reproduced: profile `{js['profile']}`\n")
    P.append(f"Generated {js['generated']} by `experiments/table1/report.py` from "
             f"{js['finished']} of {len(cells)} cells ({js['seeds']} seed(s) per data set and "
             f"prior). Every value is −log-likelihood-like (**lower is better**): nats for MNIST, "
             f"bits/dim of the 8-bit images for CIFAR-10.\n")
    if r["missing"]:
        P.append("**Missing cells** (not in the numbers below): " +
                 ", ".join(f"{c.name} ({c.state})" for c in r["missing"]) + ".\n")
    P.append("## Table 1\n")
    P.append("Ours: the mean over seeds ± the standard deviation over seeds, (n) seeds; with one "
             "seed, ± is the standard error over test examples (log Z's included where the "
             "estimate holds it).\n")
    head = "| model | estimator | " + " | ".join(
        f"{lbl} ({u})" for lbl, u in A.DATASETS.values()) + " |"
    P.append(head)
    P.append("|---|---|" + "---|" * len(A.DATASETS))
    priors = sorted({p for ds in r["results"].values() for p in ds},
                    key=lambda p: (p == A.BASELINE, p))
    for prior in priors:
        for key, label, _ in A.ESTIMATORS:
            row = [f"evae, {prior_label(prior)}", label if key != A.HONEST else f"**{label}**"]
            for ds in A.DATASETS:
                res = r["results"].get(ds, {}).get(prior)
                if not res:
                    row.append("—")
                    continue
                e, u = res["estimates"][key], res["unit"]
                n = len(e["seeds"])
                spread = e.get("sd_over_seeds", e["std_errs"][0])
                txt = f"{fmt(e['mean'], u)} ± {fmt(spread, u)} ({n})"
                row.append(f"**{txt}**" if key == A.HONEST else txt)
            P.append("| " + " | ".join(row) + " |")
    for model, a, b in A.PAPER_ROWS:
        vals = ["—" if a is None else f"{a:.2f}", f"{b:.2f}"]
        P.append(f"| {model} | quoted from the paper | " + " | ".join(vals) + " |")
    tests = []
    for ds, (label, _) in A.DATASETS.items():
        if ds in r["results"]:
            tests.append(f"{label}: {next(iter(r['results'][ds].values()))['test_set']}")
    P.append(f"\nOurs measured on {'; '.join(tests)}. The paper's rows: {A.PAPER_SOURCE}.\n")

    v = r["verdicts"]
    P.append("## Verdicts (computed from the numbers above)\n")
    P.append(f"A difference is resolved when it is more than {A.Z:g} standard errors from zero. "
             "Over several seeds it is the mean of the per-seed differences, its SE "
             "sqrt(sd_seeds²/S + mean SE_s²/S); each SE_s is that of the paired per-example "
             "differences plus log Z's (AIS) in quadrature.\n")
    P.append("**The energy prior against N(0, I), under the honest estimator** (IS NLL with AIS "
             "log Z, paired by test example and binarization: the same test set and eval.seed)\n")
    if v["gain"]:
        for ds, per in v["gain"].items():
            for prior, g in per.items():
                P.append(gain_text(ds, prior, g))
    else:
        P.append("- not computed: no data set has both priors finished for the same seed.")
    for u in v["unpaired"]:
        P.append(f"- not paired: {u}")
    P.append("\n**The optimism of the paper's estimators against IS** (IS NLL minus the "
             "estimate, paired by test example)\n")
    P.append("| data set | prior | estimator | IS − estimate | verdict |")
    P.append("|---|---|---|---|---|")
    for ds, per in v["optimism"].items():
        for prior, est in per.items():
            for key, o in est.items():
                P.append(optimism_text(ds, prior, key, o))
    P.append("\n**Whether the paper's 71.77 nats (MNIST) and 5.98 bits/dim (CIFAR-10) are "
             "reproduced** (GRBM prior)\n")
    if v["reproduced"]:
        for ds, rep in v["reproduced"].items():
            P.extend(reproduced_text(ds, rep))
    else:
        P.append("- not computed: no GRBM cell is finished.")

    P.append("\n## Cells\n")
    P.append("| index | cell | state | held-out set | epochs | log Z | IS NLL | classifier | "
             "eq. 4 | −ELBO | −ALB | train s | eval s |")
    P.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c, cj in zip(cells, js["cells"]):
        if not c.finished:
            P.append(f"| {c.index} | {c.name} | {c.state} |" + " |" * 10)
            continue
        u = cj["unit"]
        ests = [fmt_pm(*c.estimate(k, z), u) for k, _, z in A.ESTIMATORS if k not in
                ("neg_vlb_self_normalized_eq3",)]
        exact = c.eval["log_z"].get("estimator", "").startswith("exact")
        lz = f"{cj['log_z']:.4f} " + ("(exact)" if exact else f"± {cj['log_z_std_err']:.4f}")
        P.append(f"| {c.index} | {c.name} | finished | {c.test_set_text()} | {cj['epochs']} | "
                 f"{lz} | " + " | ".join(ests) +
                 f" | {cj.get('training_time_s', 0):.0f} | {cj['evaluation_time_s']:.0f} |")
    P.append("\nPer cell: mean ± SE over its test examples, in the table's unit. Each cell's "
             "folder holds its run (config.ini, metrics.jsonl, checkpoint, grids/) and "
             "evaluation (eval.json, eval.md, eval_examples.csv).\n")
    if made:
        P.append("## Figures\n")
        for f in made:
            if f.startswith("figures/curves_"):
                P.append(f"![training curves]({f})\n")
        for f in made:
            if f.startswith("figures/samples_"):
                P.append(f"![{f[len('figures/samples_'):-4]}]({f})\n")
    return "\n".join(P) + "\n"


def main(argv):
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = argv[0]
    r = A.analyse(out_dir)
    made = [] if "--no-figures" in argv else figures(out_dir, r["cells"], r["results"])
    js = build_json(r, made)
    replace_file(os.path.join(out_dir, "table1.json"),
                 json.dumps(js, indent=1, allow_nan=False) + "\n")  # NaN: ValueError
    replace_file(os.path.join(out_dir, "table1.md"), build_md(r, made, js))
    print(f"wrote {out_dir}/table1.md, table1.json and {len(made)} figures "
          f"({js['finished']} of {len(r['cells'])} cells finished)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
