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

/* The energy's rounding variance V[B] (units of UR^2, one side, the same z on both) in the
 * probabilistic model of net_bounds.h, for the tests that compare whole models: the independent
 * roundings of x_i = D_i z_i (3, reaching E through beta (W p)_i), of each a_j's sum of d + 1
 * terms ((d + 1) Aabs_j^2, through beta p_j), of beta a_j (once), of each quadratic term (8
 * roundings of at most 2 quad_i) and softplus (4), and the float result. The worst-case bound
 * above adds all of these with one sign; over a's d terms and E's n that is ~80 times wider. */
static inline void energy_variance(const float *th, int d, int n, float beta, const float *z,
                                   int B, double *V)
{
    const float *mu = th, *W = th + 2 * d;
    double *a = xmalloc((size_t)n * sizeof(double)), *aabs = xmalloc((size_t)n * sizeof(double));
    for (int c = 0; c < B; c++) {
        const float *zc = z + (size_t)c * d;
        preact(th, d, n, zc, a, aabs);
        double v = 0.0, e = 0.0;
        for (int j = 0; j < n; j++) {
            double p = sigmoid(beta * a[j]), sp = softplus(beta * a[j]);
            v += beta * beta * p * p * ((d + 1) * aabs[j] * aabs[j] + a[j] * a[j]) + 4.0 * sp * sp;
            e -= sp;
        }
        for (int i = 0; i < d; i++) {
            double wp = 0.0, x = prec_of(th, d, i) * zc[i], r = zc[i] - mu[i];
            for (int j = 0; j < n; j++) wp += W[(size_t)i * n + j] * sigmoid(beta * a[j]);
            double quad = 0.5 * prec_of(th, d, i) * r * r;
            v += 3.0 * (beta * wp * x) * (beta * wp * x) + 8.0 * 4.0 * quad * quad;
            e += quad;
        }
        V[c] = v + e * e;
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

/* ---- Langevin: the same chains on both backends ----
 * One step z' = z - eta dE/dz + sqrt(2 eta) xi rounds a few times (4 UR (|z| + eta |dE| +
 * sqrt(2 eta) |xi|)), inherits dE/dz's error (energy bound above, with the largest magnitudes
 * Mdz over the run) and the normal's (16 UR |xi|, |xi| <= 6 for 24-bit uniforms). The two
 * sides' per-step differences add up and earlier ones grow at most by the step map's Lipschitz
 * constant 1 + eta Lh, Lh = max_i D_i (1 + sum_j |W_ij| sum_k |W_kj| D_k / 4) >= ||Hessian||:
 * tol = 2 steps e_step (1 + eta Lh)^steps. */
static inline double langevin_tolerance(const float *th, int d, int n, const float *z0,
                                        const float *z1, int B, int steps, float eta)
{
    const float *mu = th, *W = th + 2 * d, *b = th + 2 * d + (size_t)d * n;
    double zmax = 0.0;
    for (size_t k = 0; k < (size_t)B * d; k++)
        zmax = fmax(zmax, fmax(fabs((double)z0[k]), fabs((double)z1[k])));
    double amax = 0.0, lh = 0.0, mdz = 0.0;
    for (int j = 0; j < n; j++) {
        double s = fabs((double)b[j]);
        for (int i = 0; i < d; i++) s += fabs((double)W[(size_t)i * n + j]) * prec_of(th, d, i) * zmax;
        amax = fmax(amax, s);
    }
    for (int i = 0; i < d; i++) {
        double wsum = 0.0, hsum = 0.0;
        for (int j = 0; j < n; j++) {
            double wij = fabs((double)W[(size_t)i * n + j]), col = 0.0;
            for (int k = 0; k < d; k++) col += fabs((double)W[(size_t)k * n + j]) * prec_of(th, d, k);
            wsum += wij;
            hsum += wij * col;
        }
        lh = fmax(lh, prec_of(th, d, i) * (1.0 + 0.25 * hsum));
        mdz = fmax(mdz, prec_of(th, d, i) * (zmax + fabs((double)mu[i]) + wsum * (1.0 + 0.25 * amax)));
    }
    double e_step = 4.0 * UR * (zmax + eta * mdz + sqrt(2.0 * eta) * 6.0) +
                    eta * 2.0 * (d + n + 8) * UR * mdz + sqrt(2.0 * eta) * 16.0 * UR * 6.0;
    return 2.0 * steps * e_step * pow(1.0 + eta * lh, steps);
}

#endif
