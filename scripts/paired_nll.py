#!/usr/bin/env python3
"""The difference of two models' importance-sampled NLLs, paired by test example.

    scripts/paired_nll.py RUN_A RUN_B [COLUMN]

reads RUN_A/eval_examples.csv and RUN_B/eval_examples.csv (written by `evae eval` on the same
test inputs: the same data, eval.seed and eval.test_limit) and prints mean(A - B) and its
standard error over the examples (sample sd / sqrt(n)). COLUMN is one of the file's
columns: nll_importance_sampling (default), neg_elbo, ... The difference carries the two log Z estimates' errors besides: add them (eval.json,
log_z.std_err) in quadrature for the full uncertainty.
"""
import math
import sys


def read(run, column):
    path = f"{run}/eval_examples.csv"
    with open(path) as f:
        header = f.readline().strip().split(",")
        if header[:1] != ["example"] or column not in header:
            sys.exit(f"{path}: not an eval_examples.csv with a '{column}' column")
        k = header.index(column)
        return [float(line.split(",")[k]) for line in f if line.strip()]


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip().splitlines()[2].strip())
    column = sys.argv[3] if len(sys.argv) == 4 else "nll_importance_sampling"
    a, b = read(sys.argv[1], column), read(sys.argv[2], column)
    if len(a) != len(b) or len(a) < 2:
        sys.exit(f"{len(a)} and {len(b)} examples: the runs were not evaluated on the same set")
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    print(f"{column}: mean(A - B) = {mean:.4f} +- {sd / math.sqrt(n):.4f} over {n} examples")


if __name__ == "__main__":
    main()
