/* eval_examples.csv of `evae eval` (evae/eval/eval.h): every estimate per test example, so that
 * two models evaluated on the same inputs (the same test set and eval.seed) can be compared
 * example by example; the SE of a paired difference is far smaller than either model's SE over
 * examples. */
#include "evae/eval/eval.h"

#include <stdio.h>

#include "evae/io/atomic_file.h"

typedef struct examples_table {
    const evae_is_examples *ex;
    const double *cls_vlb; /* [n] */
    double log_z;
} examples_table;

static int write_rows(FILE *f, void *ctx)
{
    const examples_table *t = ctx;
    const evae_is_examples *ex = t->ex;
    fputs("example,nll_importance_sampling,nll_self_normalized_eq4,neg_vlb_self_normalized_eq3,"
          "neg_vlb_classifier,neg_elbo,neg_alb,reconstruction,log_det\n", f);
    /* %.17g: the doubles as they are, so means and paired differences come out exactly */
    for (int e = 0; e < ex->n; e++)
        fprintf(f, "%d,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n", e,
                -(ex->lme_a[e] - t->log_z), -(ex->lme_a[e] - ex->lme_c[e]),
                -(ex->mean_a[e] - ex->lme_c[e]), -t->cls_vlb[e], -(ex->alb[e] - t->log_z),
                -ex->alb[e], -ex->ll[e], ex->log_det[e]);
    return 0;
}

int evae_eval_write_examples(const char *path, const evae_is_examples *ex, const double *cls_vlb,
                             double log_z)
{
    examples_table t = {ex, cls_vlb, log_z};
    return evae_atomic_write(path, write_rows, &t);
}
