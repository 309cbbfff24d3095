"""The numbers of Table 1 from the cell folders of an experiments/table1.sh run (standard library
only; report.py writes them out).

Each finished cell holds eval.json and eval_examples.csv (one row per test example, one column
per estimator, as -log-likelihoods in nats). Everything below is computed from those rows:

- per cell and estimator: the mean over test examples and its standard error, in the table's
  unit (nats for MNIST, bits/dim for CIFAR-10: b = (v - log_det) / (D ln 2) + 8);
- per data set and prior: the mean and the standard deviation of the cell means over seeds;
- the verdicts, each a difference with its standard error (SE) and a rule stated beside it:
  * gain: an energy prior's IS NLL below N(0, I)'s, paired by test example (the same test set
    and eval.seed, so the same binarization or dequantization), per seed; its SE is that of the
    paired differences plus log Z's (AIS's SE, in quadrature; N(0, I)'s is exact);
  * optimism: IS NLL minus each of the paper's estimators, per example of the same cell, for
    every prior; SE as above (the paper's estimators contain no log Z, IS does);
  * reproduced: the paper's 71.77 nats / 5.98 bits/dim against the GRBM cells under the paper's
    estimator (the classifier of Algorithm 2) and under IS.
  Over S seeds a difference is the mean of the per-seed differences, with
  SE = sqrt(sd_seeds^2 / S + mean_s(SE_s^2) / S): the spread over seeds (training) plus the
  evaluation's own error, counted twice when S > 1 (a conservative sum); one seed gives SE_1.
  A difference is called resolved when it exceeds Z = 2 SEs.
"""
import csv
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cell_state  # noqa: E402

Z = 2.0  # a difference counts when it is more than Z standard errors from zero

# (key in eval.json and eval_examples.csv, label, whether the estimate contains log Z)
ESTIMATORS = [
    ("nll_importance_sampling", "NLL, importance sampling with AIS log Z (the honest estimate)",
     True),
    ("neg_vlb_classifier", "−VLB, the paper's classifier estimate (Algorithm 2)", False),
    ("nll_self_normalized_eq4", "NLL, self-normalized (paper eq. 4)", False),
    ("neg_vlb_self_normalized_eq3", "−VLB, self-normalized (paper eq. 3)", False),
    ("neg_elbo", "−ELBO = −(ALB − log Z)", True),
    ("neg_alb", "−ALB, the training objective (not a bound on ln p(x))", False),
]
HONEST = "nll_importance_sampling"
PAPER_ESTIMATORS = ["neg_vlb_classifier", "nll_self_normalized_eq4",
                    "neg_vlb_self_normalized_eq3"]
PAPER_ESTIMATOR = "neg_vlb_classifier"  # what the paper's Table 1 reports for its model
BASELINE = "gaussian"
DATASETS = {"mnist": ("MNIST", "nats"), "cifar10": ("CIFAR-10", "bits/dim")}

# Table 1 of the paper, as printed there (MNIST: nats on binarized MNIST; CIFAR-10: bits/dim).
PAPER_SOURCE = ("Table 1 of Variational Inference with Unnormalized Priors (test data; quoted "
                "from the paper, not measured here)")
PAPER_ROWS = [
    ("NVAE w/o flow (Vahdat & Kautz, 2021)", 78.01, 2.93),
    ("IAF-VAE (Kingma & Dhariwal, 2018)", 79.10, 3.11),
    ("CR-NVAE (Sinha & Dieng, 2022)", 76.93, 2.51),
    ("BFN (Graves et al., 2024)", 77.87, 2.66),
    ("MAF (10) (Papamakarios et al., 2018)", None, 4.31),
    ("VAE w/ GRBM prior (the paper's model)", 71.77, 5.98),
]
PAPER_EVAE = {"mnist": 71.77, "cifar10": 5.98}
PAPER_TEST_EXAMPLES = 10000  # both official test sets


def mean_sd(xs):
    """Mean and sample standard deviation (None for fewer than two values)."""
    n = len(xs)
    m = sum(xs) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)) if n > 1 else None
    return m, sd


def mean_se(xs):
    m, sd = mean_sd(xs)
    return m, (sd / math.sqrt(len(xs)) if sd is not None else None)


def combine_seeds(values, std_errs):
    """Mean over seeds of per-seed values with their SEs, and its SE (module docstring)."""
    s = len(values)
    m, sd = mean_sd(values)
    within = sum(e * e for e in std_errs) / s
    if s == 1:
        return m, math.sqrt(within)
    return m, math.sqrt(sd * sd / s + within / s)


def verdict_of(value, std_err):
    """+1 when value > Z SE, -1 when value < -Z SE, else 0."""
    if value > Z * std_err:
        return 1
    if value < -Z * std_err:
        return -1
    return 0


