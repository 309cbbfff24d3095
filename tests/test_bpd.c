/* The MAF preprocessing and the bits/dim arithmetic (evae/data/logit.h).
 *
 * The central check is a change of variables done numerically, with no Jacobian written down:
 * give y a known density, N(m_i, sd_i^2) independently per dimension. Then u = (x + noise)/256
 * has density p(u) = lim_h P(u in [u0 - h/2, u0 + h/2]) / h, and that probability is a
 * difference of the Gaussian CDF at y(u0 +- h/2), because y(u) is increasing. The library's
 * ln p(u) = ln p(y) + log_det(y) must agree with it. A second check uses the density whose
 * answer is known in closed form: u uniform on [0,1]^D has ln p(u) = 0, so a model that spreads
 * its mass uniformly over the dequantized cube pays exactly log2(256) = 8 bits per dimension. */
#include "check.h"
#include "evae/data/logit.h"
#include "evae/math/philox.h"

#include <stdlib.h>

static uint64_t rng_index = 0;
static double rand_u(void) { return evae_uniform_at(7, 5, rng_index++); }

static const double ALPHA = EVAE_LOGIT_ALPHA; /* 0.05f as a double, the value the code uses */

/* y(u) in double */
static double ref_logit_of_u(double u)
{
    double s = ALPHA + (1.0 - 2.0 * ALPHA) * u;
    return log(s / (1.0 - s));
}

/* Gaussian CDF difference Phi(z2) - Phi(z1), z1 < z2, taking the tail on the side where
 * erfc does not cancel */
static double gauss_mass(double z1, double z2)
{
    if (z1 + z2 > 0.0) return 0.5 * (erfc(z1 / sqrt(2.0)) - erfc(z2 / sqrt(2.0)));
    return 0.5 * (erfc(-z2 / sqrt(2.0)) - erfc(-z1 / sqrt(2.0)));
}

/* Float y errs from the exact logit by at most ~2.5e-6: x + noise rounds by half an ulp of 255
 * (7.6e-6), 2.7e-8 after the gain 0.9/256; s itself rounds by 3e-8; dy/ds = 1/(s(1-s)) <= 21
 * on [0.05, 0.95]; the two float logs add ~1 ulp of |ln s| <= 3 each (5e-7). */
#define Y_TOL 4e-6

static void test_dequantize_and_inverse(void)
{
    enum { N = 64 };
    float x[N], noise[N], y[N], u[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)(int)(256.0 * rand_u());
        noise[i] = (float)rand_u();
    }
    x[0] = 0.0f, noise[0] = 0.0f;            /* the lowest dequantized value */
    x[1] = 255.0f, noise[1] = 0x1.fffffep-1f; /* the highest, just below 1 */
    evae_logit_dequantize(y, x, noise, N, EVAE_LOGIT_ALPHA);
    for (int i = 0; i < N; i++)
        CHECK_CLOSE(y[i], ref_logit_of_u(((double)x[i] + noise[i]) / 256.0), Y_TOL, 0.0,
                    "dequantize + logit");
    CHECK_CLOSE(y[0], log(0.05 / 0.95), Y_TOL, 0.0, "y of pixel 0, noise 0 = logit(alpha)");
    CHECK_CLOSE(y[1], log(0.95 / 0.05), Y_TOL, 0.0, "y of pixel 255, noise ~1 = logit(1-alpha)");

    /* inverse: back to u = (x + noise)/256; sigmoid in float errs by ~1e-7, the division by
     * 1 - 2 alpha = 0.9 keeps it there: 1e-6 */
    evae_logit_to_unit(u, y, N, EVAE_LOGIT_ALPHA);
    for (int i = 0; i < N; i++)
        CHECK_CLOSE(u[i], ((double)x[i] + noise[i]) / 256.0, 1e-6, 0.0, "logit inverse");
    /* decoder means outside the data's range clip to [0,1] */
    float far[2] = {-10.0f, 10.0f}, uf[2];
    evae_logit_to_unit(uf, far, 2, EVAE_LOGIT_ALPHA);
    CHECK(uf[0] == 0.0f && uf[1] == 1.0f, "clip: got %g %g", uf[0], uf[1]);
}

/* log_det against the textbook form D ln(1 - 2 alpha) - sum [ln s + ln(1 - s)], s = sigmoid(y),
 * in double for each row of a batch. Both are double sums of D terms of size ~3: 1e-12
 * relative is far above their rounding. */
static void test_log_det(void)
{
    enum { B = 3, D = 50 };
    float x[B * D], noise[B * D], y[B * D];
    for (int i = 0; i < B * D; i++) {
        x[i] = (float)(int)(256.0 * rand_u());
        noise[i] = (float)rand_u();
    }
    evae_logit_dequantize(y, x, noise, B * D, EVAE_LOGIT_ALPHA);
    double ld[B];
    evae_logit_log_det(ld, y, B, D, EVAE_LOGIT_ALPHA);
    for (int b = 0; b < B; b++) {
        double want = D * log(1.0 - 2.0 * ALPHA);
        for (int i = 0; i < D; i++) {
            double s = 1.0 / (1.0 + exp(-(double)y[b * D + i]));
            want -= log(s) + log(1.0 - s);
        }
        CHECK_CLOSE(ld[b], want, 0.0, 1e-12, "log_det per example");
    }
}

