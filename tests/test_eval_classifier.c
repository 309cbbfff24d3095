/* The classifier T(x, z) of the paper's Algorithm 2 (evae/eval/eval.h):
 *  1. its logits and the gradient of its logistic loss against an independent double-precision
 *     implementation and central finite differences;
 *  2. the KL estimate E[T] on two Gaussians with a known KL, q(z|x) = N(a x, s^2 I) against
 *     p(z) = N(0, I), where T's optimum is ln q(z|x) - ln p(z);
 *  3. its failure mode at large KL, documented: once the two classes separate, the logistic loss
 *     stops pulling T apart, and E[T] falls far short of the KL while the accuracy is perfect. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "evae/eval/eval.h"
#include "evae/math/philox.h"
#include "evae/util.h"

static double softplus(double a) { return a > 0 ? a + log1p(exp(-a)) : log1p(exp(a)); }

/* ---- 1. values and gradient ---- */

enum { GX = 3, GD = 2, GH = 5, GB = 4 };

/* T(x, z) of the classifier's layout with parameters p (double) */
static double T_double(const evae_classifier *c, const double *p, const double *x, const double *z)
{
    double in[GX + GD], h1[GH], h2[GH];
    memcpy(in, x, GX * sizeof(double));
    memcpy(in + GX, z, GD * sizeof(double));
    const evae_layer *L = c->net.layers;
    for (int j = 0; j < GH; j++) {
        double s = p[L[0].b_off + j];
        for (int i = 0; i < GX + GD; i++) s += in[i] * p[L[0].w_off + i * GH + j];
        h1[j] = s > 0 ? s : 0;
    }
    for (int j = 0; j < GH; j++) {
        double s = p[L[1].b_off + j];
        for (int i = 0; i < GH; i++) s += h1[i] * p[L[1].w_off + i * GH + j];
        h2[j] = s > 0 ? s : 0;
    }
    double t = p[L[2].b_off];
    for (int i = 0; i < GH; i++) t += h2[i] * p[L[2].w_off + i];
    return t;
}

/* mean over the 2B pairs of softplus(-T(x, z_pos)) and softplus(T(x, z_neg)) */
static double loss_double(const evae_classifier *c, const double *p, const double *x,
                          const double *zp, const double *zn)
{
    double L = 0;
    for (int b = 0; b < GB; b++)
        L += softplus(-T_double(c, p, x + b * GX, zp + b * GD)) +
             softplus(T_double(c, p, x + b * GX, zn + b * GD));
    return L / (2 * GB);
}

static void check_gradient(void)
{
    const evae_backend *be = evae_cpu_backend();
    evae_classifier c;
    CHECK(evae_classifier_create(&c, be, GX, GD, GH, GB, 3) == 0, "create");
    /* weights of order one so that ReLUs switch and T is not tiny */
    float *pf = evae_xcalloc(c.n_params, sizeof(float));
    for (size_t i = 0; i < c.n_params; i++) pf[i] = 0.7f * evae_normal_at(21, 1, i);
    be->upload(be, c.params, pf, c.n_params * sizeof(float));
    float xf[GB * GX], zpf[GB * GD], znf[GB * GD];
    for (int i = 0; i < GB * GX; i++) xf[i] = evae_normal_at(21, 2, i);
    for (int i = 0; i < GB * GD; i++) zpf[i] = evae_normal_at(21, 3, i);
    for (int i = 0; i < GB * GD; i++) znf[i] = evae_normal_at(21, 4, i);
    float *x = be->alloc(be, sizeof xf), *zp = be->alloc(be, sizeof zpf),
        *zn = be->alloc(be, sizeof znf);
    float *t = be->alloc(be, GB * sizeof(float));
    be->upload(be, x, xf, sizeof xf);
    be->upload(be, zp, zpf, sizeof zpf);
    be->upload(be, zn, znf, sizeof znf);

    double *p = evae_xcalloc(c.n_params, sizeof(double)), xd[GB * GX], zpd[GB * GD], znd[GB * GD];
    for (size_t i = 0; i < c.n_params; i++) p[i] = pf[i];
    for (int i = 0; i < GB * GX; i++) xd[i] = xf[i];
    for (int i = 0; i < GB * GD; i++) zpd[i] = zpf[i];
    for (int i = 0; i < GB * GD; i++) znd[i] = znf[i];

    float th[GB];
    evae_classifier_logits(&c, x, zp, GB, t);
    be->download(be, th, t, sizeof th);
    for (int b = 0; b < GB; b++)
        CHECK_CLOSE(th[b], T_double(&c, p, xd + b * GX, zpd + b * GD), 1e-5, 1e-5, "T(x, z)");

    int correct = -1;
    double loss = evae_classifier_grad(&c, x, zp, zn, GB, &correct);
    CHECK_CLOSE(loss, loss_double(&c, p, xd, zpd, znd), 1e-6, 1e-5, "loss");
    int want = 0;
    for (int b = 0; b < GB; b++)
        want += (T_double(&c, p, xd + b * GX, zpd + b * GD) > 0) +
                (T_double(&c, p, xd + b * GX, znd + b * GD) < 0);
    CHECK(correct == want, "correct %d, want %d", correct, want);
    float *g = evae_xcalloc(c.n_params, sizeof(float));
    be->download(be, g, c.grads, c.n_params * sizeof(float));
    /* central differences with h = 1e-5 in double: truncation ~1e-10, rounding ~1e-11, far below
     * the float gradient's own error (~1e-6 relative), so 1e-5 + 1e-3 relative tests the code */
    const double h = 1e-5;
    double worst = 0;
    for (size_t i = 0; i < c.n_params; i++) {
        double keep = p[i];
        p[i] = keep + h;
        double lp = loss_double(&c, p, xd, zpd, znd);
        p[i] = keep - h;
        double lm = loss_double(&c, p, xd, zpd, znd);
        p[i] = keep;
        double fd = (lp - lm) / (2 * h);
        if (fabs(fd - g[i]) > worst) worst = fabs(fd - g[i]);
        CHECK_CLOSE(g[i], fd, 1e-5, 1e-3, "dL/dparam");
    }
    printf("classifier gradient: worst |analytic - FD| over %zu parameters %.3g\n", c.n_params,
           worst);
    free(p);
    free(pf);
    free(g);
    be->free(be, x);
    be->free(be, zp);
    be->free(be, zn);
    be->free(be, t);
    evae_classifier_free(&c);
}

