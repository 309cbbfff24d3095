/* The importance-sampled log-likelihood of `evae eval` against the exact marginal likelihood of a
 * tiny model (2 latent dimensions, 6 binary pixels, MLP encoder and decoder), computed here by
 * numerical integration over a grid of z in double precision with an independent implementation
 * of the decoder and the GRBM energy; for a GRBM prior (exact log Z by enumeration) and for the
 * N(0, I) prior. Also: the per-example estimate of Z in the paper's eqs. 3-4 and the ALB against
 * their exact values, the upward bias of eq. 4 with a concentrated proposal, and results that
 * depend on how (example, sample) rows are split into decoder passes by float32 rounding alone,
 * within a bound derived sample by sample. */
#define _DEFAULT_SOURCE /* M_PI under -std=c11 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "evae/eval/eval.h"
#include "evae/math/grbm.h"
#include "evae/model/grbm_exact.h"
#include "evae/math/philox.h"
#include "evae/util.h"

enum { X = 6, H = 8, D = 2, N = 3, NX = 4, K = 5000 };

/* y[out] = act(x[in] W[in,out] + b) in double */
static void lin(const double *x, const float *W, const float *b, double *y, int in, int out,
                int relu)
{
    for (int j = 0; j < out; j++) {
        double s = b[j];
        for (int i = 0; i < in; i++) s += x[i] * W[i * out + j];
        y[j] = relu && s < 0 ? 0 : s;
    }
}

static double softplus(double a) { return a > 0 ? a + log1p(exp(-a)) : log1p(exp(a)); }

/* E(z) of the GRBM theta (d = D, n hidden) in double */
static double energy(const float *th, int n, const double *z)
{
    const float *mu = th, *ls = th + D, *W = th + 2 * D, *b = th + 2 * D + D * n;
    double E = 0;
    for (int i = 0; i < D; i++) {
        double u = (z[i] - mu[i]) / exp(ls[i]);
        E += 0.5 * u * u;
    }
    for (int j = 0; j < n; j++) {
        double a = b[j];
        for (int i = 0; i < D; i++) a += W[i * n + j] * z[i] / exp(2.0 * ls[i]);
        E -= softplus(a);
    }
    return E;
}

/* ln p(x|z) of the Bernoulli decoder for every example x[NX, X] */
static void decoder_ll(const evae_model *m, const float *p, const double *z, const float *x,
                       double *ll)
{
    const evae_layer *L = m->dec.layers;
    double g1[H], g2[H], lo[X];
    lin(z, p + L[0].w_off, p + L[0].b_off, g1, D, H, 1);
    lin(g1, p + L[1].w_off, p + L[1].b_off, g2, H, H, 1);
    lin(g2, p + L[2].w_off, p + L[2].b_off, lo, H, X, 0);
    for (int e = 0; e < NX; e++) {
        ll[e] = 0;
        for (int j = 0; j < X; j++) ll[e] += x[e * X + j] * lo[j] - softplus(lo[j]);
    }
}

/* encoder output [mean | logvar] of example x[X] */
static void encoder(const evae_model *m, const float *p, const float *x, double *out)
{
    const evae_layer *L = m->enc.layers;
    double xd[X], h1[H], h2[H];
    for (int j = 0; j < X; j++) xd[j] = x[j];
    lin(xd, p + L[0].w_off, p + L[0].b_off, h1, X, H, 1);
    lin(h1, p + L[1].w_off, p + L[1].b_off, h2, H, H, 1);
    lin(h2, p + L[2].w_off, p + L[2].b_off, out, H, 2 * D, 0);
}

typedef struct exact_values {
    double ln_p[NX];  /* ln p(x) */
    double elbo[NX];  /* E_q[ln p(x|z) - E(z) - ln q(z|x)] - log Z */
    double log_z_grid; /* ln of the integral of exp(-E): checks the grid against enumeration */
} exact_values;

/* Midpoint rule on [-L, L]^2 with step h. The integrands are smooth except for the decoder's
 * ReLU kinks (O(h^2) error, ~1e-4 relative here) and decay like Gaussians of sd <= 1 around
 * centres within |z| < 3, so L = 9 leaves tails below e^-18. */
