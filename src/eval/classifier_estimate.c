/* Stage 3 of the evaluation, the paper's Algorithm 2 on a trained model (evae/eval/eval.h): the
 * classifier T(x, z) learns ln q(z|x) - ln p(z) from pairs (x, z ~ q(z|x)) against
 * (x, z ~ prior), and E_test[ln p(x|z) - T(x, z)] estimates the variational lower bound.
 * The prior's samples come from Langevin chains, so the number depends on their settings. */
#include "evae/eval/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/math/grbm.h"
#include "evae/model/objective.h"
#include "evae/model/input.h"
#include "evae/util.h"

/* perm[n]: a permutation of 0..n-1 by Fisher-Yates, draw i from (seed, stream) */
static void shuffle(int *perm, int n, uint64_t seed, uint64_t stream)
{
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(evae_uniform_at(seed, stream, (uint64_t)i) * (float)(i + 1));
        if (j > i) j = i;
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* z[count, d] (backend): chains started at N(mu, sigma^2), the GRBM without its coupling, then
 * `steps` Langevin steps of size eta. which = 0 (training pool) or 1 (held-out pool). */
static void prior_pool(const evae_model *m, int count, int steps, float eta, uint64_t seed,
                       int which, float *z)
{
    const evae_backend *be = m->be;
    const int d = m->d, n = m->n;
    float *theta = evae_xcalloc(m->n_theta, sizeof(float));
    be->download(be, theta, m->theta, m->n_theta * sizeof(float));
    const float *mu = theta + evae_grbm_mu(d, n), *log_sigma = theta + evae_grbm_log_sigma(d, n);
    float *enc = evae_xcalloc((size_t)count * 2 * d, sizeof(float)); /* [count, 2d] */
    for (int c = 0; c < count; c++)
        for (int i = 0; i < d; i++) {
            enc[(size_t)c * 2 * d + i] = mu[i];
            enc[(size_t)c * 2 * d + d + i] = 2.0f * log_sigma[i]; /* log-variance */
        }
    float *enc_dev = be->alloc(be, (size_t)count * 2 * d * sizeof(float)); /* [count, 2d] */
    float *eps = be->alloc(be, (size_t)count * d * sizeof(float));          /* [count, d] */
    be->upload(be, enc_dev, enc, (size_t)count * 2 * d * sizeof(float));
    be->rand_normal(be, eps, (size_t)count * d, seed, evae_eval_stream(EVAE_EVAL_CLS_CHAIN, which),
                    0);
    be->reparam(be, z, enc_dev, eps, count, d);
    if (steps > 0)
        be->grbm_langevin(be, m->theta, d, n, z, count, steps, eta, seed,
                          evae_eval_stream(EVAE_EVAL_CLS_CHAIN, 2 + (uint64_t)which));
    be->free(be, enc_dev);
    be->free(be, eps);
    free(enc);
    free(theta);
}

/* The training pairs of one epoch: freshly binarized training examples in a new order, their
 * z ~ q(z|x), and the prior pool in a new order. */
typedef struct model_pairs {
    const evae_model *m;
    evae_workspace w;      /* cap examples */
    int cap;
    const float *train_dev; /* [n, x_dim] raw */
    const float *pool;     /* [n, d] prior chains */
    int n;
    int *perm, *pool_perm;         /* [n] host */
    int *perm_dev, *pool_perm_dev; /* [n] backend */
    uint64_t seed;
} model_pairs;

static void fill_model_pairs(void *ctx, int epoch, int start, int B, float *x, float *z_pos,
                             float *z_neg)
{
    model_pairs *p = ctx;
    const evae_model *m = p->m;
    const evae_backend *be = m->be;
    const int D = m->x_dim, d = m->d;
    if (start == 0) { /* an epoch begins: new orders */
        shuffle(p->perm, p->n, p->seed, evae_eval_stream(EVAE_EVAL_CLS_SHUFFLE, 2 * (uint64_t)epoch));
        shuffle(p->pool_perm, p->n, p->seed,
                evae_eval_stream(EVAE_EVAL_CLS_SHUFFLE, 2 * (uint64_t)epoch + 1));
        be->upload(be, p->perm_dev, p->perm, (size_t)p->n * sizeof(int));
        be->upload(be, p->pool_perm_dev, p->pool_perm, (size_t)p->n * sizeof(int));
    }
    uint64_t step = ((uint64_t)epoch << 24) | (uint64_t)(start / p->cap);
    be->gather_rows(be, p->w.p, p->train_dev, p->perm_dev + start, B, D);
    evae_prepare_input(m, &p->w, evae_share_whole(B), p->seed,
                       evae_eval_stream(EVAE_EVAL_CLS_INPUT, step));
    be->copy(be, x, evae_ws_x(&p->w), (size_t)B * D * sizeof(float));
    evae_net_forward(be, &m->enc, m->params, p->w.enc_act, B);
    be->rand_normal(be, p->w.eps, (size_t)B * d, p->seed,
                    evae_eval_stream(EVAE_EVAL_CLS_EPS, step), 0);
    be->reparam(be, z_pos, p->w.enc_act[m->enc.n_layers], p->w.eps, B, d);
    be->gather_rows(be, z_neg, p->pool, p->pool_perm_dev + start, B, d);
}

void evae_classifier_result_free(evae_classifier_result *r)
{
    free(r->vlb_e);
    r->vlb_e = NULL;
}

int evae_eval_classifier(const evae_model *m, const float *train_dev, int n_train,
                         const float *x_test, int n_test, const evae_classifier_opts *o,
                         int bits_per_dim, const double *log_det, evae_classifier_result *r,
                         evae_eval_progress_fn progress, void *ctx)
{
    memset(r, 0, sizeof *r);
    const evae_backend *be = m->be;
    const int D = m->x_dim, d = m->d;
    int n = o->train_limit > 0 && o->train_limit < n_train ? o->train_limit : n_train;
    if (n < 1 || n_test < 2 || o->batch < 1 || o->epochs < 1) {
        evae_error("classifier: needs training examples (%d), 2 or more test examples (%d), "
                   "batch (%d) and epochs (%d) >= 1", n, n_test, o->batch, o->epochs);
        return 1;
    }
    const int cap = o->batch < n ? o->batch : n;
    r->train_examples = n;
    r->test_examples = n_test;

    evae_classifier c;
    if (evae_classifier_create(&c, be, D, d, o->hidden, cap, o->seed)) return 1;
    model_pairs p = {.m = m, .cap = cap, .train_dev = train_dev, .n = n, .seed = o->seed};
    evae_workspace_create(&p.w, m, cap, 1);
    p.perm = evae_xcalloc((size_t)n, sizeof(int));
    p.pool_perm = evae_xcalloc((size_t)n, sizeof(int));
    p.perm_dev = be->alloc(be, (size_t)n * sizeof(int));
    p.pool_perm_dev = be->alloc(be, (size_t)n * sizeof(int));
    float *pool = be->alloc(be, (size_t)n * d * sizeof(float));          /* [n, d] */
    float *test_pool = be->alloc(be, (size_t)n_test * d * sizeof(float)); /* [n_test, d] */
    char detail[128];
    snprintf(detail, sizeof detail, "%d + %d chains x %d Langevin steps (eta %g)", n, n_test,
             o->langevin_steps, o->langevin_eta);
    if (progress) progress(ctx, "prior chains", 0, 2, detail);
    prior_pool(m, n, o->langevin_steps, (float)o->langevin_eta, o->seed, 0, pool);
    if (progress) progress(ctx, "prior chains", 1, 2, detail);
    prior_pool(m, n_test, o->langevin_steps, (float)o->langevin_eta, o->seed, 1, test_pool);
    if (progress) progress(ctx, "prior chains", 2, 2, detail);
    p.pool = pool;

    evae_pair_source src = {.n = n, .fill = fill_model_pairs, .ctx = &p};
    evae_classifier_fit fit;
    evae_classifier_train(&c, &src, o->epochs, (float)o->lr, &fit, progress, ctx);
    r->train_loss = fit.loss;
    r->train_accuracy = fit.accuracy;

    /* held out: the test inputs, one z ~ q(z|x) each, against the independent test pool */
    float *t_pos = be->alloc(be, (size_t)cap * sizeof(float)), *t_neg = be->alloc(be, (size_t)cap *
                                                                              sizeof(float));
    float *tp = evae_xcalloc((size_t)cap, sizeof(float)), *tn = evae_xcalloc((size_t)cap,
                                                                            sizeof(float));
    float *llh = evae_xcalloc((size_t)cap, sizeof(float));
    double *vlb = evae_xcalloc((size_t)n_test, sizeof(double));
    double *kl = evae_xcalloc((size_t)n_test, sizeof(double));
    double *ll = evae_xcalloc((size_t)n_test, sizeof(double));
    long right = 0;
    for (int start = 0, bi = 0; start < n_test; start += cap, bi++) {
        int B = n_test - start < cap ? n_test - start : cap;
        be->copy(be, evae_ws_x(&p.w), x_test + (size_t)start * D, (size_t)B * D * sizeof(float));
        evae_alb_forward(m, &p.w, B, o->seed,
                         evae_eval_stream(EVAE_EVAL_CLS_TEST_EPS, (uint64_t)bi), NULL);
        evae_classifier_logits(&c, evae_ws_x(&p.w), evae_ws_z(&p.w), B, t_pos);
        evae_classifier_logits(&c, evae_ws_x(&p.w), test_pool + (size_t)start * d, B, t_neg);
        be->download(be, tp, t_pos, (size_t)B * sizeof(float));
        be->download(be, tn, t_neg, (size_t)B * sizeof(float));
        be->download(be, llh, p.w.ll, (size_t)B * sizeof(float));
        for (int b = 0; b < B; b++) {
            vlb[start + b] = (double)llh[b] - tp[b];
            kl[start + b] = tp[b];
            ll[start + b] = llh[b];
            right += (tp[b] > 0) + (tn[b] < 0);
        }
    }
    r->heldout_accuracy = (double)right / (2.0 * n_test);
    evae_quantity_of(&r->vlb, vlb, log_det, n_test, D, bits_per_dim);
    evae_quantity_of(&r->kl, kl, log_det, n_test, D, 0);
    evae_quantity_of(&r->ll, ll, log_det, n_test, D, 0);

    r->vlb_e = vlb;
    free(kl);
    free(ll);
    free(tp);
    free(tn);
    free(llh);
    be->free(be, t_pos);
    be->free(be, t_neg);
    be->free(be, pool);
    be->free(be, test_pool);
    be->free(be, p.perm_dev);
    be->free(be, p.pool_perm_dev);
    free(p.perm);
    free(p.pool_perm);
    evae_workspace_free(&p.w, m);
    evae_classifier_free(&c);
    return 0;
}
