/* The CUDA ops of the prior objectives against the CPU backend on the same inputs, outputs
 * poisoned with NaN: grbm_param_grad (the weighted energy gradient: mean and signed weights,
 * beta = 0, 1 and 0.5, no examples, the MNIST and CIFAR-10 GRBM sizes) and grbm_dsm on both CUDA
 * paths (W in shared memory, and the general path forced); then both against central finite
 * differences of the double-precision reference (grbm_reference.h). Exits 77 (skipped) without
 * a CUDA device.
 *
 * Tolerances, first-order rounding bounds as in test_cuda_grbm.c (UR = 2^-24, both sides may be
 * off by the bound): every entry of either gradient is a weighted sum over the B examples of
 * per-example terms built through at most d + n + 8 dependent roundings (the products with W,
 * the sigmoid of a perturbed pre-activation, the precisions), so it is within
 * 4 (d + n + B + 8) UR sum_b |w_b| G_b of exact, G_b the largest per-example term of its
 * parameter group (mu, log sigma, W, b), taken from the CPU's gradient of example b alone; beta
 * times the old value adds 2 UR |beta old|. dsm's J_b = 0.5 |s + o|^2: s_i carries
 * (n + 2) UR D_i Gabs_i (Gabs = |z| + |mu| + sum_j |W_ij| (1 + Aabs_j / 4): p <= 1, and
 * sigmoid' <= 1/4 times a's error), so J_b moves by sum_i |s_i + o_i| D_i Gabs_i times
 * 2 (d + n + 8) UR, plus the rounding of its own d-term sum, 2 d UR J_b. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef EVAE_HAVE_CUDA
#include "check.h"
#include "cuda_testing.h"
#include "evae/backend/backend.h"
#include "evae/math/grbm.h"
#include "evae/math/philox.h"
#include "gpu/gpu_compare.h"
#include "grbm_reference.h"

/* A GRBM with W ~ 1 / sqrt(d), so the pre-activations stay O(1) at any d. */
static float *random_theta(int d, int n, uint64_t stream)
{
    size_t size = evae_grbm_size(d, n);
    float *th = xmalloc(size * sizeof(float));
    for (size_t k = 0; k < size; k++) th[k] = evae_normal_at(TEST_SEED, stream, k);
    for (int i = 0; i < d; i++) th[i] *= 0.3f;                         /* mu */
    for (int i = 0; i < d; i++) th[d + i] = -0.1f + 0.15f * th[d + i]; /* log sigma */
    for (size_t k = 0; k < (size_t)d * n; k++) th[2 * d + k] *= (float)(1.0 / sqrt((double)d));
    for (int j = 0; j < n; j++) th[2 * d + (size_t)d * n + j] *= 0.5f; /* b */
    return th;
}

/* The per-group bound above: tol[size] from the CPU's per-example gradients. per_example runs
 * the op on one example b into grad (theta and z already on the CPU). */
typedef void (*one_example_fn)(const float *thc, int d, int n, const float *zc, const float *oc,
                               float *grad);

static void group_tolerances(const float *th, int d, int n, const float *z, const float *o,
                             int B, const float *w, one_example_fn one, double *tol)
{
    const size_t size = evae_grbm_size(d, n);
    const size_t start[5] = {0, (size_t)d, 2 * (size_t)d, 2 * (size_t)d + (size_t)d * n, size};
    double group[4] = {0, 0, 0, 0};
    float *thc = put(cpu, th, size), *grad = cpu->alloc(cpu, size * sizeof(float));
    for (int c = 0; c < B; c++) {
        one(thc, d, n, z + (size_t)c * d, o ? o + (size_t)c * d : NULL, grad);
        double wc = w ? fabs((double)w[c]) : 1.0 / B;
        for (int g = 0; g < 4; g++) {
            double mx = 0.0;
            for (size_t k = start[g]; k < start[g + 1]; k++) mx = fmax(mx, fabs((double)grad[k]));
            group[g] += wc * mx;
        }
    }
    const double K = 4.0 * (d + n + B + 8) * UR;
    for (int g = 0; g < 4; g++)
        for (size_t k = start[g]; k < start[g + 1]; k++) tol[k] = K * group[g];
    cpu->free(cpu, thc), cpu->free(cpu, grad);
}