/* ln p(u) and bits/dim vs the numerical change of variables through the Gaussian CDF. */
static void test_change_of_variables(void)
{
    enum { D = 4, POINTS = 6 };
    const double H = 1e-5; /* u-interval: truncation ~ (H^2/24) |p''/p| < 1e-7 here */
    const double m[D] = {0.3, -1.0, 1.5, 0.0}, sd[D] = {1.0, 0.7, 1.3, 2.0};
    for (int pt = 0; pt < POINTS; pt++) {
        float x[D], noise[D], y[D];
        for (int i = 0; i < D; i++) {
            x[i] = (float)(int)(256.0 * rand_u());
            noise[i] = (float)rand_u();
        }
        if (pt == 0) x[0] = 0.0f, x[1] = 255.0f; /* both edges of the range */

        /* the library: ln p(u) = ln p(y) + log_det(y), with ln p(y) the model's density at the
         * float y the evaluator holds */
        evae_logit_dequantize(y, x, noise, D, EVAE_LOGIT_ALPHA);
        double ln_py = 0.0, tol = 0.0;
        for (int i = 0; i < D; i++) {
            double z = (y[i] - m[i]) / sd[i];
            ln_py += -0.5 * z * z - log(sd[i]) - 0.5 * log(2.0 * 3.14159265358979323846);
            /* the float y's error Y_TOL moves ln p(u) by |d ln p(u)/dy| <= |z|/sd + 1 */
            tol += Y_TOL * (fabs(z) / sd[i] + 1.0);
        }
        double ld;
        evae_logit_log_det(&ld, y, 1, D, EVAE_LOGIT_ALPHA);
        double ln_pu = ln_py + ld;

        /* numerically: probability of a small u-box through y's Gaussian CDF, per dimension */
        double ln_pu_num = 0.0;
        for (int i = 0; i < D; i++) {
            double u0 = ((double)x[i] + noise[i]) / 256.0;
            double z1 = (ref_logit_of_u(u0 - 0.5 * H) - m[i]) / sd[i];
            double z2 = (ref_logit_of_u(u0 + 0.5 * H) - m[i]) / sd[i];
            ln_pu_num += log(gauss_mass(z1, z2) / H);
        }
        CHECK_CLOSE(ln_pu, ln_pu_num, tol, 0.0, "ln p(u) vs numerical change of variables");
        double bpd_num = -ln_pu_num / (D * log(2.0)) + 8.0;
        CHECK_CLOSE(evae_bits_per_dim(ln_pu, D), bpd_num, tol / (D * log(2.0)), 0.0,
                    "bits/dim vs numerical change of variables");
    }
}

/* Uniform u on [0,1]^D: its y-density is p(y) = prod s(1-s)/(1 - 2 alpha) (s = sigmoid(y)),
 * evaluated here at the float y's directly. ln p(u) = ln p(y) + log_det must vanish up to
 * double rounding of 2D terms of size ~3 (1e-11 at D = 3072), and bits/dim must be 8. */
static void test_uniform_is_8_bits(void)
{
    enum { D = 3072 };
    float *x = malloc(D * sizeof(float)), *noise = malloc(D * sizeof(float)),
          *y = malloc(D * sizeof(float));
    for (int i = 0; i < D; i++) {
        x[i] = (float)(int)(256.0 * rand_u());
        noise[i] = (float)rand_u();
    }
    evae_logit_dequantize(y, x, noise, D, EVAE_LOGIT_ALPHA);
    double ln_py = -D * log(1.0 - 2.0 * ALPHA);
    for (int i = 0; i < D; i++) {
        double s = 1.0 / (1.0 + exp(-(double)y[i]));
        ln_py += log(s) + log(1.0 - s);
    }
    double ld;
    evae_logit_log_det(&ld, y, 1, D, EVAE_LOGIT_ALPHA);
    CHECK_CLOSE(ln_py + ld, 0.0, 1e-9, 0.0, "uniform u: ln p(u) = 0");
    CHECK_CLOSE(evae_bits_per_dim(ln_py + ld, D), 8.0, 1e-12, 0.0, "uniform u: 8 bits/dim");
    CHECK(evae_bits_per_dim(0.0, D) == 8.0, "ln p(u) = 0 must give exactly 8 bits/dim");
    /* one nat per dimension less likely costs 1/ln 2 bits more */
    CHECK_CLOSE(evae_bits_per_dim(-(double)D, D), 8.0 + 1.0 / log(2.0), 1e-12, 0.0,
                "ln p(u) = -D gives 8 + 1/ln 2 bits/dim");
    free(x); free(noise); free(y);
}

int main(void)
{
    test_dequantize_and_inverse();
    test_log_det();
    test_change_of_variables();
    test_uniform_is_8_bits();
    return check_report("test_bpd");
}
