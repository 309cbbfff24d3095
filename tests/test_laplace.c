/* The Laplace decoder: cpu_laplace_ll (value and gradient) against an independent double
 * computation and central differences, and the calibrated scale (evae/model/laplace.h) as the
 * maximizer of the mean log-likelihood over the scale. */
#include "check.h"
#include "evae/backend/backend.h"
#include "evae/model/laplace.h"
#include "evae/math/philox.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

static const evae_backend *cpu; /* the specification, called through its table */

static uint64_t rng_index = 0;
static double rand_u(void) { return evae_uniform_at(2024, 11, rng_index++); }

/* ll of one example in double: sum_j [-|y - mean|/b - ln(2b)] */
static double ref_ll(const double *mean, const double *y, int D, double b)
{
    double acc = 0.0;
    for (int j = 0; j < D; j++) acc += -fabs(y[j] - mean[j]) / b - log(2.0 * b);
    return acc;
}

/* Value and gradient. ll is a sum of D terms of size ~1 accumulated in double and rounded
 * once to float: rtol 1e-6 covers the float rounding of the result (6e-8) and of each
 * difference y - mean (6e-8 relative per term). The gradient is +-grad_scale/scale computed
 * in float: rtol 1e-6. The central difference is exact for a piecewise-linear function as
 * long as no |y - mean| crosses zero: the data keep |y - mean| >= 0.05 >> FD_STEP. */
static void test_value_and_gradient(void)
{
    enum { B = 3, D = 40 };
    const float scale = 0.7f, grad_scale = -0.3f; /* a loss gradient scale: -1/batch, say */
    const double FD_STEP = 1e-4;
    float mean[B * D], y[B * D], ll[B], ll2[B], dmean[B * D];
    double md[B * D], yd[B * D];
    for (int i = 0; i < B * D; i++) {
        mean[i] = (float)(4.0 * rand_u() - 2.0);
        double e = 0.05 + 1.5 * rand_u(); /* |y - mean| in [0.05, 1.55] */
        y[i] = mean[i] + (float)(rand_u() < 0.5 ? -e : e);
        md[i] = mean[i];
        yd[i] = y[i];
    }
    /* an exact tie: the gradient there is 0 by convention */
    y[5] = mean[5];
    yd[5] = md[5];

    cpu->laplace_ll(cpu, ll, dmean, mean, y, B, D, scale, grad_scale);
    for (int b = 0; b < B; b++) {
        double want = ref_ll(md + b * D, yd + b * D, D, scale);
        CHECK_CLOSE(ll[b], want, 0.0, 1e-6, "laplace ll");
    }
    for (int b = 0; b < B; b++)
        for (int j = 0; j < D; j++) {
            int i = b * D + j;
            if (i == 5) {
                CHECK(dmean[i] == 0.0f, "dmean at y == mean must be 0, got %g", dmean[i]);
                continue;
            }
            double saved = md[i];
            md[i] = saved + FD_STEP;
            double lp = ref_ll(md + b * D, yd + b * D, D, scale);
            md[i] = saved - FD_STEP;
            double lm = ref_ll(md + b * D, yd + b * D, D, scale);
            md[i] = saved;
            double fd = grad_scale * (lp - lm) / (2.0 * FD_STEP);
            CHECK_CLOSE(dmean[i], fd, 0.0, 1e-6, "laplace dmean vs FD");
        }
    /* dmean NULL skips the gradient and leaves ll unchanged */
    cpu->laplace_ll(cpu, ll2, NULL, mean, y, B, D, scale, grad_scale);
    CHECK(memcmp(ll, ll2, sizeof ll) == 0, "ll differs when dmean is NULL");
}

/* Mean ll per element over all n elements, in double. */
static double mean_ll(const double *mean, const double *y, size_t n, double b)
{
    return ref_ll(mean, y, (int)n, b) / (double)n;
}

/* The calibrated scale b* = mean |y - mean| maximizes the mean ll over b. Near b* the mean ll
 * drops by about delta^2/2 per element for b = b*(1 +- delta); at delta = 1e-3 that is 5e-7,
 * far above double rounding of a mean of O(1) terms (~1e-15). */