static void integrate(const evae_model *m, const float *p, const float *th, int n,
                      const float *x, double log_z, exact_values *ex)
{
    const double L = 9.0, h = 0.025;
    const int G = (int)(2 * L / h);
    double enc[NX][2 * D];
    for (int e = 0; e < NX; e++) encoder(m, p, x + e * X, enc[e]);
    double shift = 0; /* max of -E over the grid: keeps the sums in range */
    for (int a = 0; a < G; a++)
        for (int b = 0; b < G; b++) {
            double z[D] = {-L + (a + 0.5) * h, -L + (b + 0.5) * h};
            double v = -energy(th, n, z);
            if (v > shift) shift = v;
        }
    long double sz = 0, sp[NX] = {0}, sq[NX] = {0};
    for (int a = 0; a < G; a++)
        for (int b = 0; b < G; b++) {
            double z[D] = {-L + (a + 0.5) * h, -L + (b + 0.5) * h}, ll[NX];
            double E = energy(th, n, z);
            decoder_ll(m, p, z, x, ll);
            sz += expl(-E - shift);
            for (int e = 0; e < NX; e++) {
                sp[e] += expl(ll[e] - E - shift);
                double lq = 0; /* ln q(z|x) */
                for (int i = 0; i < D; i++) {
                    double lv = enc[e][D + i], u = z[i] - enc[e][i];
                    lq += -0.5 * u * u / exp(lv) - 0.5 * lv - 0.5 * log(2 * M_PI);
                }
                sq[e] += expl(lq) * (ll[e] - E - lq);
            }
        }
    ex->log_z_grid = (double)logl(sz * h * h) + shift;
    for (int e = 0; e < NX; e++) {
        ex->ln_p[e] = (double)logl(sp[e] * h * h) + shift - log_z;
        ex->elbo[e] = (double)(sq[e] * h * h) - log_z;
    }
}

/* ---- how far two float32 evaluations of one importance sample can differ ----
 * Splitting the (example, sample) rows into other decoder passes changes the row counts of the
 * encoder, decoder and energy matrix products, and a BLAS may then sum in another order (OpenBLAS
 * picks its kernels by CPU and handles the matrix edges by shape). Every other step is
 * elementwise or per row and gives the same bits for the same inputs. Forward error analysis in
 * float32 (u = 2^-24, gamma_n = n u / (1 - n u)): a length-n dot product plus a bias is within
 * gamma_{n+1} (|b| + sum |x_i w_i|) of the exact value in any order, so two evaluations differ by
 * twice that, and a difference already in x carries through as sum |dx_i| |w_i|; ReLU is
 * 1-Lipschitz; an elementwise float function (expf, log1pf: within 1 ulp in glibc) carries an
 * input difference by |f'| and adds at most 2 u |value| per rounding it makes, for each of the two
 * evaluations. First order in u: the second-order terms are O(u^2) ~ 1e-14 relative here. */
#define U32 (1.0 / 16777216.0)

static double gamma_n(int n) { return n * U32 / (1.0 - n * U32); }

/* y = act(x W + b) [out] and dy, the bound on the difference of two float evaluations, from x [in]
 * and its difference bound dx [in] */
static void lin_diff(const double *x, const double *dx, const float *W, const float *b,
                     double *y, double *dy, int in, int out, int relu)
{
    const double g = 2.0 * gamma_n(in + 1);
    for (int j = 0; j < out; j++) {
        double s = b[j], mag = fabs(b[j]), carried = 0;
        for (int i = 0; i < in; i++) {
            s += x[i] * W[i * out + j];
            mag += (fabs(x[i]) + dx[i]) * fabs(W[i * out + j]);
            carried += dx[i] * fabs(W[i * out + j]);
        }
        y[j] = relu && s < 0 ? 0 : s;
        dy[j] = carried + g * mag;
    }
}

static double sigmoid(double a) { return 1.0 / (1.0 + exp(-a)); }

/* Bound on |difference| of ln p(x|z) - E(z) between two float evaluations of one sample z [D]
 * with difference bound dz [D], for the example x [X]; *val gets ln p(x|z) - E(z) itself. */
