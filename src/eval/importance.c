/* Importance sampling from q(z|x) on the test set (evae/eval/eval.h, stages 2, 4 and 5): one pass of
 * K samples per example gives the IS log-likelihood, the paper's self-normalized estimates and the
 * ALB. The encoder runs once per example; its output, the input and the noise rows are gathered
 * into decoder passes of up to `rows` (example, sample) pairs. The per-sample log weights are
 * summed on the host in double. */
#define _DEFAULT_SOURCE /* M_PI under -std=c11 */
#include "evae/eval/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evae/data/logit.h"
#include "evae/util.h"

void evae_mean_se(const double *v, int n, double *mean, double *se)
{
    double m = 0.0;
    for (int i = 0; i < n; i++) m += v[i];
    m /= n > 0 ? n : 1;
    double ss = 0.0;
    for (int i = 0; i < n; i++) ss += (v[i] - m) * (v[i] - m);
    *mean = m;
    *se = n > 1 ? sqrt(ss / (n - 1) / n) : NAN;
}

float *evae_eval_prepare_inputs(const evae_model *m, const float *data_dev, int n, uint64_t seed,
                                uint64_t stream)
{
    const evae_backend *be = m->be;
    size_t count = (size_t)n * m->x_dim;
    float *u = be->alloc(be, count * sizeof(float)); /* u[n, x_dim] uniform noise */
    float *x = be->alloc(be, count * sizeof(float)); /* x[n, x_dim] model inputs */
    be->rand_uniform(be, u, count, seed, stream, 0);
    if (m->decoder == EVAE_DEC_BERNOULLI)
        be->binarize(be, x, data_dev, u, count);
    else
        be->logit_dequantize(be, x, data_dev, u, count, EVAE_LOGIT_ALPHA);
    be->free(be, u);
    return x;
}

void evae_is_examples_free(evae_is_examples *r)
{
    double *arrays[] = {r->lme_a, r->lme_c, r->mean_a, r->alb, r->alb_sd,
                        r->ll, r->ess_a, r->ess_c, r->log_det};
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++) free(arrays[i]);
    memset(r, 0, sizeof *r);
}

/* ln mean exp(v[k]) and the effective sample size (sum w)^2 / sum w^2 of w = exp(v) */
static double log_mean_exp_ess(const double *v, int K, double *ess)
{
    double mx = -INFINITY;
    for (int k = 0; k < K; k++)
        if (v[k] > mx) mx = v[k];
    double s1 = 0.0, s2 = 0.0;
    for (int k = 0; k < K; k++) {
        double w = exp(v[k] - mx);
        s1 += w;
        s2 += w * w;
    }
    *ess = s1 * s1 / s2;
    return mx + log(s1 / K);
}