/* ---- 2, 3. two Gaussians ---- */

enum { KX = 2 };

/* x ~ N(0, I_2), z_pos ~ q(z|x) = N(a x_(i mod 2), s^2), z_neg ~ N(0, I_d), drawn on the host
 * from (seed, epoch) */
typedef struct gauss_pairs {
    const evae_backend *be;
    int d;
    double a, s;
    uint64_t seed;
    float *xh, *zph, *znh; /* host scratch */
} gauss_pairs;

static void gauss_fill(void *ctx, int epoch, int start, int B, float *x, float *zp, float *zn)
{
    gauss_pairs *g = ctx;
    uint64_t st = (uint64_t)epoch * 3;
    for (int b = 0; b < B; b++) {
        uint64_t e = (uint64_t)(start + b);
        for (int i = 0; i < KX; i++) g->xh[b * KX + i] = evae_normal_at(g->seed, st, e * KX + i);
        for (int i = 0; i < g->d; i++) {
            double mean = g->a * g->xh[b * KX + i % KX];
            g->zph[b * g->d + i] =
                (float)(mean + g->s * evae_normal_at(g->seed, st + 1, e * g->d + i));
            g->znh[b * g->d + i] = evae_normal_at(g->seed, st + 2, e * g->d + i);
        }
    }
    g->be->upload(g->be, x, g->xh, (size_t)B * KX * sizeof(float));
    g->be->upload(g->be, zp, g->zph, (size_t)B * g->d * sizeof(float));
    g->be->upload(g->be, zn, g->znh, (size_t)B * g->d * sizeof(float));
}

/* KL(N(a x, s^2 I) || N(0, I)) = 0.5 sum_i (s^2 + (a x_i)^2 - 1 - ln s^2), averaged over x:
 * E[(a x_i)^2] = a^2 */
static double expected_kl(int d, double a, double s)
{
    return 0.5 * d * (s * s + a * a - 1.0 - log(s * s));
}

typedef struct kl_estimate {
    double kl_hat, kl_true, accuracy, rmse; /* rmse of T against the true log ratio */
} kl_estimate;

/* Trains T on fresh pairs every epoch (Adam 3e-3, decaying) and measures E[T] on 20000
 * held-out positives. */