static double sample_diff(const evae_model *m, const float *p, const float *th, int n,
                          const double *z, const double *dz, const float *x, double *val)
{
    const evae_layer *L = m->dec.layers;
    double g1[H], dg1[H], g2[H], dg2[H], lo[X], dlo[X];
    lin_diff(z, dz, p + L[0].w_off, p + L[0].b_off, g1, dg1, D, H, 1);
    lin_diff(g1, dg1, p + L[1].w_off, p + L[1].b_off, g2, dg2, H, H, 1);
    lin_diff(g2, dg2, p + L[2].w_off, p + L[2].b_off, lo, dlo, H, X, 0);
    /* E(z) = sum_i 0.5 P_i (z_i - mu_i)^2 - sum_j softplus(a_j), a = (P z) W + b, P = e^(-2 ls)
     * (the same bits in both evaluations); each quadratic term rounds 3 times, each softplus 3
     * times (expf, log1pf, the add), the double sum once on its way to float */
    const float *mu = th, *ls = th + D, *W = th + 2 * D, *b = th + 2 * D + D * n;
    double xs[D], dxs[D], a[N], da[N], E = 0, dE = 0;
    for (int i = 0; i < D; i++) {
        double P = exp(-2.0 * ls[i]), r = z[i] - mu[i], dr = dz[i] + 2 * U32 * fabs(r);
        double q = 0.5 * P * r * r;
        xs[i] = P * z[i];
        dxs[i] = P * dz[i] + 2 * U32 * fabs(xs[i]);
        E += q;
        dE += P * fabs(r) * dr + 2 * 3 * U32 * q;
    }
    lin_diff(xs, dxs, W, b, a, da, D, n, 0);
    for (int j = 0; j < n; j++) {
        double sp = softplus(a[j]);
        E -= sp;
        dE += sigmoid(a[j]) * da[j] + 2 * 3 * U32 * sp;
    }
    dE += 2 * U32 * fabs(E);
    /* ln p(x|z) = sum_j x_j l_j - softplus(l_j), d/dl_j = x_j - sigmoid(l_j); each term rounds
     * 4 times (softplus's 3 and the subtraction), the double sum once on its way to float */
    double ll = 0, dll = 0;
    for (int j = 0; j < X; j++) {
        double sp = softplus(lo[j]), t = x[j] * lo[j] - sp;
        ll += t;
        dll += fabs(x[j] - sigmoid(lo[j])) * dlo[j] + 2 * U32 * (3 * sp + fabs(t));
    }
    *val = ll - E;
    return dll + 2 * U32 * fabs(ll) + dE;
}

/* How far lme_a (tol_lme[NX]) and the ALB (tol_alb[NX]) of each example may move when its K
 * samples of `seed` are split into other decoder passes (eps of example e: element k D + i of
 * stream evae_eval_stream(EVAE_EVAL_IS_EPS, e), as evae_eval_importance draws them), given the
 * bound b_k on each sample's difference of ln p(x|z_k) - E(z_k). The ALB is a mean: it moves by
 * at most mean_k b_k. ln mean exp(a) moves by sum_k w_k(t) da_k along the segment between the two
 * results, w(t) the normalized weights there, which stay within a factor e^(2 max b) of w = w(0):
 * at most e^(2 max b) sum_k w_k b_k. Both also carry the encoder's log-variance difference,
 * through ln q(z_k|x) and the entropy (0.5 sum_i d logvar_i), and the host's double sums of K
 * terms (K DBL_EPSILON times the largest term plus 1 for ln mean exp, for each of the two).
 * same_encoder: both runs pass the encoder the same rows (the examples of one pass: rows / K of
 * them when rows >= K, else one), so its outputs are the same bits. */