static void param_grad_one(const float *thc, int d, int n, const float *zc, const float *oc,
                           float *grad)
{
    (void)oc;
    float one = 1.0f;
    float *zz = put(cpu, zc, (size_t)d);
    cpu->grbm_param_grad(cpu, thc, d, n, zz, 1, &one, 0.0f, grad);
    cpu->free(cpu, zz);
}

static void dsm_one(const float *thc, int d, int n, const float *zc, const float *oc, float *grad)
{
    float J;
    float *zz = put(cpu, zc, (size_t)d), *oo = put(cpu, oc, (size_t)d);
    cpu->grbm_dsm(cpu, thc, d, n, zz, 1, oo, &J, grad);
    cpu->free(cpu, zz), cpu->free(cpu, oo);
}

/* ---- grbm_param_grad ---- */
static void test_param_grad_case(int d, int n, int B, int weighted, float beta)
{
    const size_t size = evae_grbm_size(d, n), nz = (size_t)B * d;
    float *th = random_theta(d, n, 600 + (uint64_t)d);
    float *z = host_normal(nz, 601, 1.2f, 0.0f);
    float *w = host_normal((size_t)B, 602, 1.0f / (float)(B ? B : 1), 0.0f); /* signed */
    float *old = host_normal(size, 603, 1.0f, 0.0f);
    double *tol = xmalloc(size * sizeof(double));
    group_tolerances(th, d, n, z, NULL, B, weighted ? w : NULL, param_grad_one, tol);
    for (size_t k = 0; k < size; k++) tol[k] += 2.0 * UR * fabs((double)beta * old[k]);
    float *thc = put(cpu, th, size), *zc = put(cpu, z, nz), *wc = put(cpu, w, (size_t)B);
    float *gc = put(cpu, old, size);
    cpu->grbm_param_grad(cpu, thc, d, n, zc, B, weighted ? wc : NULL, beta, gc);
    float *want = get(cpu, gc, size);
    float *thg = put(cu, th, size), *zg = put(cu, z, nz), *wg = put(cu, w, (size_t)B);
    /* beta = 0 must not read the old gradient: it is NaN then */
    float *gg = beta == 0.0f ? poisoned(size) : put(cu, old, size);
    cu->grbm_param_grad(cu, thg, d, n, zg, B, weighted ? wg : NULL, beta, gg);
    float *got = get(cu, gg, size);
    char what[128];
    snprintf(what, sizeof what, "grbm_param_grad d=%d n=%d B=%d %s beta=%g", d, n, B,
             weighted ? "weighted" : "mean", beta);
    expect_close(what, got, want, size, tol, 0, 0);
    free(th), free(z), free(w), free(old), free(tol), free(want), free(got);
    cpu->free(cpu, thc), cpu->free(cpu, zc), cpu->free(cpu, wc), cpu->free(cpu, gc);
    cu->free(cu, thg), cu->free(cu, zg), cu->free(cu, wg), cu->free(cu, gg);
}

/* ---- grbm_dsm, both paths ---- */

/* J's bound of the header */
static void dsm_j_tolerances(const float *th, int d, int n, const float *z, const float *o, int B,
                             double *tol_J)
{
    const double K = 2.0 * (d + n + 8) * UR;
    double *thd = xmalloc(evae_grbm_size(d, n) * sizeof(double));
    double *zd = xmalloc((size_t)d * sizeof(double)), *s = xmalloc((size_t)d * sizeof(double));
    double *a = xmalloc((size_t)n * sizeof(double));
    const dims m = {d, n};
    for (size_t k = 0; k < evae_grbm_size(d, n); k++) thd[k] = th[k];
    const float *mu = th, *ls = th + d, *W = th + 2 * d, *b = th + 2 * d + (size_t)d * n;
    for (int c = 0; c < B; c++) {
        for (int i = 0; i < d; i++) zd[i] = z[(size_t)c * d + i];
        ref_score(thd, m, zd, s);
        double t = 0.0, J = 0.0;
        for (int j = 0; j < n; j++) { /* Aabs_j = |b_j| + sum_i |W_ij D_i z_i| */
            a[j] = fabs((double)b[j]);
            for (int i = 0; i < d; i++)
                a[j] += fabs(W[(size_t)i * n + j] * exp(-2.0 * ls[i]) * zd[i]);
        }
        for (int i = 0; i < d; i++) {
            double gabs = fabs(zd[i]) + fabs((double)mu[i]);
            for (int j = 0; j < n; j++) gabs += fabs((double)W[(size_t)i * n + j]) * (1.0 + 0.25 * a[j]);
            double r = s[i] + o[(size_t)c * d + i];
            t += fabs(r) * exp(-2.0 * ls[i]) * gabs;
            J += 0.5 * r * r;
        }
        tol_J[c] = K * t + 2.0 * d * UR * J; /* and the d-term sum of J itself */
    }
    free(thd), free(zd), free(s), free(a);
}