static kl_estimate estimate_kl(int d, double a, double s, int epochs, uint64_t seed)
{
    const evae_backend *be = evae_cpu_backend();
    enum { N = 4000, BATCH = 128, HIDDEN = 64, NT = 20000 };
    evae_classifier c;
    if (evae_classifier_create(&c, be, KX, d, HIDDEN, BATCH, seed)) exit(1);
    gauss_pairs g = {.be = be, .d = d, .a = a, .s = s, .seed = seed};
    g.xh = evae_xcalloc((size_t)NT * KX, sizeof(float));
    g.zph = evae_xcalloc((size_t)NT * d, sizeof(float));
    g.znh = evae_xcalloc((size_t)NT * d, sizeof(float));
    evae_pair_source src = {.n = N, .fill = gauss_fill, .ctx = &g};
    evae_classifier_fit fit;
    evae_classifier_train(&c, &src, epochs, 3e-3f, &fit, NULL, NULL);

    /* held out: "epoch" 1000 is a draw no training epoch used */
    float *x = be->alloc(be, (size_t)NT * KX * sizeof(float)), *zp = be->alloc(be, (size_t)NT * d *
                                                                           sizeof(float));
    float *zn = be->alloc(be, (size_t)NT * d * sizeof(float)),
        *t = be->alloc(be, NT * sizeof(float));
    gauss_fill(&g, 1000, 0, NT, x, zp, zn);
    float *tp = evae_xcalloc(NT, sizeof(float)), *tn = evae_xcalloc(NT, sizeof(float));
    evae_classifier_logits(&c, x, zp, NT, t);
    be->download(be, tp, t, NT * sizeof(float));
    evae_classifier_logits(&c, x, zn, NT, t);
    be->download(be, tn, t, NT * sizeof(float));
    kl_estimate r = {0, expected_kl(d, a, s), 0, 0};
    long right = 0;
    for (int e = 0; e < NT; e++) {
        r.kl_hat += tp[e] / NT;
        right += (tp[e] > 0) + (tn[e] < 0);
        /* true ln q(z|x) - ln p(z) at the positive pair */
        double lr = 0;
        for (int i = 0; i < d; i++) {
            double z = g.zph[e * d + i], u = (z - a * g.xh[e * KX + i % KX]) / s;
            lr += -0.5 * u * u - log(s) + 0.5 * z * z;
        }
        r.rmse += (tp[e] - lr) * (tp[e] - lr) / NT;
    }
    r.rmse = sqrt(r.rmse);
    r.accuracy = (double)right / (2.0 * NT);
    free(tp);
    free(tn);
    free(g.xh);
    free(g.zph);
    free(g.znh);
    be->free(be, x);
    be->free(be, zp);
    be->free(be, zn);
    be->free(be, t);
    evae_classifier_free(&c);
    return r;
}

static void check_known_kl(void)
{
    /* d = 4, a = 0.8, s = 0.6: KL = 2.04 nats, classes overlap (accuracy ~0.8) */
    for (uint64_t seed = 1; seed <= 2; seed++) {
        kl_estimate r = estimate_kl(4, 0.8, 0.6, 40, seed);
        printf("moderate KL (seed %llu): true %.4f, classifier %.4f (%.1f%%), held-out accuracy "
               "%.3f, rmse of T vs the true log ratio %.3f\n",
               (unsigned long long)seed, r.kl_true, r.kl_hat,
               100 * (r.kl_hat - r.kl_true) / r.kl_true, r.accuracy, r.rmse);
        /* tolerance 15% of the KL. At this budget (4000 fresh pairs per epoch, 40 epochs,
         * Adam 3e-3 decaying to 0) the estimate sits 8-10% low over six seeds, with a seed
         * spread of about 1%: T starts at 0 and a finite fit of the quadratic log ratio stays
         * shrunk toward it (300 epochs at width 128 bring it to -3%, rmse 0.25). The
         * classifier estimate is biased low; 15% bounds that bias here, while a wrong label,
         * sign or scale of T is off by 50% or more. */
        CHECK(fabs(r.kl_hat - r.kl_true) <= 0.15 * r.kl_true, "KL %.4f vs %.4f", r.kl_hat,
              r.kl_true);
        CHECK(r.accuracy > 0.6 && r.accuracy < 0.95, "overlapping classes: accuracy %.3f",
              r.accuracy);
    }
}

static void check_large_kl_failure(void)
{
    /* d = 8, a = 1.5, s = 0.03: KL = 33.06 nats. The classes separate almost perfectly, the
     * logistic loss then gives vanishing gradients (softplus(-T) ~ e^-T), and T stops near the
     * few nats that make the loss small: E[T] is a fraction of the KL. This is the regime of a
     * VAE's posterior against its prior in 64 dimensions, and why the classifier estimate must
     * be read with its accuracy beside it. */
    kl_estimate r = estimate_kl(8, 1.5, 0.03, 40, 1);
    printf("large KL: true %.4f, classifier %.4f (%.1f%%), held-out accuracy %.4f, rmse %.3f\n",
           r.kl_true, r.kl_hat, 100 * (r.kl_hat - r.kl_true) / r.kl_true, r.accuracy, r.rmse);
    CHECK(r.accuracy > 0.99, "separable classes: accuracy %.4f", r.accuracy);
    CHECK(r.kl_hat < 0.7 * r.kl_true, "the documented failure: E[T] %.3f should fall well short "
                                      "of the KL %.3f",
          r.kl_hat, r.kl_true);
}

int main(void)
{
    check_gradient();
    check_known_kl();
    check_large_kl_failure();
    return check_report("test_eval_classifier");
}
