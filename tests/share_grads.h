/* One training step's gradients of a batch split into the shares of N ranks, added up on the host,
 * for the tests of data parallelism (test_batch_shares.c in one process, tests/mpi/ across ranks).
 *
 * Tolerance: the whole batch and the shares compute the same sums in a different order (the
 * batch dimension of the weight-gradient products is split, and OpenBLAS may pick other kernels
 * for other row counts). A float sum of n terms t_i in any order is within gamma_n sum |t_i| of
 * the exact sum (gamma_n = n u / (1 - n u), Higham 2002, eq. 4.4). Each gradient element is a sum
 * over the batch of per-example contributions g_b, each itself a chain of products through the
 * network's layers; n counts every addition on the longest path: the batch (B) and the inner
 * dimension of every layer's forward and backward product (the layer widths; for a convolution
 * its feature maps' sizes, which bound both its inner sums and its sums over positions). The
 * magnitude sum_b |g_b| is measured with B one-example shares. The same bound holds for both
 * computations, so they differ by at most twice it. A per-example value (the ALB) is the same
 * chain of operations in both, so it differs by at most 2 gamma_n times the magnitudes of the
 * terms it adds (|ln p(x|z)| + |E(z)| + |entropy|). */
#ifndef EVAE_TESTS_SHARE_GRADS_H
#define EVAE_TESTS_SHARE_GRADS_H

#include "run_helpers.h" /* first: its feature macro must come before the system headers */

#include "check.h"
#include "compare.h"
#include "evae/cli/run.h"
#include "evae/model/input.h"
#include "evae/model/prior_fit.h"
#include "evae/model/train_step.h"

typedef struct setup {
    evae_config cfg;
    evae_model m;
    evae_workspace w;
    evae_prior_fit fit, *prior; /* the prior's objective; prior NULL for N(0, I) */
    float *data;   /* [n, x_dim] resident training set */
    int *idx;      /* [B] the batch's examples (backend) */
    int B;
} setup;

static inline void setup_make(setup *t, const char *ini, const char *const *overrides, int B)
{
    test_config(&t->cfg, ini, overrides);
    evae_dataset tr = {0}, te = {0};
    const char *name;
    if (evae_load_data(&t->cfg, &tr, &te, &name)) exit(1);
    const evae_backend *be = evae_cpu_backend();
    evae_model_shape shape = evae_shape_from_config(&t->cfg, tr.channels, tr.height, tr.width);
    if (evae_model_create(&t->m, be, &shape)) exit(1);
    evae_model_init(&t->m, (uint64_t)t->cfg.train.seed);
    evae_workspace_create(&t->w, &t->m, B, t->cfg.ssm.projections);
    t->prior = shape.prior_grbm ? &t->fit : NULL;
    if (t->prior) {
        evae_prior_fit_create(t->prior, &t->m, &t->cfg, B);
        evae_prior_fit_start(t->prior, &t->m, (uint64_t)t->cfg.train.seed);
    }
    t->data = evae_upload_dataset(be, &tr, t->m.decoder == EVAE_DEC_BERNOULLI);
    int *perm = xmalloc((size_t)tr.n * sizeof(int));
    evae_shuffle(perm, tr.n, (uint64_t)t->cfg.train.seed, 0);
    t->idx = be->alloc(be, (size_t)B * sizeof(int));
    be->upload(be, t->idx, perm, (size_t)B * sizeof(int));
    t->B = B;
    free(perm);
    evae_dataset_free(&tr);
    evae_dataset_free(&te);
}

static inline void setup_free(setup *t)
{
    const evae_backend *be = t->m.be;
    be->free(be, t->data);
    be->free(be, t->idx);
    evae_workspace_free(&t->w, &t->m);
    if (t->prior) evae_prior_fit_free(t->prior);
    evae_model_free(&t->m);
}

typedef struct split_result {
    double *grads, *theta; /* [n_params], [n_theta]: sums over the shares (or of |parts|) */
    float *alb;            /* [B] per example, from its share */
    double *alb_mag;       /* [B] |ll| + |E| + |entropy|: the magnitude of the ALB's terms */
    float scale;           /* the calibrated Laplace scale of the batch */
} split_result;

/* The first step's gradients (global step 0) of the batch split into `size` shares, added up in
 * double (absolute values of the parts when magnitude), as the ranks' reduction would. */
