/* Rounding bounds of the GRBM ops for the GPU tests (test_cuda_grbm, test_cuda_train,
 * test_cuda_eval): how far the CUDA backend's energy, its gradient and the score-matching
 * gradient may lie from the CPU backend's on the same inputs, from first-order float32 error
 * analysis (see test_cuda_grbm.c's top comment), with the term magnitudes computed in double on the
 * host. Include after compare.h. */
#ifndef EVAE_TESTS_GRBM_BOUNDS_H
#define EVAE_TESTS_GRBM_BOUNDS_H

#include <math.h>

#include "compare.h"
#include "evae/backend/backend.h"
#include "evae/math/grbm.h"

static inline double prec_of(const float *th, int d, int i) { return exp(-2.0 * th[d + i]); }

/* a_j = b_j + sum_i W_ij D_i z_i and Aabs_j = |b_j| + sum_i |W_ij D_i z_i| for one example */
static inline void preact(const float *th, int d, int n, const float *zc, double *a, double *aabs)
{
    const float *W = th + 2 * d, *b = th + 2 * d + (size_t)d * n;
    for (int j = 0; j < n; j++) a[j] = b[j], aabs[j] = fabs((double)b[j]);
    for (int i = 0; i < d; i++) {
        double x = prec_of(th, d, i) * zc[i];
        for (int j = 0; j < n; j++) {
            a[j] += W[(size_t)i * n + j] * x;
            aabs[j] += fabs(W[(size_t)i * n + j] * x);
        }
    }
}

static inline double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static inline double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

/* ---- energy ----
 * a carries <= (d + 1) UR Aabs; E sums d quadratic terms and n softplus terms, each moving by
 * beta times a's error: tol_E = K (sum quad + sum |softplus| + beta sum Aabs).
 * dE/dz_i = D_i ((z_i - mu_i) - beta (W p)_i): (n + 1) UR sum|W p| plus sigmoid' <= 1/4 times
 * a's error: tol = K D_i (|z_i| + |mu_i| + beta sum_j |W_ij| (p_j + beta Aabs_j / 4)).
 * K = 2 (d + n + 8) UR: both sides, and a few roundings (precision expf, products) on top. */
static inline void energy_tolerances(const float *th, int d, int n, float beta, const float *z,
                                     int B, double *tol_E, double *tol_G)
{
    const float *mu = th, *W = th + 2 * d;
    const double K = 2.0 * (d + n + 8) * UR;
    double *a = xmalloc((size_t)n * sizeof(double)), *aabs = xmalloc((size_t)n * sizeof(double));
    for (int c = 0; c < B; c++) {
        const float *zc = z + (size_t)c * d;
        preact(th, d, n, zc, a, aabs);
        double m = 0.0;
        for (int i = 0; i < d; i++) {
            double r = zc[i] - mu[i];
            m += 0.5 * prec_of(th, d, i) * r * r;
        }
        for (int j = 0; j < n; j++) m += fabs(softplus(beta * a[j])) + beta * aabs[j];
        tol_E[c] = K * m;
        for (int i = 0; i < d; i++) {
            double s = 0.0;
            for (int j = 0; j < n; j++)
                s += fabs((double)W[(size_t)i * n + j]) *
                     (sigmoid(beta * a[j]) + 0.25 * beta * aabs[j]);
            tol_G[(size_t)c * d + i] =
                K * prec_of(th, d, i) * (fabs((double)zc[i]) + fabs((double)mu[i]) + beta * s);
        }
    }
    free(a), free(aabs);
}

/* grad: each entry is (1/B) sum_b of per-example gradients, and within a parameter group (mu,
 * log sigma, W, b) every entry is built from the same vectors through at most d + n + 2M
 * dependent roundings. So the bound per entry is 4 (d + n + 2M + B + 8) UR times the group's
 * typical term, taken as (1/B) sum_b max_group |grad_b| with grad_b the CPU's gradient of
 * example b alone; B covers the sum over examples, 4 = both sides and the group-max estimate. */
static inline void ssm_grad_tolerances(const float *th, int d, int n, const float *z, int B,
                                       const float *v, int M, int vr, double *tol)
{
    const size_t size = evae_grbm_size(d, n);
    const size_t start[5] = {0, (size_t)d, 2 * (size_t)d, 2 * (size_t)d + (size_t)d * n, size};
    double group[4] = {0, 0, 0, 0};
    const evae_backend *ref = evae_cpu_backend();
    float *thc = put(ref, th, size), *grad = ref->alloc(ref, size * sizeof(float));
    float J;
    for (int c = 0; c < B; c++) {
        ref->grbm_ssm(ref, thc, d, n, z + (size_t)c * d, 1, v + (size_t)c * M * d, M, vr, &J, grad);
        for (int g = 0; g < 4; g++) {
            double mx = 0.0;
            for (size_t k = start[g]; k < start[g + 1]; k++) mx = fmax(mx, fabs((double)grad[k]));
            group[g] += mx / B;
        }
    }
    const double K = 4.0 * (d + n + 2 * M + B + 8) * UR;
    for (int g = 0; g < 4; g++)
        for (size_t k = start[g]; k < start[g + 1]; k++) tol[k] = K * group[g];
    ref->free(ref, thc), ref->free(ref, grad);
}

#endif