static void split_tolerance(const evae_model *m, const float *p, const float *th, int n,
                            const float *x, uint64_t seed, int same_encoder, double *tol_lme,
                            double *tol_alb)
{
    const evae_layer *L = m->enc.layers;
    if (n > N) {
        fprintf(stderr, "split_tolerance: %d hidden units, at most %d\n", n, N);
        exit(1);
    }
    double *a = evae_xcalloc(K, sizeof(double)), *bk = evae_xcalloc(K, sizeof(double)); /* [K] */
    for (int e = 0; e < NX; e++) {
        double xd[X], zero[X] = {0}, h1[H], dh1[H], h2[H], dh2[H], enc[2 * D], denc[2 * D];
        for (int j = 0; j < X; j++) xd[j] = x[e * X + j];
        lin_diff(xd, zero, p + L[0].w_off, p + L[0].b_off, h1, dh1, X, H, 1);
        lin_diff(h1, dh1, p + L[1].w_off, p + L[1].b_off, h2, dh2, H, H, 1);
        lin_diff(h2, dh2, p + L[2].w_off, p + L[2].b_off, enc, denc, H, 2 * D, 0);
        if (same_encoder)
            for (int i = 0; i < 2 * D; i++) denc[i] = 0;
        const uint64_t stream = evae_eval_stream(EVAE_EVAL_IS_EPS, (uint64_t)e);
        double dlv = 0, half_lv = 0;
        for (int i = 0; i < D; i++) dlv += 0.5 * denc[D + i], half_lv += 0.5 * enc[D + i];
        double amax = -INFINITY, bmax = 0, bmean = 0, largest = 0;
        for (int k = 0; k < K; k++) {
            /* z = mean + expf(0.5 logvar) eps: three roundings (expf, the product, the sum) */
            double z[D], dz[D], val, lnq = -half_lv - D * 0.5 * log(2 * M_PI);
            for (int i = 0; i < D; i++) {
                double eps = evae_normal_at(seed, stream, (uint64_t)k * D + i);
                double se = exp(0.5 * enc[D + i]) * eps;
                z[i] = enc[i] + se;
                dz[i] = denc[i] + 0.5 * fabs(se) * denc[D + i] +
                        2 * U32 * (2 * fabs(se) + fabs(z[i]));
                lnq -= 0.5 * eps * eps;
            }
            bk[k] = sample_diff(m, p, th, n, z, dz, x + e * X, &val);
            a[k] = val - lnq;
            if (a[k] > amax) amax = a[k];
            if (bk[k] > bmax) bmax = bk[k];
            if (fabs(val) + fabs(lnq) > largest) largest = fabs(val) + fabs(lnq);
            bmean += bk[k] / K;
        }
        double wsum = 0, wb = 0;
        for (int k = 0; k < K; k++) {
            double w = exp(a[k] - amax);
            wsum += w;
            wb += w * bk[k];
        }
        double sums = 2.0 * K * DBL_EPSILON * (largest + 1.0);
        tol_lme[e] = exp(2.0 * bmax) * wb / wsum + dlv + sums;
        tol_alb[e] = bmean + dlv + sums;
    }
    free(a);
    free(bk);
}

/* examples per encoder pass of evae_eval_importance at `rows` rows per decoder pass */
static int encoder_rows(int rows)
{
    int g = rows >= K ? rows / K : 1;
    return g < NX ? g : NX;
}

/* A tiny model: random weights of scale 0.6 (switching ReLUs), the encoder's log-variance bias
 * at logvar (every other encoder output weight scaled down so q stays near N(0, e^logvar)). */
static void tiny_model(evae_model *m, int grbm, float logvar)
{
    const evae_backend *be = evae_cpu_backend();
    evae_model_shape shape = {.arch = EVAE_ARCH_MLP, .channels = 1, .height = 1, .width = X,
                              .latent = D, .hidden = H, .grbm_hidden = N, .prior_grbm = grbm};
    if (evae_model_create(m, be, &shape)) exit(1);
    evae_model_init(m, 3);
    float *p = evae_xcalloc(m->n_params, sizeof(float));
    for (size_t i = 0; i < m->n_params; i++) p[i] = 0.6f * evae_normal_at(5, 1, i);
    const evae_layer *last = &m->enc.layers[m->enc.n_layers - 1]; /* H -> 2D */
    for (size_t i = 0; i < last->w_len; i++) p[last->w_off + i] *= 0.2f;
    for (int i = 0; i < D; i++) p[last->b_off + D + i] = logvar;
    be->upload(be, m->params, p, m->n_params * sizeof(float));
    free(p);
    if (grbm) {
        /* sigma in [0.67, 1] (log_sigma ~ -0.2), modes mu + W h within |z| < 3 */
        float th[2 * D + D * N + N];
        uint64_t k = 0;
        for (int i = 0; i < D; i++) th[i] = 0.4f * evae_normal_at(7, 1, k++);
        for (int i = 0; i < D; i++) th[D + i] = -0.2f - 0.1f * fabsf(evae_normal_at(7, 1, k++));
        for (int i = 0; i < D * N; i++) th[2 * D + i] = 0.7f * evae_normal_at(7, 1, k++);
        for (int j = 0; j < N; j++) th[2 * D + D * N + j] = 0.3f * evae_normal_at(7, 1, k++);
        be->upload(be, m->theta, th, sizeof th);
    }
}