static void test_calibrated_scale(void)
{
    enum { B = 8, D = 300 };
    const size_t n = (size_t)B * D;
    float *mean = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    double *md = malloc(n * sizeof(double)), *yd = malloc(n * sizeof(double));
    double l1 = 0.0;
    for (size_t i = 0; i < n; i++) {
        mean[i] = (float)(6.0 * rand_u() - 3.0);
        /* Laplace-distributed error with scale 0.2 (inverse CDF) */
        double v = rand_u() - 0.5;
        y[i] = mean[i] + (float)(-0.2 * (v < 0 ? -1.0 : 1.0) * log(1.0 - 2.0 * fabs(v)));
        md[i] = mean[i];
        yd[i] = y[i];
        l1 += fabs(yd[i] - md[i]);
    }
    double b = evae_laplace_scale_from_l1(l1, n);
    CHECK_CLOSE(b, l1 / (double)n, 0.0, 1e-12, "calibrated scale = mean |y - mean|");
    CHECK(b > 0.15 && b < 0.25, "calibrated scale %g should be near the true 0.2", b);

    double at = mean_ll(md, yd, n, b);
    double lo = mean_ll(md, yd, n, b * (1.0 - 1e-3)), hi = mean_ll(md, yd, n, b * (1.0 + 1e-3));
    CHECK(lo < at && hi < at, "mean ll at b*(1-1e-3) %.12g, b* %.12g, b*(1+1e-3) %.12g", lo, at,
          hi);
    /* second order: drop = delta^2/2 per element (rtol 1e-2 covers the cubic term, ~delta) */
    CHECK_CLOSE(at - lo, 0.5e-6, 0.0, 1e-2, "ll drop at b*(1-1e-3)");
    CHECK_CLOSE(at - hi, 0.5e-6, 0.0, 1e-2, "ll drop at b*(1+1e-3)");

    /* the same through the float backend op at a coarser step (delta = 0.05: drop 1.25e-3 per
     * element, far above the float rounding of ll, ~1e-7 relative) */
    float *ll = malloc(B * sizeof(float));
    double sum_at = 0.0, sum_lo = 0.0, sum_hi = 0.0;
    cpu->laplace_ll(cpu, ll, NULL, mean, y, B, D, (float)b, 1.0f);
    for (int i = 0; i < B; i++) sum_at += ll[i];
    cpu->laplace_ll(cpu, ll, NULL, mean, y, B, D, (float)(b * 0.95), 1.0f);
    for (int i = 0; i < B; i++) sum_lo += ll[i];
    cpu->laplace_ll(cpu, ll, NULL, mean, y, B, D, (float)(b * 1.05), 1.0f);
    for (int i = 0; i < B; i++) sum_hi += ll[i];
    CHECK(sum_lo < sum_at && sum_hi < sum_at, "backend ll not maximal at the calibrated scale");

    /* l1 through laplace_ll at scale 1 (as a device trainer gets it): sum ll = -l1 - n ln 2 */
    cpu->laplace_ll(cpu, ll, NULL, mean, y, B, D, 1.0f, 1.0f);
    double sum1 = 0.0;
    for (int i = 0; i < B; i++) sum1 += ll[i];
    double b_dev = evae_laplace_scale_from_l1(-(sum1 + (double)n * log(2.0)), n);
    /* each ll (~ -270) carries float rounding ~2e-5; summed over B, divided by n: ~1e-7 */
    CHECK_CLOSE(b_dev, b, 1e-6, 0.0, "scale from laplace_ll at scale 1");

    free(ll); free(mean); free(y); free(md); free(yd);
}

/* The floor: a perfect fit or no data gives EVAE_LAPLACE_SCALE_FLOOR, never 0. */
static void test_floor(void)
{
    CHECK(evae_laplace_scale_from_l1(0.0, 4) == EVAE_LAPLACE_SCALE_FLOOR,
          "perfect fit should give the floor");
    CHECK(evae_laplace_scale_from_l1(0.0, 0) == EVAE_LAPLACE_SCALE_FLOOR,
          "no data should give the floor");
    CHECK(evae_laplace_scale_from_l1(3.0, 4) == 0.75, "scale from l1 above the floor");
}

int main(void)
{
    cpu = evae_cpu_backend();
    test_value_and_gradient();
    test_calibrated_scale();
    test_floor();
    return check_report("test_laplace");
}