static inline split_result run_split(setup *t, int size, int magnitude)
{
    evae_model *m = &t->m;
    evae_workspace *w = &t->w;
    const evae_backend *be = m->be;
    const int D = m->x_dim;
    split_result r = {xmalloc(m->n_params * sizeof(double)), xmalloc(m->n_theta * sizeof(double)),
                      xmalloc((size_t)t->B * sizeof(float)),
                      xmalloc((size_t)t->B * sizeof(double)), 0.0f};
    float *terms = xmalloc((size_t)t->B * sizeof(float)); /* [B] ll, E or entropy */
    memset(r.grads, 0, m->n_params * sizeof(double));
    memset(r.theta, 0, m->n_theta * sizeof(double));
    double l1 = 0.0; /* the batch's L1 error: what the ranks' host reduction sums */
    for (int k = 0; k < size; k++) {
        evae_share s = evae_share_of(t->B, k, size);
        if (s.count) be->gather_rows(be, w->p, t->data, t->idx + s.offset, s.count, D);
        l1 += evae_step_forward(m, w, s, &t->cfg, 0);
    }
    r.scale = evae_step_scale(m, l1, t->B);
    float *g = xmalloc(m->n_params * sizeof(float)), *th = xmalloc(m->n_theta * sizeof(float));
    for (int k = 0; k < size; k++) {
        evae_share s = evae_share_of(t->B, k, size);
        if (s.count) be->gather_rows(be, w->p, t->data, t->idx + s.offset, s.count, D);
        evae_step_forward(m, w, s, &t->cfg, 0);
        evae_step_gradients(m, w, t->prior, s, &t->cfg, 0, r.scale);
        be->download(be, g, m->grads, m->n_params * sizeof(float));
        be->download(be, th, m->theta_grad, m->n_theta * sizeof(float));
        for (size_t i = 0; i < m->n_params; i++) r.grads[i] += magnitude ? fabs(g[i]) : g[i];
        for (size_t i = 0; i < m->n_theta; i++) r.theta[i] += magnitude ? fabs(th[i]) : th[i];
        be->download(be, r.alb + s.offset, w->alb, (size_t)s.count * sizeof(float));
        for (int b = 0; b < s.count; b++) r.alb_mag[s.offset + b] = 0.0;
        const float *parts[3] = {w->ll, w->E, w->ent};
        for (int p = 0; p < 3; p++) {
            be->download(be, terms, parts[p], (size_t)s.count * sizeof(float));
            for (int b = 0; b < s.count; b++) r.alb_mag[s.offset + b] += fabs(terms[b]);
        }
    }
    free(g);
    free(th);
    free(terms);
    return r;
}

static inline void split_free(split_result *r)
{
    free(r->grads), free(r->theta), free(r->alb), free(r->alb_mag);
}

/* additions on the longest path of one gradient element: the batch, and the inner dimension of
 * each layer's product forward and backward */
static inline double path_length(const evae_model *m, int B)
{
    double n = B;
    const evae_network *nets[2] = {&m->enc, &m->dec};
    for (int k = 0; k < 2; k++)
        for (int l = 0; l < nets[k]->n_layers; l++)
            n += 2.0 * (nets[k]->layers[l].in_dim + nets[k]->layers[l].out_dim);
    return n + 2.0 * m->n; /* the GRBM's hidden units in the energy and its gradient */
}

/* |got - want| <= 2 gamma_n mag for each element; prints the worst fraction of the bound */
static inline void expect_sums(const char *what, const double *got, const double *want,
                        const double *mag, size_t count, double n)
{
    double gamma = n * UR / (1.0 - n * UR), worst = 0.0;
    size_t bad = 0, at = 0;
    for (size_t i = 0; i < count; i++) {
        double tol = 2.0 * gamma * mag[i], diff = fabs(got[i] - want[i]);
        if (!(diff <= tol)) bad++;
        double f = diff / (tol > 0 ? tol : DBL_MIN);
        if (!(f <= worst)) worst = f, at = i;
    }
    printf("%s: largest difference %.3g of its bound (element %zu)\n", what, worst, at);
    CHECK(bad == 0, "%s: %zu of %zu elements beyond 2 gamma_%.0f sum|g_b|; worst [%zu] %.9g vs "
          "%.9g, bound %.3g", what, bad, count, n, at, got[at], want[at],
          2.0 * gamma * mag[at]);
}

#endif