/* |IS - exact| <= 4 SE + 1e-3: SE of ln(mean of K iid weights) by the delta method,
 * sqrt(var(w)/K)/mean(w) = sqrt(1/ESS - 1/K) from the weights' effective sample size. That SE
 * is honest only when the weights are well behaved: q's sd here (1.5) is 1.5 times the widest
 * target component's (<= 1) and its mean is near the target's, so the weights are bounded by a
 * modest constant and their mean is close to normal at K = 5000; 4 SE is then a two-sided false
 * alarm rate of 6e-5 per check. (With sd 1.1 the bound is large, the weights are skewed and the
 * estimate falls ~0.3 nats short on some examples while the ESS looks fine: IS's usual failure,
 * which this SE cannot see.) The 1e-3 nats cover the grid's error (~1e-4) and float32 in the
 * model's log densities. */
static double is_tol(double ess) { return 4.0 * sqrt(1.0 / ess - 1.0 / K) + 1e-3; }

static void check_model(int grbm)
{
    const char *name = grbm ? "GRBM prior" : "N(0, I) prior";
    evae_model m;
    tiny_model(&m, grbm, 2.0f * logf(1.5f)); /* q sd ~1.5 */
    const evae_backend *be = m.be;
    float p[4096], th[64], x[NX * X];
    be->download(be, p, m.params, m.n_params * sizeof(float));
    be->download(be, th, m.theta, m.n_theta * sizeof(float));
    for (int e = 0; e < NX; e++)
        for (int j = 0; j < X; j++) x[e * X + j] = (float)(((e * 37 + 11) >> j) & 1);
    double log_z = evae_model_exact_log_z(&m);
    if (grbm) CHECK(evae_grbm_exact_log_z(th, D, N, &log_z) == 0, "exact log Z");
    exact_values ex;
    integrate(&m, p, th, m.n, x, log_z, &ex);
    CHECK_CLOSE(ex.log_z_grid, log_z, 1e-6, 0, "the grid integrates exp(-E) to the exact log Z");

    float *x_dev = be->alloc(be, sizeof x);
    be->upload(be, x_dev, x, sizeof x);
    evae_is_opts o = {.k = K, .rows = 3000, .seed = 11}; /* 2 passes per example */
    evae_is_examples r;
    CHECK(evae_eval_importance(&m, x_dev, NX, &o, &r, NULL, NULL) == 0, "importance sampling");
    for (int e = 0; e < NX; e++) {
        double is = r.lme_a[e] - log_z;
        printf("%s, x%d: exact ln p %.5f, IS %.5f (tol %.4f, ESS %.0f); ln Z %.5f, eq.4 "
               "denominator %.5f; ELBO exact %.5f, ALB - ln Z %.5f (%.2f SE)\n",
               name, e, ex.ln_p[e], is, is_tol(r.ess_a[e]), r.ess_a[e], log_z, r.lme_c[e],
               ex.elbo[e], r.alb[e] - log_z,
               (r.alb[e] - log_z - ex.elbo[e]) / (r.alb_sd[e] / sqrt(K)));
        CHECK(fabs(is - ex.ln_p[e]) <= is_tol(r.ess_a[e]), "%s x%d: IS %.5f vs exact %.5f", name,
              e, is, ex.ln_p[e]);
        CHECK(fabs(r.lme_c[e] - log_z) <= is_tol(r.ess_c[e]),
              "%s x%d: per-example Z estimate %.5f vs exact %.5f", name, e, r.lme_c[e], log_z);
        /* the ALB's K-sample mean: 4 of its standard errors, sd/sqrt(K), plus the grid */
        CHECK(fabs(r.alb[e] - log_z - ex.elbo[e]) <= 4.0 * r.alb_sd[e] / sqrt(K) + 1e-3,
              "%s x%d: ALB - log Z %.5f vs exact ELBO %.5f", name, e, r.alb[e] - log_z,
              ex.elbo[e]);
        CHECK(ex.elbo[e] <= ex.ln_p[e], "the exact ELBO bounds ln p(x)");
    }

    /* the split of rows into decoder passes changes the numbers by float32 rounding at most:
     * one pass holds all examples here (rows >= NX K), and 7-row passes split every example */
    int splits[2] = {NX * K, 7};
    for (int s = 0; s < 2; s++) {
        evae_is_opts o2 = o;
        o2.rows = splits[s];
        double tol_lme[NX], tol_alb[NX];
        split_tolerance(&m, p, th, m.n, x, o.seed, encoder_rows(o.rows) == encoder_rows(o2.rows),
                        tol_lme, tol_alb);
        evae_is_examples r2;
        CHECK(evae_eval_importance(&m, x_dev, NX, &o2, &r2, NULL, NULL) == 0, "IS rows %d",
              o2.rows);
        for (int e = 0; e < NX; e++) {
            printf("%s, x%d, %d-row passes: IS moved %.2g (bound %.2g), ALB %.2g (bound %.2g)\n",
                   name, e, o2.rows, fabs(r2.lme_a[e] - r.lme_a[e]), tol_lme[e],
                   fabs(r2.alb[e] - r.alb[e]), tol_alb[e]);
            CHECK_CLOSE(r2.lme_a[e], r.lme_a[e], tol_lme[e], 0, "IS: float32 rounding only");
            CHECK_CLOSE(r2.alb[e], r.alb[e], tol_alb[e], 0, "ALB: float32 rounding only");
        }
        evae_is_examples_free(&r2);
    }
    evae_is_examples_free(&r);
    be->free(be, x_dev);
    evae_model_free(&m);
}

