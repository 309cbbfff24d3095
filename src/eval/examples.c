/* The per-example estimates of `evae eval` (evae/eval/eval.h): eval_examples.tsv, one line per
 * test example, so that two models evaluated on the same test set (the same inputs: eval.seed)
 * can be compared example by example, with the standard error of the paired difference. */
#include "evae/eval/eval.h"

#include <stdio.h>

#include "evae/io/atomic_file.h"

typedef struct examples_ctx {
    const evae_is_examples *ex;
    double log_z;
} examples_ctx;

static int write_examples(FILE *f, void *ctx)
{
    const examples_ctx *c = ctx;
    fprintf(f, "example\tnll_is\tneg_elbo\n");
    for (int e = 0; e < c->ex->n; e++)
        fprintf(f, "%d\t%.6f\t%.6f\n", e, -(c->ex->lme_a[e] - c->log_z),
                -(c->ex->alb[e] - c->log_z));
    return 0; /* write errors show when the file is flushed */
}

int evae_eval_write_examples(const char *out_dir, const evae_is_examples *ex, double log_z)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/eval_examples.tsv", out_dir);
    examples_ctx c = {ex, log_z};
    return evae_atomic_write(path, write_examples, &c);
}