int evae_eval_importance(const evae_model *m, const float *x_dev, int n, const evae_is_opts *o,
                         evae_is_examples *r, evae_eval_progress_fn progress, void *ctx)
{
    memset(r, 0, sizeof *r);
    if (o->k < 1 || o->rows < 1 || n < 1) {
        evae_error("importance sampling: k = %d, rows = %d and n = %d must be >= 1", o->k,
                   o->rows, n);
        return 1;
    }
    const evae_backend *be = m->be;
    const int K = o->k, d = m->d, D = m->x_dim;
    /* a pass holds gx whole examples (K <= rows) or kc of one example's samples (K > rows) */
    int gx = o->rows >= K ? o->rows / K : 1;
    if (gx > n) gx = n;
    const int kc = K < o->rows ? K : o->rows;
    const size_t cap = (size_t)gx * kc; /* rows per pass */
    const double half_log_2pi = 0.5 * log(2.0 * M_PI);

    r->n = n;
    r->k = K;
    double **arrays[] = {&r->lme_a, &r->lme_c, &r->mean_a, &r->alb, &r->alb_sd,
                         &r->ll, &r->ess_a, &r->ess_c, &r->log_det};
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++)
        *arrays[i] = evae_xcalloc((size_t)n, sizeof(double));

    /* backend buffers */
    float *enc_act[EVAE_MAX_LAYERS + 1] = {0}; /* [0] points into x_dev; [l+1] [gx, out_l] */
    for (int l = 0; l < m->enc.n_layers; l++)
        enc_act[l + 1] = be->alloc(be, (size_t)gx * m->enc.layers[l].out_dim * sizeof(float));
    float *dec_act[EVAE_MAX_LAYERS + 1] = {0}; /* [0] = z [cap, d]; [l+1] [cap, out_l] */
    dec_act[0] = be->alloc(be, cap * d * sizeof(float));
    for (int l = 0; l < m->dec.n_layers; l++)
        dec_act[l + 1] = be->alloc(be, cap * m->dec.layers[l].out_dim * sizeof(float));
    float *eps_all = be->alloc(be, (size_t)gx * K * d * sizeof(float)); /* [gx, K, d] */
    float *enc_rep = be->alloc(be, cap * 2 * d * sizeof(float));        /* [cap, 2d] */
    float *x_rep = be->alloc(be, cap * D * sizeof(float));              /* [cap, D] */
    float *eps = be->alloc(be, cap * d * sizeof(float));                /* [cap, d] */
    float *ll = be->alloc(be, cap * sizeof(float));                     /* [cap] */
    float *E = be->alloc(be, cap * sizeof(float));                      /* [cap] */
    int *idx_ex = be->alloc(be, cap * sizeof(int));                     /* [cap] example of a row */
    int *idx_eps = be->alloc(be, cap * sizeof(int));                    /* [cap] its eps row */

    /* host buffers */
    float *eps_h = evae_xcalloc((size_t)gx * K * d, sizeof(float)); /* [gx, K, d] */
    float *enc_h = evae_xcalloc((size_t)gx * 2 * d, sizeof(float)); /* [gx, 2d] */
    float *ll_h = evae_xcalloc(cap, sizeof(float));                  /* [cap] */
    float *E_h = evae_xcalloc(cap, sizeof(float));                   /* [cap] */
    int *idx_h = evae_xcalloc(cap, sizeof(int));                     /* [cap] */
    int *idx_eps_h = evae_xcalloc(cap, sizeof(int));                 /* [cap] */
    double *lnq = evae_xcalloc((size_t)gx * K, sizeof(double));      /* [gx, K] ln q(z_k|x) */
    double *A = evae_xcalloc((size_t)gx * K, sizeof(double));        /* [gx, K] a_k */
    double *C = evae_xcalloc((size_t)gx * K, sizeof(double));        /* [gx, K] c_k */
    double *Bv = evae_xcalloc((size_t)gx * K, sizeof(double));       /* [gx, K] ll_k - E_k */
    float *y_h = m->decoder == EVAE_DEC_LAPLACE ? evae_xcalloc((size_t)gx * D, sizeof(float))
                                                : NULL; /* [gx, D] logit-space inputs */

    for (int e0 = 0; e0 < n; e0 += gx) {
        const int g = n - e0 < gx ? n - e0 : gx;
        const float *x = x_dev + (size_t)e0 * D; /* x[g, D] */
        enc_act[0] = (float *)x;                   /* read only */
        evae_net_forward(be, &m->enc, m->params, enc_act, g);
        const float *enc_out = enc_act[m->enc.n_layers]; /* [g, 2d] = [mean | logvar] */
        for (int b = 0; b < g; b++)
            be->rand_normal(be, eps_all + (size_t)b * K * d, (size_t)K * d, o->seed,
                            evae_eval_stream(EVAE_EVAL_IS_EPS, (uint64_t)(o->first + e0 + b)),
                            0);
        be->download(be, eps_h, eps_all, (size_t)g * K * d * sizeof(float));
        be->download(be, enc_h, enc_out, (size_t)g * 2 * d * sizeof(float));
        /* ln q(z_k|x) = -0.5 |eps_k|^2 - 0.5 sum logvar - (d/2) ln 2pi, exactly the density of
         * z_k = mean + exp(logvar/2) eps_k */
        for (int b = 0; b < g; b++) {
            double half_logvar = 0.0;
            for (int i = 0; i < d; i++) half_logvar += 0.5 * enc_h[(size_t)b * 2 * d + d + i];
            for (int k = 0; k < K; k++) {
                const float *ek = eps_h + ((size_t)b * K + k) * d;
                double s = 0.0;
                for (int i = 0; i < d; i++) s += (double)ek[i] * ek[i];
                lnq[(size_t)b * K + k] = -0.5 * s - half_logvar - d * half_log_2pi;
            }
        }
        for (int k0 = 0; k0 < K; k0 += kc) {
            const int kn = K - k0 < kc ? K - k0 : kc;
            const int rows = g * kn;
            for (int rr = 0; rr < rows; rr++) {
                idx_h[rr] = rr / kn;
                idx_eps_h[rr] = (rr / kn) * K + k0 + rr % kn;
            }
            be->upload(be, idx_ex, idx_h, (size_t)rows * sizeof(int));
            be->upload(be, idx_eps, idx_eps_h, (size_t)rows * sizeof(int));
            be->gather_rows(be, enc_rep, enc_out, idx_ex, rows, 2 * d);
            be->gather_rows(be, x_rep, x, idx_ex, rows, D);
            be->gather_rows(be, eps, eps_all, idx_eps, rows, d);
            be->reparam(be, dec_act[0], enc_rep, eps, rows, d);
            evae_net_forward(be, &m->dec, m->params, dec_act, rows);
            const float *out = dec_act[m->dec.n_layers]; /* [rows, D] logits or means */
            if (m->decoder == EVAE_DEC_BERNOULLI)
                be->bernoulli_ll(be, ll, NULL, out, x_rep, rows, D, 0.0f);
            else
                be->laplace_ll(be, ll, NULL, out, x_rep, rows, D, m->laplace_scale, 0.0f);
            be->grbm_energy(be, m->theta, d, m->n, 1.0f, dec_act[0], rows, E, NULL);
            be->download(be, ll_h, ll, (size_t)rows * sizeof(float));
            be->download(be, E_h, E, (size_t)rows * sizeof(float));
            for (int rr = 0; rr < rows; rr++) {
                size_t j = (size_t)idx_eps_h[rr]; /* b * K + k */
                A[j] = (double)ll_h[rr] - E_h[rr] - lnq[j];
                C[j] = -(double)E_h[rr] - lnq[j];
                Bv[j] = (double)ll_h[rr] - E_h[rr];
            }
        }
        for (int b = 0; b < g; b++) {
            const int e = e0 + b;
            const double *a = A + (size_t)b * K, *c = C + (size_t)b * K, *bv = Bv + (size_t)b * K;
            r->lme_a[e] = log_mean_exp_ess(a, K, &r->ess_a[e]);
            r->lme_c[e] = log_mean_exp_ess(c, K, &r->ess_c[e]);
            double sa = 0.0, sb = 0.0, sll = 0.0;
            for (int k = 0; k < K; k++) {
                sa += a[k];
                sb += bv[k];
                sll += a[k] - c[k]; /* = ln p(x|z_k) */
            }
            double mb = sb / K, ss = 0.0;
            for (int k = 0; k < K; k++) ss += (bv[k] - mb) * (bv[k] - mb);
            /* analytic entropy of q(z|x): 0.5 sum (1 + ln 2pi + logvar) */
            double ent = 0.0;
            for (int i = 0; i < d; i++)
                ent += 0.5 * (1.0 + 2.0 * half_log_2pi + enc_h[(size_t)b * 2 * d + d + i]);
            r->mean_a[e] = sa / K;
            r->alb[e] = mb + ent;
            r->alb_sd[e] = K > 1 ? sqrt(ss / (K - 1)) : 0.0;
            r->ll[e] = sll / K;
        }
        if (y_h) {
            be->download(be, y_h, x, (size_t)g * D * sizeof(float));
            evae_logit_log_det(r->log_det + e0, y_h, g, D, EVAE_LOGIT_ALPHA);
        }
        if (progress) {
            char detail[96];
            snprintf(detail, sizeof detail, "%d samples each", K);
            progress(ctx, "importance sampling", e0 + g, n, detail);
        }
    }

    for (int l = 1; l <= m->enc.n_layers; l++) be->free(be, enc_act[l]);
    for (int l = 0; l <= m->dec.n_layers; l++) be->free(be, dec_act[l]);
    void *bufs[] = {eps_all, enc_rep, x_rep, eps, ll, E, idx_ex, idx_eps};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) be->free(be, bufs[i]);
    void *host[] = {eps_h, enc_h, ll_h, E_h, idx_h, idx_eps_h, lnq, A, C, Bv, y_h};
    for (size_t i = 0; i < sizeof host / sizeof *host; i++) free(host[i]);
    return 0;
}