/* With a concentrated proposal (sd 0.1), mean_k exp(-E - ln q) sees only the neighbourhood of
 * q's mean and underestimates Z by a large factor: the self-normalized eq. 4 is biased upward
 * by log Z - lme_c per example, which must show clearly (> 1 nat), as the paper warns. */
static void check_eq4_bias(void)
{
    evae_model m;
    tiny_model(&m, 1, 2.0f * logf(0.1f));
    const evae_backend *be = m.be;
    float th[64], x[NX * X];
    be->download(be, th, m.theta, m.n_theta * sizeof(float));
    for (int e = 0; e < NX; e++)
        for (int j = 0; j < X; j++) x[e * X + j] = (float)((e + j) % 2);
    double log_z;
    CHECK(evae_grbm_exact_log_z(th, D, N, &log_z) == 0, "exact log Z");
    float *x_dev = be->alloc(be, sizeof x);
    be->upload(be, x_dev, x, sizeof x);
    evae_is_opts o = {.k = K, .rows = 20000, .seed = 12};
    evae_is_examples r;
    CHECK(evae_eval_importance(&m, x_dev, NX, &o, &r, NULL, NULL) == 0, "importance sampling");
    evae_is_summary s;
    evae_is_summarize(&r, log_z, 0.0, X, 0, &s);
    printf("narrow q: eq. 4 - IS = %.3f +- %.3f nats (ln p(x) too high by that much)\n",
           s.bias_eq4.mean, s.bias_eq4.std_err);
    CHECK(s.bias_eq4.mean > 1.0, "eq. 4's bias with a narrow q: %.3f", s.bias_eq4.mean);
    CHECK_CLOSE(s.sn_eq4.mean - s.ln_p.mean, s.bias_eq4.mean, 1e-9, 0,
                "bias = eq. 4 - IS, example by example");
    evae_is_examples_free(&r);
    be->free(be, x_dev);
    evae_model_free(&m);
}

int main(void)
{
    check_model(1);
    check_model(0);
    check_eq4_bias();
    return check_report("test_eval_is");
}