def read_kv(path):
    out = {}
    with open(path) as f:
        for line in f:
            key, sep, value = line.rstrip("\n").partition("=")
            if sep:
                out[key] = value
    return out


def read_ini(path):
    """evae's config.ini as {"section.key": "value"} (keys before any section keep no prefix)."""
    out, section = {}, ""
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in ";#":
                continue
            if line.startswith("["):
                section = line.strip("[]").strip()
                continue
            key, sep, value = line.partition("=")
            if sep:
                value = value.split(" ;")[0].split(" #")[0].strip()
                out[f"{section}.{key.strip()}" if section else key.strip()] = value
    return out


def read_metrics(path):
    """The epoch summary lines of metrics.jsonl (those with epoch_time_s), by epoch."""
    epochs = {}
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        for line in f:
            try:
                o = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            if "epoch_time_s" in o:
                epochs[o["epoch"]] = o
    return [epochs[e] for e in sorted(epochs)]


class Cell:
    """One cell: its place in the list and, when finished, its evaluation."""

    def __init__(self, out_dir, row):
        self.index = int(row["index"])
        self.name, self.dataset, self.prior = row["name"], row["dataset"], row["prior"]
        self.seed = int(row["seed"])
        self.dir = os.path.join(out_dir, "cells", self.name)
        self.state = "new"
        self.eval = None
        self.examples = None  # {column: [values per test example]}
        self.metrics = []
        self.config = {}
        if not os.path.isdir(self.dir):
            return
        args_path = os.path.join(self.dir, "cell.args")
        config_path = os.path.join(self.dir, "config.ini")
        if not (os.path.isfile(args_path) and os.path.isfile(config_path)):
            self.state = "started"
            return
        self.args = read_kv(args_path)
        self.config = read_ini(config_path)
        self.epochs = int(self.config["train.epochs"])
        self.state = cell_state.state(self.dir, self.epochs, self.args.get("eval", "").split())
        self.metrics = read_metrics(os.path.join(self.dir, "metrics.jsonl"))
        if self.state != "finished":
            return
        with open(os.path.join(self.dir, "eval.json")) as f:
            self.eval = json.load(f)
        with open(os.path.join(self.dir, "eval_examples.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        self.examples = {k: [float(r[k]) for r in rows] for k in rows[0] if k != "example"}
        n = self.eval["test_set"]["examples"]
        if len(rows) != n:
            raise ValueError(f"{self.dir}/eval_examples.csv: {len(rows)} rows, eval.json says "
                             f"{n} test examples")

    @property
    def finished(self):
        return self.state == "finished"

    @property
    def bits_per_dim(self):
        return self.dataset == "cifar10"

    def scale(self):
        """Nats per unit of the table: 1, or D ln 2 for bits/dim."""
        return self.eval["test_set"]["data_dim"] * math.log(2.0) if self.bits_per_dim else 1.0

    def values(self, key):
        """Per-example values of estimator key in the table's unit."""
        v = self.examples[key]
        if not self.bits_per_dim:
            return v
        s = self.scale()
        return [(x - ld) / s + 8.0 for x, ld in zip(v, self.examples["log_det"])]

    def log_z_se(self):
        """log Z's standard error in the table's unit (0 when exact)."""
        return self.eval["log_z"]["std_err"] / self.scale()

    def estimate(self, key, with_log_z):
        """Mean over examples and its SE (log Z's included where the estimate holds it)."""
        m, se = mean_se(self.values(key))
        if with_log_z:
            se = math.sqrt(se * se + self.log_z_se() ** 2)
        return m, se

    def paired(self, key_a, other, key_b, log_z_cells):
        """Mean and SE of a_e - b_e over the examples (a: this cell's key_a, b: other's key_b),
        plus the log Z SEs of log_z_cells."""
        a, b = self.values(key_a), other.values(key_b)
        m, se = mean_se([x - y for x, y in zip(a, b)])
        return m, math.sqrt(se * se + sum(c.log_z_se() ** 2 for c in log_z_cells))

    def pairing_key(self):
        """What must agree for two cells' examples to be the same inputs."""
        ts = self.eval["test_set"]
        return (self.dataset, self.config.get("data.dir"), self.config.get("data.validation"),
                ts["name"], ts["examples"], ts["seed"])

    def test_set_text(self):
        ts = self.eval["test_set"]
        return f"{ts['examples']:,} {ts['name']} examples"

    def official_test_set(self):
        ts = self.eval["test_set"]
        return ts["name"] == "test" and ts["examples"] == PAPER_TEST_EXAMPLES


def load(out_dir):
    """The cells of cells.tsv (written by table1.sh) and the profile."""
    with open(os.path.join(out_dir, "cells.tsv"), newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    profile = read_kv(os.path.join(out_dir, "profile.txt"))
    return profile, [Cell(out_dir, r) for r in rows]


def seed_result(values, std_errs, seeds):
    m, se = combine_seeds(values, std_errs)
    return {"mean": m, "std_err": se, "seeds": seeds,
            "per_seed": [{"seed": s, "value": v, "std_err": e}
                         for s, v, e in zip(seeds, values, std_errs)],
            "verdict": verdict_of(m, se)}


def analyse(out_dir):
    """Everything table1.json holds, as plain data."""
    profile, cells = load(out_dir)
    done = [c for c in cells if c.finished]
    groups = {}  # (dataset, prior) -> finished cells by seed
    for c in done:
        groups.setdefault((c.dataset, c.prior), []).append(c)
    results = {}
    for (ds, prior), cs in sorted(groups.items()):
        cs.sort(key=lambda c: c.seed)
        est = {}
        for key, label, with_log_z in ESTIMATORS:
            per = [c.estimate(key, with_log_z) for c in cs]
            m, sd = mean_sd([p[0] for p in per])
            e = {"label": label, "mean": m, "seeds": [c.seed for c in cs],
                 "values": [p[0] for p in per], "std_errs": [p[1] for p in per]}
            if sd is not None:
                e["sd_over_seeds"] = sd
            est[key] = e
        results.setdefault(ds, {})[prior] = {
            "unit": DATASETS[ds][1], "test_set": cs[0].test_set_text(),
            "official_test_set": cs[0].official_test_set(), "estimates": est}

    verdicts = {"rule": f"resolved when more than {Z:g} standard errors from zero",
                "gain": {}, "optimism": {}, "reproduced": {}, "unpaired": []}
    for ds in DATASETS:
        base = {c.seed: c for c in groups.get((ds, BASELINE), [])}
        for (gds, prior), cs in sorted(groups.items()):
            if gds != ds or prior == BASELINE:
                continue
            vals, ses, seeds = [], [], []
            for c in cs:
                b = base.get(c.seed)
                if b is None:
                    continue
                if b.pairing_key() != c.pairing_key():
                    verdicts["unpaired"].append(f"{c.name} / {b.name}: different test inputs")
                    continue
                m, se = b.paired(HONEST, c, HONEST, [b, c])  # N(0, I) minus the energy prior
                vals.append(m)
                ses.append(se)
                seeds.append(c.seed)
            if vals:
                r = seed_result(vals, ses, seeds)
                r.update({"prior": prior, "baseline": BASELINE, "estimator": HONEST,
                          "unit": DATASETS[ds][1], "test_set": cs[0].test_set_text(),
                          "meaning": "IS NLL of N(0, I) minus that of the energy prior, paired "
                                     "by test example; > 0: the energy prior is better"})
                verdicts["gain"].setdefault(ds, {})[prior] = r
        for (gds, prior), cs in sorted(groups.items()):
            if gds != ds:
                continue
            for key in PAPER_ESTIMATORS:
                per = [c.paired(HONEST, c, key, [c]) for c in cs]
                r = seed_result([p[0] for p in per], [p[1] for p in per], [c.seed for c in cs])
                r.update({"estimator": key, "unit": DATASETS[ds][1],
                          "meaning": "IS NLL minus the estimator, paired by test example; > 0: "
                                     "the estimator reports a better model than IS"})
                verdicts["optimism"].setdefault(ds, {}).setdefault(prior, {})[key] = r
        cs = groups.get((ds, "grbm"), [])
        if cs:
            paper = PAPER_EVAE[ds]
            rep = {"paper_value": paper, "unit": DATASETS[ds][1],
                   "test_set": cs[0].test_set_text(),
                   "official_test_set": cs[0].official_test_set()}
            for role, key in (("paper_estimator", PAPER_ESTIMATOR), ("honest", HONEST)):
                with_log_z = key == HONEST
                per = [c.estimate(key, with_log_z) for c in cs]
                m, se = combine_seeds([p[0] for p in per], [p[1] for p in per])
                # the paper's number has a test-set error too: ours per example, over its 10,000
                sd_e = sum(mean_sd(c.values(key))[1] for c in cs) / len(cs)
                se_paper = sd_e / math.sqrt(PAPER_TEST_EXAMPLES)
                tol = Z * math.sqrt(se * se + se_paper * se_paper)
                rep[role] = {"estimator": key, "mean": m, "std_err": se,
                             "paper_std_err_assumed": se_paper, "difference": m - paper,
                             "tolerance": tol, "reproduced": abs(m - paper) <= tol,
                             "seeds": [c.seed for c in cs]}
            verdicts["reproduced"][ds] = rep
    missing = [c for c in cells if not c.finished]
    return {"profile": profile, "cells": cells, "results": results, "verdicts": verdicts,
            "missing": missing}
