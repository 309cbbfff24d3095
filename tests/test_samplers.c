/* Langevin and block-Gibbs chains of the CPU backend reproduce the exact mean and covariance of
 * small GRBMs (exact moments by enumeration, evae/model/grbm_exact.h), and draw their random numbers
 * from the documented (seed, stream, index) positions (evae/math/grbm_math.h). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "evae/backend/backend.h"
#include "evae/math/grbm.h"
#include "evae/model/grbm_exact.h"
#include "evae/math/grbm_math.h"
#include "evae/math/philox.h"
#include "grbm_models.h"

static const evae_backend *cpu; /* the specification, called through its table */


/* Sample mean[d], covariance cov[d,d] of z[C,d], and their standard errors from the sample's own
 * second and fourth moments (the chains are independent). */
static void sample_moments(const float *z, int C, int d, double *mean, double *cov, double *se_mean,
                           double *se_cov)
{
    for (int i = 0; i < d; i++) {
        double s = 0;
        for (int c = 0; c < C; c++) s += z[(size_t)c * d + i];
        mean[i] = s / C;
    }
    for (int i = 0; i < d; i++)
        for (int k = 0; k < d; k++) {
            double s = 0, s2 = 0;
            for (int c = 0; c < C; c++) {
                double p = (z[(size_t)c * d + i] - mean[i]) * (z[(size_t)c * d + k] - mean[k]);
                s += p;
                s2 += p * p;
            }
            cov[i * d + k] = s / C;
            se_cov[i * d + k] = sqrt((s2 / C - cov[i * d + k] * cov[i * d + k]) / C);
        }
    for (int i = 0; i < d; i++) se_mean[i] = sqrt(cov[i * d + i] / C);
}

/* Counts the moments outside |sample - exact| <= 4.5 SE + bias_mean * sd (means) and
 * 4.5 SE + bias_cov * var (covariances). 4.5 SE: at most ~30 such checks in this file, each
 * failing by chance with probability 7e-6. */
static int moments_outside(const char *what, const float *th, int d, int n, const float *z, int C,
                           double bias_mean, double bias_cov, int report)
{
    double em[4], ec[16], m[4], c[16], sem[4], sec[16];
    evae_grbm_exact_moments(th, d, n, em, ec);
    sample_moments(z, C, d, m, c, sem, sec);
    double var = 0;
    for (int i = 0; i < d; i++) var = fmax(var, ec[i * d + i]);
    int bad = 0;
    for (int i = 0; i < d; i++) {
        double tol = 4.5 * sem[i] + bias_mean * sqrt(var);
        if (fabs(m[i] - em[i]) > tol) {
            bad++;
            if (report)
                CHECK(0, "%s d=%d n=%d: mean[%d] %.5f, exact %.5f (tolerance %.3g)", what, d, n, i,
                      m[i], em[i], tol);
        }
        for (int k = 0; k <= i; k++) {
            double tol_c = 4.5 * sec[i * d + k] + bias_cov * var;
            if (fabs(c[i * d + k] - ec[i * d + k]) > tol_c) {
                bad++;
                if (report)
                    CHECK(0, "%s d=%d n=%d: cov[%d,%d] %.5f, exact %.5f (tolerance %.3g)", what, d,
                          n, i, k, c[i * d + k], ec[i * d + k], tol_c);
            }
        }
    }
    if (report) CHECK(bad == 0, "%s: %d moments outside", what, bad);
    return bad;
}

static void test_gibbs(int d, int n, double wscale, uint64_t seed)
{
    float th[2 * 4 + 4 * 6 + 6];
    multimodal_theta(th, d, n, wscale, seed);
    /* 200 sweeps: these models' moments stop moving after ~150 (checked) */
    const int C = 10000, steps = 200;
    float *z = calloc((size_t)C * d, sizeof(float)); /* z[C,d], all chains start at 0 */
    cpu->grbm_gibbs(cpu, th, d, n, z, C, steps, 1.0f, seed, 5);
    /* Gibbs is exact once mixed: no bias term */
    moments_outside("gibbs", th, d, n, z, C, 0.0, 0.0, 1);
    /* the same check rejects chains run at the wrong temperature */
    memset(z, 0, sizeof(float) * (size_t)C * d);
    cpu->grbm_gibbs(cpu, th, d, n, z, C, steps, 0.8f, seed, 5);
    CHECK(moments_outside("gibbs beta=0.8", th, d, n, z, C, 0.0, 0.0, 0) > 0,
          "moment check d=%d n=%d cannot tell beta = 0.8 from beta = 1", d, n);
    free(z);
}