int evae_eval_importance_ranks(const evae_model *m, const float *x_dev, int n,
                               const evae_is_opts *o, evae_is_examples *r,
                               evae_eval_progress_fn progress, void *ctx, const evae_comm *comm)
{
    evae_share s = evae_share_of(n, comm->rank, comm->size);
    evae_is_opts mine_opts = *o;
    mine_opts.first = o->first + s.offset;
    evae_is_examples mine = {0};
    if (s.count > 0 && evae_eval_importance(m, x_dev + (size_t)s.offset * m->x_dim, s.count,
                                            &mine_opts, &mine, progress, ctx))
        return 1;
    if (comm->size == 1) {
        *r = mine;
        return 0;
    }
    memset(r, 0, sizeof *r);
    r->n = n;
    r->k = o->k;
    int *counts = evae_xcalloc((size_t)comm->size, sizeof(int)); /* [size] */
    for (int k = 0; k < comm->size; k++) counts[k] = evae_share_of(n, k, comm->size).count;
    double **all[] = {&r->lme_a, &r->lme_c, &r->mean_a, &r->alb, &r->alb_sd,
                      &r->ll, &r->ess_a, &r->ess_c, &r->log_det};
    double *own[] = {mine.lme_a, mine.lme_c, mine.mean_a, mine.alb, mine.alb_sd,
                     mine.ll, mine.ess_a, mine.ess_c, mine.log_det};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        *all[i] = evae_xcalloc((size_t)n, sizeof(double));
        comm->allgather_host(comm, own[i], *all[i], counts);
    }
    free(counts);
    evae_is_examples_free(&mine);
    return 0;
}