static void test_dsm_case(int d, int n, int B)
{
    const size_t size = evae_grbm_size(d, n), nz = (size_t)B * d;
    float *th = random_theta(d, n, 700 + (uint64_t)d);
    float *z = host_normal(nz, 701, 1.2f, 0.0f);
    float *o = host_normal(nz, 702, 1.0f / 0.3f, 0.0f); /* eps / s_n with s_n = 0.3 */
    double *tol = xmalloc(size * sizeof(double)), *tol_J = xmalloc((size_t)B * sizeof(double));
    group_tolerances(th, d, n, z, o, B, NULL, dsm_one, tol);
    dsm_j_tolerances(th, d, n, z, o, B, tol_J);
    float *thc = put(cpu, th, size), *zc = put(cpu, z, nz), *oc = put(cpu, o, nz);
    float *Jc = cpu->alloc(cpu, (size_t)B * sizeof(float)), *gc = cpu->alloc(cpu, size * 4);
    cpu->grbm_dsm(cpu, thc, d, n, zc, B, oc, Jc, gc);
    float *wantJ = get(cpu, Jc, (size_t)B), *want = get(cpu, gc, size);
    float *thg = put(cu, th, size), *zg = put(cu, z, nz), *og = put(cu, o, nz);
    for (int general = 0; general < 2; general++) {
        evae_cuda_set_grbm_general(cu, general);
        float *Jg = poisoned((size_t)B), *gg = poisoned(size);
        cu->grbm_dsm(cu, thg, d, n, zg, B, og, Jg, gg);
        float *gotJ = get(cu, Jg, (size_t)B), *got = get(cu, gg, size);
        char what[128];
        int len = snprintf(what, sizeof what, "grbm_dsm d=%d n=%d B=%d %s", d, n, B,
                           general ? "general" : "default path");
        snprintf(what + len, sizeof what - (size_t)len, " J");
        expect_close(what, gotJ, wantJ, (size_t)B, tol_J, 0, 0);
        snprintf(what + len, sizeof what - (size_t)len, " grad");
        expect_close(what, got, want, size, tol, 0, 0);
        free(gotJ), free(got);
        cu->free(cu, Jg), cu->free(cu, gg);
    }
    evae_cuda_set_grbm_general(cu, 0);
    free(th), free(z), free(o), free(tol), free(tol_J), free(wantJ), free(want);
    cpu->free(cpu, thc), cpu->free(cpu, zc), cpu->free(cpu, oc), cpu->free(cpu, Jc);
    cpu->free(cpu, gc);
    cu->free(cu, thg), cu->free(cu, zg), cu->free(cu, og);
}

/* ---- finite differences of the double reference, on the device ---- */
typedef struct fd_ctx {
    dims m;
    int B;
    const float *z, *w, *o; /* o: dsm's offsets; w: param_grad's weights */
} fd_ctx;

static double weighted_energy(const double *th, void *ctx)
{
    const fd_ctx *c = ctx;
    double s = 0.0, zz[64];
    for (int b = 0; b < c->B; b++) {
        for (int i = 0; i < c->m.d; i++) zz[i] = c->z[b * c->m.d + i];
        s += c->w[b] * ref_energy(th, c->m, 1.0, zz);
    }
    return s;
}