/* Unadjusted Langevin has an O(eta) bias: for a Gaussian of precision L its stationary variance
 * is 1/(L (1 - eta L/2)), a relative excess of eta L/2. The GRBM's Hessian is at most
 * D = diag(1/sigma^2) (H = D - D W diag(q) W^T D), so with L = max_i 1/sigma_i^2 we allow a bias
 * of eta L in units of the variance (twice the Gaussian value) and of eta L times the standard
 * deviation in the means. */
static void test_langevin(int d, int n, double wscale, uint64_t seed)
{
    float th[2 * 4 + 4 * 6 + 6];
    multimodal_theta(th, d, n, wscale, seed);
    double L = 0;
    for (int i = 0; i < d; i++) L = fmax(L, exp(-2.0 * th[d + i]));
    /* eta L ~ 0.03-0.04: a few-percent bias allowance; 1500 steps (time 30) mix these models
     * from z = 0 (checked: the moments stop moving after ~1000 steps) */
    const int C = 4000, steps = 1500;
    const float eta = 0.02f;
    float *z = calloc((size_t)C * d, sizeof(float)); /* z[C,d], all chains start at 0 */
    cpu->grbm_langevin(cpu, th, d, n, z, C, steps, eta, seed, 9);
    moments_outside("langevin", th, d, n, z, C, eta * L, eta * L, 1);
    free(z);
}

/* One Langevin and one Gibbs call of two steps, recomputed by hand from the documented draw
 * positions: the CUDA backend must use the same ones. */
static void test_draw_positions(void)
{
    enum { d = 3, n = 2, B = 5 };
    float th[2 * d + d * n + n];
    multimodal_theta(th, d, n, 1.0, 77);
    const uint64_t seed = 123, stream = evae_stream(EVAE_STREAM_SAMPLER, 4);
    float z[B * d], want[B * d], dE[B * d], a[B * n];
    for (int k = 0; k < B * d; k++) z[k] = want[k] = evae_normal_at(1, 2, k);
    const float eta = 0.05f;
    cpu->grbm_langevin(cpu, th, d, n, z, B, 2, eta, seed, stream);
    for (int t = 0; t < 2; t++) {
        cpu->grbm_energy(cpu, th, d, n, 1.0f, want, B, NULL, dE);
        for (int c = 0; c < B; c++)
            for (int i = 0; i < d; i++) {
                float xi = evae_normal_at(seed, stream, (uint64_t)t * B * d + c * d + i);
                want[c * d + i] = want[c * d + i] - eta * dE[c * d + i] + sqrtf(2 * eta) * xi;
            }
    }
    double worst = 0;
    for (int k = 0; k < B * d; k++) worst = fmax(worst, fabs(z[k] - want[k]));
    CHECK(worst < 1e-6, "langevin draws differ from the documented positions by %.3g", worst);

    /* Gibbs at beta = 0.6: per step S = round4(B n) + round4(B d) indices; uniforms first */
    const float beta = 0.6f;
    const uint64_t Nu = (B * n + 3) / 4 * 4, S = Nu + (B * d + 3) / 4 * 4;
    for (int k = 0; k < B * d; k++) z[k] = want[k] = evae_normal_at(1, 3, k);
    cpu->grbm_gibbs(cpu, th, d, n, z, B, 2, beta, seed, stream);
    for (int t = 0; t < 2; t++) {
        for (int c = 0; c < B; c++)
            for (int j = 0; j < n; j++) {
                double aj = th[2 * d + d * n + j];
                for (int i = 0; i < d; i++)
                    aj += th[2 * d + i * n + j] * want[c * d + i] * exp(-2.0 * th[d + i]);
                float u = evae_uniform_at(seed, stream, t * S + c * n + j);
                a[c * n + j] = u < 1.0 / (1.0 + exp(-beta * aj)) ? 1.0f : 0.0f;
            }
        for (int c = 0; c < B; c++)
            for (int i = 0; i < d; i++) {
                double wh = 0;
                for (int j = 0; j < n; j++) wh += th[2 * d + i * n + j] * a[c * n + j];
                float xi = evae_normal_at(seed, stream, t * S + Nu + c * d + i);
                want[c * d + i] = (float)(th[i] + beta * wh + exp(th[d + i]) * xi);
            }
    }
    worst = 0;
    for (int k = 0; k < B * d; k++) worst = fmax(worst, fabs(z[k] - want[k]));
    CHECK(worst < 1e-5, "gibbs draws differ from the documented positions by %.3g", worst);
}

int main(void)
{
    cpu = evae_cpu_backend();
    test_draw_positions();
    test_gibbs(2, 3, 1.5, 1);
    test_gibbs(3, 5, 1.2, 5);
    test_gibbs(4, 6, 1.0, 3);
    test_langevin(2, 3, 1.5, 1);
    test_langevin(3, 5, 1.2, 5);
    return check_report("test_samplers");
}