void evae_quantity_of(evae_quantity *q, const double *v, const double *log_det, int n, int D,
                      int bits_per_dim)
{
    evae_mean_se(v, n, &q->mean, &q->std_err);
    q->bpd = q->bpd_std_err = NAN;
    if (!bits_per_dim) return;
    double *tmp = evae_xcalloc((size_t)n, sizeof(double)); /* [n] bits/dim per example */
    for (int e = 0; e < n; e++) tmp[e] = evae_bits_per_dim(v[e] + log_det[e], D);
    evae_mean_se(tmp, n, &q->bpd, &q->bpd_std_err);
    free(tmp);
}

void evae_is_summarize(const evae_is_examples *r, double log_z, double log_z_std_err, int D,
                       int bits_per_dim, evae_is_summary *s)
{
    memset(s, 0, sizeof *s);
    const int n = r->n;
    double *v = evae_xcalloc((size_t)n, sizeof(double)); /* [n] per-example values */
    for (int e = 0; e < n; e++) v[e] = r->lme_a[e] - log_z;
    evae_quantity_of(&s->ln_p, v, r->log_det, n, D, bits_per_dim);
    for (int e = 0; e < n; e++) v[e] = r->lme_a[e] - r->lme_c[e];
    evae_quantity_of(&s->sn_eq4, v, r->log_det, n, D, bits_per_dim);
    for (int e = 0; e < n; e++) v[e] = r->mean_a[e] - r->lme_c[e];
    evae_quantity_of(&s->sn_eq3, v, r->log_det, n, D, bits_per_dim);
    for (int e = 0; e < n; e++) v[e] = r->alb[e] - log_z;
    evae_quantity_of(&s->elbo, v, r->log_det, n, D, bits_per_dim);
    /* differences and the ALB are not log-likelihoods of the data: no bits/dim */
    evae_quantity_of(&s->alb, r->alb, r->log_det, n, D, 0);
    evae_quantity_of(&s->ll, r->ll, r->log_det, n, D, 0);
    for (int e = 0; e < n; e++) v[e] = log_z - r->lme_c[e];
    evae_quantity_of(&s->bias_eq4, v, r->log_det, n, D, 0);
    for (int e = 0; e < n; e++) v[e] = r->mean_a[e] - r->lme_c[e] - r->alb[e] + log_z;
    evae_quantity_of(&s->bias_eq3, v, r->log_det, n, D, 0);
    s->ess_frac_min = INFINITY;
    for (int e = 0; e < n; e++) {
        double f = r->ess_a[e] / r->k;
        s->ess_frac_mean += f / n;
        if (f < s->ess_frac_min) s->ess_frac_min = f;
    }
    s->log_z = log_z;
    s->log_z_std_err = log_z_std_err;
    free(v);
}
