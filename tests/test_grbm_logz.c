/* Exact log Z and moments of a small GRBM (enumeration over h) against numerical integration of
 * exp(-E(z)) on a fine grid, in double, for d = 1 and d = 2. */
#include <stdlib.h>

#include "check.h"
#include "evae/math/grbm.h"
#include "evae/model/grbm_exact.h"
#include "evae/math/philox.h"

/* E(z) = 0.5 |(z - mu)/sigma|^2 - sum_j softplus(a_j), a = W^T (z/sigma^2) + b, written out
 * independently of the library */
static double energy(const float *th, int d, int n, const double *z)
{
    const float *mu = th, *ls = th + d, *W = th + 2 * d, *b = th + 2 * d + d * n;
    double e = 0.0;
    for (int i = 0; i < d; i++) {
        double t = (z[i] - mu[i]) / exp(ls[i]);
        e += 0.5 * t * t;
    }
    for (int j = 0; j < n; j++) {
        double a = b[j];
        for (int i = 0; i < d; i++) a += W[i * n + j] * z[i] / exp(2.0 * ls[i]);
        e -= a > 0 ? a + log1p(exp(-a)) : log1p(exp(a));
    }
    return e;
}

static void random_theta(float *th, int d, int n, double wscale, uint64_t seed)
{
    uint64_t k = 0;
    for (int i = 0; i < d; i++) th[i] = 0.5f * evae_normal_at(seed, 1, k++);
    for (int i = 0; i < d; i++) th[d + i] = 0.3f * evae_normal_at(seed, 1, k++);
    for (int i = 0; i < d * n; i++) th[2 * d + i] = (float)wscale * evae_normal_at(seed, 1, k++);
    for (int j = 0; j < n; j++) th[2 * d + d * n + j] = 0.5f * evae_normal_at(seed, 1, k++);
}

/* A box that holds every mixture component mu + W h to 12 sigma: the integrand outside is below
 * exp(-72) of its peak. */
static void box(const float *th, int d, int n, double *lo, double *hi)
{
    for (int i = 0; i < d; i++) {
        double neg = 0, pos = 0, s = exp(th[d + i]);
        for (int j = 0; j < n; j++) {
            double w = th[2 * d + i * n + j];
            if (w < 0) neg += w; else pos += w;
        }
        lo[i] = th[i] + neg - 12 * s;
        hi[i] = th[i] + pos + 12 * s;
    }
}

/* Trapezoid sums of exp(-E + shift), z exp(-E + shift), z z^T exp(-E + shift) on a grid of G
 * points per axis (d = 1 or 2). The integrand is smooth and negligible at the box's edges, where
 * the trapezoid rule converges faster than any power of the spacing. */
static void integrate(const float *th, int d, int n, int G, double *log_z, double *mean,
                      double *cov)
{
    double lo[2], hi[2], h[2];
    box(th, d, n, lo, hi);
    for (int i = 0; i < d; i++) h[i] = (hi[i] - lo[i]) / (G - 1);
    double shift = 0.0; /* -min E over the grid, so exp() cannot overflow */
    int G2 = d == 2 ? G : 1;
    for (int pass = 0; pass < 2; pass++) {
        double s0 = 0, s1[2] = {0, 0}, s2[4] = {0, 0, 0, 0};
        for (int a = 0; a < G; a++)
            for (int c = 0; c < G2; c++) {
                double z[2] = {lo[0] + a * h[0], d == 2 ? lo[1] + c * h[1] : 0.0};
                double e = energy(th, d, n, z);
                if (pass == 0) {
                    if (-e > shift || (a == 0 && c == 0)) shift = -e;
                    continue;
                }
                double w = exp(-e - shift);
                if (a == 0 || a == G - 1) w *= 0.5;
                if (d == 2 && (c == 0 || c == G - 1)) w *= 0.5;
                s0 += w;
                for (int i = 0; i < d; i++) {
                    s1[i] += w * z[i];
                    for (int k = 0; k < d; k++) s2[i * d + k] += w * z[i] * z[k];
                }
            }
        if (pass == 0) continue;
        double vol = h[0] * (d == 2 ? h[1] : 1.0);
        *log_z = log(s0 * vol) + shift;
        for (int i = 0; i < d; i++) mean[i] = s1[i] / s0;
        for (int i = 0; i < d; i++)
            for (int k = 0; k < d; k++) cov[i * d + k] = s2[i * d + k] / s0 - mean[i] * mean[k];
    }
}

static void compare(int d, int n, double wscale, uint64_t seed, int G)
{
    float th[2 * 2 + 2 * 8 + 8];
    random_theta(th, d, n, wscale, seed);
    double lz_exact, mean_exact[2], cov_exact[4], lz_num, mean_num[2], cov_num[4];
    CHECK(evae_grbm_exact_log_z(th, d, n, &lz_exact) == 0, "exact log Z failed");
    CHECK(evae_grbm_exact_moments(th, d, n, mean_exact, cov_exact) == 0, "exact moments failed");
    integrate(th, d, n, G, &lz_num, mean_num, cov_num);
    char what[96];
    /* Z to 1e-6 relative: |ln Z_exact - ln Z_num| <= 1e-6 (the grid's own error is far smaller) */
    snprintf(what, sizeof what, "log Z d=%d n=%d W scale %g", d, n, wscale);
    CHECK_CLOSE(lz_exact, lz_num, 1e-6, 0.0, what);
    /* moments relative to the spread of z (the largest standard deviation) */
    double spread = 0.0;
    for (int i = 0; i < d; i++) spread = fmax(spread, sqrt(cov_num[i * d + i]));
    for (int i = 0; i < d; i++) {
        snprintf(what, sizeof what, "mean[%d] d=%d n=%d W scale %g", i, d, n, wscale);
        CHECK_CLOSE(mean_exact[i], mean_num[i], 1e-6 * spread, 0.0, what);
        for (int k = 0; k < d; k++) {
            snprintf(what, sizeof what, "cov[%d,%d] d=%d n=%d W scale %g", i, k, d, n, wscale);
            CHECK_CLOSE(cov_exact[i * d + k], cov_num[i * d + k], 1e-6 * spread * spread, 0.0,
                        what);
        }
    }
    printf("d=%d n=%d W scale %.1f: log Z exact %.10f, grid %.10f\n", d, n, wscale, lz_exact,
           lz_num);
}

int main(void)
{
    compare(1, 1, 1.0, 1, 4001);
    compare(1, 4, 2.0, 2, 4001);
    compare(1, 8, 1.5, 3, 4001);
    compare(2, 3, 1.0, 4, 801);
    compare(2, 5, 2.0, 5, 801);
    compare(2, 8, 1.5, 6, 801);
    /* with no coupling the model is N(mu, sigma^2) times 2^n */
    float th[2 * 3 + 3 * 4 + 4] = {0.3f, -1.0f, 2.0f, 0.1f, -0.2f, 0.4f};
    double lz;
    CHECK(evae_grbm_exact_log_z(th, 3, 4, &lz) == 0, "exact log Z failed");
    double lz0 = 1.5 * log(2 * 3.14159265358979323846) + (double)th[3] + th[4] + th[5] +
                 4 * log(2.0);
    CHECK_CLOSE(lz, lz0, 1e-12, 0.0, "log Z of the uncoupled model");
    /* too many hidden units is refused with a message */
    CHECK(evae_grbm_exact_log_z(th, 3, EVAE_GRBM_EXACT_MAX_N + 1, &lz) != 0,
          "exact log Z accepted n > EVAE_GRBM_EXACT_MAX_N");
    return check_report("test_grbm_logz");
}