static double dsm_loss(const double *th, void *ctx)
{
    const fd_ctx *c = ctx;
    double L = 0.0, zz[64], s[64];
    for (int b = 0; b < c->B; b++) {
        for (int i = 0; i < c->m.d; i++) zz[i] = c->z[b * c->m.d + i];
        ref_score(th, c->m, zz, s);
        for (int i = 0; i < c->m.d; i++) {
            double r = s[i] + c->o[b * c->m.d + i];
            L += 0.5 * r * r / c->B;
        }
    }
    return L;
}

static void test_fd(int d, int n, int B)
{
    const size_t size = evae_grbm_size(d, n), nz = (size_t)B * d;
    float *th = random_theta(d, n, 800);
    float *z = host_normal(nz, 801, 1.2f, 0.0f), *o = host_normal(nz, 802, 3.0f, 0.0f);
    float *w = host_normal((size_t)B, 803, 1.0f / B, 0.0f);
    double *thd = xmalloc(size * sizeof(double)), *fd = xmalloc(size * sizeof(double));
    double *tol = xmalloc(size * sizeof(double));
    float *fdf = xmalloc(size * sizeof(float));
    for (size_t k = 0; k < size; k++) thd[k] = th[k];
    fd_ctx c = {{d, n}, B, z, w, o};
    float *thg = put(cu, th, size), *zg = put(cu, z, nz), *og = put(cu, o, nz);
    float *wg = put(cu, w, (size_t)B);
    for (int op = 0; op < 2; op++) { /* param_grad, dsm */
        fd_theta(thd, size, op ? dsm_loss : weighted_energy, &c, fd);
        group_tolerances(th, d, n, z, o, B, op ? NULL : w, op ? dsm_one : param_grad_one, tol);
        for (size_t k = 0; k < size; k++) {
            fdf[k] = (float)fd[k];
            tol[k] += UR * fabs(fd[k]); /* the difference quotient rounded to float */
        }
        for (int general = 0; general < 1 + op; general++) {
            evae_cuda_set_grbm_general(cu, general);
            float *gg = poisoned(size), *Jg = poisoned((size_t)B);
            if (op)
                cu->grbm_dsm(cu, thg, d, n, zg, B, og, Jg, gg);
            else
                cu->grbm_param_grad(cu, thg, d, n, zg, B, wg, 0.0f, gg);
            float *got = get(cu, gg, size);
            char what[128];
            snprintf(what, sizeof what, "%s d=%d n=%d vs finite differences%s",
                     op ? "grbm_dsm grad" : "grbm_param_grad", d, n,
                     op ? (general ? " general" : " default path") : "");
            expect_close(what, got, fdf, size, tol, 0, 0);
            free(got);
            cu->free(cu, gg), cu->free(cu, Jg);
        }
    }
    evae_cuda_set_grbm_general(cu, 0);
    free(th), free(z), free(o), free(w), free(thd), free(fd), free(tol), free(fdf);
    cu->free(cu, thg), cu->free(cu, zg), cu->free(cu, og), cu->free(cu, wg);
}

int main(void)
{
    gpu_test_setup("test_cuda_prior_objectives");
    test_param_grad_case(7, 5, 37, 0, 0.0f);
    test_param_grad_case(7, 5, 37, 1, 1.0f);
    test_param_grad_case(64, 128, 300, 1, 0.0f);
    test_param_grad_case(64, 128, 512, 0, 1.0f);
    test_param_grad_case(512, 128, 40, 1, 0.5f);
    test_param_grad_case(131, 33, 1, 1, 0.0f);
    test_param_grad_case(6, 4, 0, 0, 0.5f); /* no examples: grad = beta grad */
    test_param_grad_case(6, 4, 0, 0, 0.0f); /* and zeroed from NaN */

    test_dsm_case(7, 5, 37);
    test_dsm_case(64, 128, 96);
    test_dsm_case(512, 128, 24);
    test_dsm_case(16, 303, 20);

    test_fd(6, 4, 11);
    return check_report("test_cuda_prior_objectives");
}

#else /* built without CUDA */

int main(void)
{
    printf("test_cuda_prior_objectives: skipped: built without CUDA\n");
    return 77;
}

#endif
