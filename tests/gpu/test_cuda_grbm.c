/* The CUDA backend's GRBM ops against the CPU backend on the same inputs: energy and its
 * gradient, sliced score matching (both forms) with its parameter gradient, Langevin and Gibbs
 * chains from the same start and draws; then the CUDA samplers' moments against the exact
 * moments of small GRBMs (evae/model/grbm_exact.h). Outputs are poisoned with NaN before each
 * CUDA op.
 *
 * Every case runs in the modes of MODES: the path the backend picks (W in shared memory where it
 * fits, as for MNIST's 64 x 128 GRBM) and the general path forced (evae_cuda_set_grbm_general;
 * left out where the pick is the general path already, as for CIFAR-10's 512 x 128), each with
 * the grid as the backend sizes it and capped at CAP blocks (evae_cuda_set_grbm_grid_cap), under
 * which every block loops over many examples or chains as it does at the paper's batch sizes on
 * a card with many SMs. The backend's record of each launch (evae_cuda_grbm_last_launch) labels
 * every comparison with the path and the loop trips that ran, and is checked against the mode.
 *
 * Tolerances are first-order rounding bounds: a float sum of L terms is within L UR sum|terms|
 * of exact (UR = 2^-24), a function of a perturbed argument moves by its slope times the
 * perturbation (softplus' <= 1, sigmoid' <= 1/4, |q'| = |p (1 - p)(1 - 2p)| <= 0.1), and CPU
 * and CUDA may each be off by the bound, hence the factor 2. The term magnitudes are computed in
 * double on the host. Under compute-sanitizer (EVAE_SANITIZER_RUN=1) the largest cases shrink and
 * the moment checks run a cheaper version. Exits 77 (skipped) without a CUDA device. */
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
#include "evae/math/grbm_math.h"
#include "evae/model/grbm_exact.h"
#include "evae/math/philox.h"
#include "gpu/gpu_compare.h"
#include "gpu/grbm_bounds.h"
#include "grbm_models.h"

/* under compute-sanitizer: smaller sizes (EVAE_SANITIZER_RUN=1, set by scripts/gpu_check.sh) */
static int sanitizer;
#define SIZE(normal, small) (sanitizer ? (small) : (normal))

/* ---- the modes every case runs in (see the top) ---- */
enum { CAP = 2, N_MODES = 4 };

typedef struct mode {
    int general, cap;
} mode;

static const mode MODES[N_MODES] = {{0, 0}, {0, CAP}, {1, 0}, {1, CAP}};

/* Sets mode k for the next CUDA call, or returns 0 when that would repeat a path already run:
 * the forced general path where the backend's own pick (picked_shared, from mode 0) is general. */
static int mode_begin(int k, int picked_shared)
{
    if (MODES[k].general && !picked_shared) return 0;
    evae_cuda_set_grbm_general(cu, MODES[k].general);
    evae_cuda_set_grbm_grid_cap(cu, MODES[k].cap);
    return 1;
}

/* After the CUDA call of mode k: what ran, written into label, and checked against the mode: the
 * general path when forced, at most CAP blocks when capped, and then several loop trips per block
 * wherever the op has more than CAP items (examples; for chains the fewest groups any path makes,
 * ceil(B / 8)); items_exact: the loop is over exactly `items`, so trips = ceil(items / blocks). */
static evae_cuda_grbm_launch mode_end(int k, const char *op, int items, int items_exact,
                                      char *label, size_t cap)
{
    const evae_cuda_grbm_launch L = evae_cuda_grbm_last_launch(cu);
    const mode m = MODES[k];
    snprintf(label, cap, "%s%s path, %d blocks x %d trips", m.general ? "forced " : "",
             L.shared ? "shared" : "general", L.blocks, L.trips);
    if (m.general) CHECK(!L.shared, "%s: the general path was forced, yet %s", op, label);
    if (items_exact)
        CHECK(L.blocks >= 1 && L.trips == (items + L.blocks - 1) / L.blocks,
              "%s: %d items, yet %s", op, items, label);
    if (m.cap) {
        CHECK(L.blocks >= 1 && L.blocks <= CAP, "%s: capped at %d blocks, yet %s", op, CAP, label);
        if (items > CAP)
            CHECK(L.trips > 1, "%s: %d items on at most %d blocks, yet %s", op, items, CAP, label);
    }
    return L;
}

static void modes_reset(void)
{
    evae_cuda_set_grbm_general(cu, 0);
    evae_cuda_set_grbm_grid_cap(cu, 0);
}

/* The backend's pick (mode 0) must be the shared-memory path wherever the largest layout (score
 * matching's) fits; score matching's pick must be exactly that. */
static void check_pick(const char *op, int d, int n, const evae_cuda_grbm_launch *L, int exact)
{
    const int fits = evae_cuda_grbm_uses_shared(cu, d, n);
    if (exact)
        CHECK(L->shared == fits, "%s d=%d n=%d: %s path, the layout %s", op, d, n,
              L->shared ? "shared" : "general", fits ? "fits" : "does not fit");
    else if (fits)
        CHECK(L->shared, "%s d=%d n=%d: the general path although W fits shared memory", op, d, n);
}

/* A GRBM with W ~ wscale / sqrt(d) so that the pre-activations a_j stay O(1) at any d. */
static float *random_theta(int d, int n, double wscale, uint64_t stream)
{
    size_t size = evae_grbm_size(d, n);
    float *th = xmalloc(size * sizeof(float));
    for (size_t k = 0; k < size; k++) th[k] = evae_normal_at(TEST_SEED, stream, k);
    for (int i = 0; i < d; i++) th[i] *= 0.3f;                  /* mu */
    for (int i = 0; i < d; i++) th[d + i] = -0.1f + 0.15f * th[d + i]; /* log sigma */
    for (size_t k = 0; k < (size_t)d * n; k++) th[2 * d + k] *= (float)(wscale / sqrt((double)d));
    for (int j = 0; j < n; j++) th[2 * d + (size_t)d * n + j] *= 0.5f; /* b */
    return th;
}

/* z[B,d] = mu + sigma * N(0,1) */
static float *chains_near_mean(const float *th, int d, int B, uint64_t stream)
{
    float *z = host_normal((size_t)B * d, stream, 1.0f, 0.0f);
    for (int c = 0; c < B; c++)
        for (int i = 0; i < d; i++)
            z[(size_t)c * d + i] = th[i] + expf(th[d + i]) * z[(size_t)c * d + i];
    return z;
}

static void test_energy_case(int d, int n, int B, float beta)
{
    float *th = random_theta(d, n, 1.0, 200 + (uint64_t)d);
    float *z = chains_near_mean(th, d, B, 201);
    const size_t size = evae_grbm_size(d, n), nz = (size_t)B * d;
    double *tol_E = xmalloc((size_t)B * sizeof(double)), *tol_G = xmalloc(nz * sizeof(double));
    energy_tolerances(th, d, n, beta, z, B, tol_E, tol_G);
    float *thc = put(cpu, th, size), *zc = put(cpu, z, nz);
    float *Ec = cpu->alloc(cpu, (size_t)B * sizeof(float)),
        *Gc = cpu->alloc(cpu, nz * sizeof(float));
    cpu->grbm_energy(cpu, thc, d, n, beta, zc, B, Ec, Gc);
    float *thg = put(cu, th, size), *zg = put(cu, z, nz);
    int picked = 1;
    for (int k = 0; k < N_MODES; k++) {
        if (!mode_begin(k, picked)) continue;
        for (int outputs = 0; outputs < 3; outputs++) { /* both, E only, dEdz only */
            float *Eg = poisoned((size_t)B), *Gg = poisoned(nz);
            cu->grbm_energy(cu, thg, d, n, beta, zg, B, outputs == 2 ? NULL : Eg,
                            outputs == 1 ? NULL : Gg);
            char what[192], label[80];
            int len = snprintf(what, sizeof what, "grbm_energy d=%d n=%d B=%d beta=%g", d, n, B,
                               beta);
            evae_cuda_grbm_launch L = mode_end(k, what, B, 1, label, sizeof label);
            if (k == 0) picked = L.shared;
            if (k == 0 && outputs == 0) check_pick("grbm_energy", d, n, &L, 0);
            len += snprintf(what + len, sizeof what - (size_t)len, " (%s)", label);
            if (outputs != 2) {
                float *h = get(cu, Eg, (size_t)B);
                snprintf(what + len, sizeof what - (size_t)len, " E%s", outputs ? " only" : "");
                expect_close(what, h, Ec, (size_t)B, tol_E, 0, 0);
                free(h);
            }
            if (outputs != 1) {
                float *h = get(cu, Gg, nz);
                snprintf(what + len, sizeof what - (size_t)len, " dEdz%s", outputs ? " only" : "");
                expect_close(what, h, Gc, nz, tol_G, 0, 0);
                free(h);
            }
            cu->free(cu, Eg), cu->free(cu, Gg);
        }
    }
    modes_reset();
    free(th), free(z), free(tol_E), free(tol_G);
    cpu->free(cpu, thc), cpu->free(cpu, zc), cpu->free(cpu, Ec), cpu->free(cpu, Gc);
    cu->free(cu, thg), cu->free(cu, zg);
}

/* ---- sliced score matching ----
 * J: with g = W p - (z - mu), s = D g, y = D v, u = W^T y (notation of grbm_ssm), J sums
 * D v^2 / M, q U2 / M and 0.5 s^2 (or 0.5 c^2 / M). Their errors: u carries (d + 1) UR Uabs, so
 * q u^2 moves by 2 q |u| Uabs; a's error moves q by |q'| <= 0.1 per unit; g carries
 * (n + 2) UR Gabs with Gabs = sum_j |W_ij| (p_j + Aabs_j / 4) + |z_i| + |mu_i| (sigmoid' <= 1/4
 * times a's error), so 0.5 s^2 moves by |s| D Gabs and 0.5 c^2 by |c| sum|v| D Gabs.
 * tol_J = 2 (d + n + 2M + 8) UR times the sum of those magnitudes. */
static void ssm_j_tolerances(const float *th, int d, int n, const float *z, int B, const float *v,
                             int M, int vr, double *tol_J)
{
    const float *mu = th, *W = th + 2 * d;
    const double K = 2.0 * (d + n + 2 * M + 8) * UR;
    double *a = xmalloc((size_t)n * sizeof(double)), *aabs = xmalloc((size_t)n * sizeof(double));
    double *p = xmalloc((size_t)n * sizeof(double)), *s = xmalloc((size_t)d * sizeof(double));
    double *gabs = xmalloc((size_t)d * sizeof(double)), *u2 = xmalloc((size_t)n * sizeof(double));
    double *uu = xmalloc((size_t)n * sizeof(double));
    for (int c = 0; c < B; c++) {
        const float *zc = z + (size_t)c * d;
        preact(th, d, n, zc, a, aabs);
        double m = 0.0;
        for (int j = 0; j < n; j++) p[j] = sigmoid(a[j]), u2[j] = 0.0, uu[j] = 0.0;
        for (int i = 0; i < d; i++) {
            double g = -(zc[i] - mu[i]);
            gabs[i] = fabs((double)zc[i]) + fabs((double)mu[i]);
            for (int j = 0; j < n; j++) {
                double w = W[(size_t)i * n + j];
                g += w * p[j];
                gabs[i] += fabs(w) * (p[j] + 0.25 * aabs[j]);
            }
            s[i] = prec_of(th, d, i) * g;
            if (vr) m += 0.5 * s[i] * s[i] + fabs(s[i]) * prec_of(th, d, i) * gabs[i];
        }
        for (int k = 0; k < M; k++) {
            const float *vm = v + ((size_t)c * M + k) * d;
            double cm = 0.0, cabs = 0.0;
            for (int i = 0; i < d; i++) {
                double prec = prec_of(th, d, i);
                m += prec * vm[i] * vm[i] / M;
                cm += vm[i] * s[i];
                cabs += fabs((double)vm[i]) * prec * gabs[i];
            }
            if (!vr) m += (0.5 * cm * cm + fabs(cm) * cabs) / M;
            for (int j = 0; j < n; j++) {
                double u = 0.0, uabs = 0.0;
                for (int i = 0; i < d; i++) {
                    double t = W[(size_t)i * n + j] * prec_of(th, d, i) * vm[i];
                    u += t, uabs += fabs(t);
                }
                u2[j] += u * u;
                uu[j] += fabs(u) * uabs;
            }
        }
        for (int j = 0; j < n; j++) {
            double q = p[j] * (1.0 - p[j]);
            m += (q * u2[j] + 2.0 * q * uu[j] + 0.1 * aabs[j] * u2[j]) / M;
        }
        tol_J[c] = K * m;
    }
    free(a), free(aabs), free(p), free(s), free(gabs), free(u2), free(uu);
}

static void test_ssm_case(int d, int n, int B, int M)
{
    float *th = random_theta(d, n, 1.0, 300 + (uint64_t)d);
    float *z = chains_near_mean(th, d, B, 301);
    float *v = host_normal((size_t)B * M * d, 302, 1.0f, 0.0f);
    const size_t size = evae_grbm_size(d, n), nz = (size_t)B * d, nv = nz * M;
    double *tol_J = xmalloc((size_t)B * sizeof(double)), *tol_g = xmalloc(size * sizeof(double));
    float *thc = put(cpu, th, size), *zc = put(cpu, z, nz), *vc = put(cpu, v, nv);
    float *thg = put(cu, th, size), *zg = put(cu, z, nz), *vg = put(cu, v, nv);
    float *Jc = cpu->alloc(cpu, (size_t)B * sizeof(float)),
        *gc = cpu->alloc(cpu, size * sizeof(float));
    for (int vr = 0; vr < 2; vr++) {
        ssm_j_tolerances(th, d, n, z, B, v, M, vr, tol_J);
        ssm_grad_tolerances(th, d, n, z, B, v, M, vr, tol_g);
        cpu->grbm_ssm(cpu, thc, d, n, zc, B, vc, M, vr, Jc, gc);
        int picked = 1;
        for (int k = 0; k < N_MODES; k++) {
            if (!mode_begin(k, picked)) continue;
            float *Jg = poisoned((size_t)B), *gg = poisoned(size);
            cu->grbm_ssm(cu, thg, d, n, zg, B, vg, M, vr, Jg, gg);
            char what[192], label[80];
            int len = snprintf(what, sizeof what, "grbm_ssm d=%d n=%d B=%d M=%d %s", d, n, B, M,
                               vr ? "variance-reduced" : "plain");
            evae_cuda_grbm_launch L = mode_end(k, what, B, 1, label, sizeof label);
            if (k == 0) picked = L.shared;
            if (k == 0) check_pick("grbm_ssm", d, n, &L, 1);
            len += snprintf(what + len, sizeof what - (size_t)len, " (%s)", label);
            float *h = get(cu, Jg, (size_t)B);
            snprintf(what + len, sizeof what - (size_t)len, " J");
            expect_close(what, h, Jc, (size_t)B, tol_J, 0, 0);
            free(h);
            h = get(cu, gg, size);
            snprintf(what + len, sizeof what - (size_t)len, " grad");
            expect_close(what, h, gc, size, tol_g, 0, 0);
            free(h);
            cu->free(cu, Jg), cu->free(cu, gg);
        }
    }
    modes_reset();
    free(th), free(z), free(v), free(tol_J), free(tol_g);
    cpu->free(cpu, thc), cpu->free(cpu, zc), cpu->free(cpu, vc), cpu->free(cpu, Jc);
    cpu->free(cpu, gc);
    cu->free(cu, thg), cu->free(cu, zg), cu->free(cu, vg);
}

/* ---- finite differences: the CUDA gradients against an independent double-precision loss ----
 * The energy and the score-matching loss written out plainly in double (docs/DESIGN.md s.1.2-1.4),
 * differentiated by central differences with step h = 1e-5: truncation error ~h^2 times the
 * third derivative (~1e-10) and cancellation ~1e-16/h (~1e-11), far below float rounding, so the
 * float gradient's own rounding bound (the bounds above) is the tolerance. */

/* E(z) of one example, theta in double */
static double energy_double(const double *th, int d, int n, double beta, const double *z)
{
    double e = 0.0;
    for (int i = 0; i < d; i++) {
        double r = z[i] - th[i];
        e += 0.5 * exp(-2.0 * th[d + i]) * r * r;
    }
    for (int j = 0; j < n; j++) {
        double a = th[2 * d + (size_t)d * n + j];
        for (int i = 0; i < d; i++)
            a += th[2 * d + (size_t)i * n + j] * exp(-2.0 * th[d + i]) * z[i];
        e -= softplus(beta * a);
    }
    return e;
}

/* mean over the B examples of J: the score s = -dE/dz and v^T (ds/dz) v in closed form */
static double ssm_loss_double(const double *th, int d, int n, const float *z, int B, const float *v,
                              int M, int vr)
{
    double *a = xmalloc((size_t)n * sizeof(double)), *s = xmalloc((size_t)d * sizeof(double));
    double total = 0.0;
    for (int c = 0; c < B; c++) {
        const float *zc = z + (size_t)c * d;
        for (int j = 0; j < n; j++) {
            a[j] = th[2 * d + (size_t)d * n + j];
            for (int i = 0; i < d; i++)
                a[j] += th[2 * d + (size_t)i * n + j] * exp(-2.0 * th[d + i]) * zc[i];
        }
        double J = 0.0, s2 = 0.0;
        for (int i = 0; i < d; i++) {
            double wp = 0.0;
            for (int j = 0; j < n; j++) wp += th[2 * d + (size_t)i * n + j] * sigmoid(a[j]);
            s[i] = exp(-2.0 * th[d + i]) * (wp - (zc[i] - th[i]));
            s2 += s[i] * s[i];
        }
        for (int m = 0; m < M; m++) {
            const float *vm = v + ((size_t)c * M + m) * d;
            double vhv = 0.0, vs = 0.0;
            for (int i = 0; i < d; i++) {
                vhv -= exp(-2.0 * th[d + i]) * vm[i] * vm[i];
                vs += vm[i] * s[i];
            }
            for (int j = 0; j < n; j++) {
                double u = 0.0, p = sigmoid(a[j]);
                for (int i = 0; i < d; i++)
                    u += th[2 * d + (size_t)i * n + j] * exp(-2.0 * th[d + i]) * vm[i];
                vhv += p * (1.0 - p) * u * u;
            }
            J += (vhv + (vr ? 0.0 : 0.5 * vs * vs)) / M;
        }
        total += J + (vr ? 0.5 * s2 : 0.0);
    }
    free(a), free(s);
    return total / B;
}

static void test_energy_fd(int d, int n, int B, float beta)
{
    float *th = random_theta(d, n, 1.0, 250);
    float *z = chains_near_mean(th, d, B, 251);
    const size_t size = evae_grbm_size(d, n), nz = (size_t)B * d;
    double *thd = xmalloc(size * sizeof(double)), *zd = xmalloc((size_t)d * sizeof(double));
    double *tol_E = xmalloc((size_t)B * sizeof(double)), *tol_G = xmalloc(nz * sizeof(double));
    float *fd = xmalloc(nz * sizeof(float));
    for (size_t k = 0; k < size; k++) thd[k] = th[k];
    energy_tolerances(th, d, n, beta, z, B, tol_E, tol_G);
    const double h = 1e-5;
    for (int c = 0; c < B; c++)
        for (int i = 0; i < d; i++) {
            for (int l = 0; l < d; l++) zd[l] = z[(size_t)c * d + l];
            zd[i] += h;
            double ep = energy_double(thd, d, n, beta, zd);
            zd[i] -= 2.0 * h;
            double em = energy_double(thd, d, n, beta, zd);
            double g = (ep - em) / (2.0 * h);
            fd[(size_t)c * d + i] = (float)g;
            tol_G[(size_t)c * d + i] += UR * fabs(g); /* the difference quotient rounded to float */
        }
    float *thg = put(cu, th, size), *zg = put(cu, z, nz);
    int picked = 1;
    for (int k = 0; k < N_MODES; k++) {
        if (!mode_begin(k, picked)) continue;
        float *Gg = poisoned(nz);
        cu->grbm_energy(cu, thg, d, n, beta, zg, B, NULL, Gg);
        float *got = get(cu, Gg, nz);
        char what[192], label[80];
        int len = snprintf(what, sizeof what, "grbm_energy dEdz d=%d n=%d vs finite differences",
                           d, n);
        evae_cuda_grbm_launch L = mode_end(k, what, B, 1, label, sizeof label);
        if (k == 0) picked = L.shared;
        snprintf(what + len, sizeof what - (size_t)len, " (%s)", label);
        expect_close(what, got, fd, nz, tol_G, 0, 0);
        free(got);
        cu->free(cu, Gg);
    }
    modes_reset();
    free(th), free(z), free(thd), free(zd), free(tol_E), free(tol_G), free(fd);
    cu->free(cu, thg), cu->free(cu, zg);
}

static void test_ssm_fd(int d, int n, int B, int M)
{
    float *th = random_theta(d, n, 1.0, 350);
    float *z = chains_near_mean(th, d, B, 351);
    float *v = host_normal((size_t)B * M * d, 352, 1.0f, 0.0f);
    const size_t size = evae_grbm_size(d, n), nz = (size_t)B * d, nv = nz * M;
    double *thd = xmalloc(size * sizeof(double)), *tol = xmalloc(size * sizeof(double));
    float *fd = xmalloc(size * sizeof(float));
    float *thg = put(cu, th, size), *zg = put(cu, z, nz), *vg = put(cu, v, nv);
    const double h = 1e-5;
    for (int vr = 0; vr < 2; vr++) {
        ssm_grad_tolerances(th, d, n, z, B, v, M, vr, tol);
        for (size_t k = 0; k < size; k++) {
            for (size_t l = 0; l < size; l++) thd[l] = th[l];
            thd[k] += h;
            double lp = ssm_loss_double(thd, d, n, z, B, v, M, vr);
            thd[k] -= 2.0 * h;
            double lm = ssm_loss_double(thd, d, n, z, B, v, M, vr);
            double g = (lp - lm) / (2.0 * h);
            fd[k] = (float)g;
            tol[k] += UR * fabs(g);
        }
        int picked = 1;
        for (int k = 0; k < N_MODES; k++) {
            if (!mode_begin(k, picked)) continue;
            float *Jg = poisoned((size_t)B), *gg = poisoned(size);
            cu->grbm_ssm(cu, thg, d, n, zg, B, vg, M, vr, Jg, gg);
            float *got = get(cu, gg, size);
            char what[192], label[80];
            int len = snprintf(what, sizeof what, "grbm_ssm grad d=%d n=%d M=%d %s vs finite "
                               "differences", d, n, M, vr ? "variance-reduced" : "plain");
            evae_cuda_grbm_launch L = mode_end(k, what, B, 1, label, sizeof label);
            if (k == 0) picked = L.shared;
            snprintf(what + len, sizeof what - (size_t)len, " (%s)", label);
            expect_close(what, got, fd, size, tol, 0, 0);
            free(got);
            cu->free(cu, Jg), cu->free(cu, gg);
        }
    }
    modes_reset();
    free(th), free(z), free(v), free(thd), free(tol), free(fd);
    cu->free(cu, thg), cu->free(cu, zg), cu->free(cu, vg);
}

/* ---- Langevin: the same chains on both backends (the bound: grbm_bounds.h) ---- */

static void test_langevin_case(int d, int n, int B, int steps, float eta)
{
    float *th = random_theta(d, n, 1.0, 400 + (uint64_t)d);
    float *z0 = chains_near_mean(th, d, B, 401);
    const size_t size = evae_grbm_size(d, n), nz = (size_t)B * d;
    const uint64_t seed = 99, stream = evae_stream(EVAE_STREAM_SAMPLER, 3);
    float *thc = put(cpu, th, size), *zc = put(cpu, z0, nz), *thg = put(cu, th, size);
    cpu->grbm_langevin(cpu, thc, d, n, zc, B, steps, eta, seed, stream);
    float *want = get(cpu, zc, nz);
    double tol = langevin_tolerance(th, d, n, z0, want, B, steps, eta);
    int picked = 1;
    for (int k = 0; k < N_MODES; k++) {
        if (!mode_begin(k, picked)) continue;
        float *zg = put(cu, z0, nz);
        cu->grbm_langevin(cu, thg, d, n, zg, B, steps, eta, seed, stream);
        float *h = get(cu, zg, nz);
        char what[192], label[80];
        int len = snprintf(what, sizeof what, "grbm_langevin d=%d n=%d B=%d steps=%d", d, n, B,
                           steps);
        evae_cuda_grbm_launch L = mode_end(k, what, (B + 7) / 8, 0, label, sizeof label);
        if (k == 0) picked = L.shared;
        if (k == 0) check_pick("grbm_langevin", d, n, &L, 0);
        snprintf(what + len, sizeof what - (size_t)len, " (%s)", label);
        expect_close(what, h, want, nz, NULL, tol, 0);
        free(h);
        cu->free(cu, zg);
    }
    modes_reset();
    free(th), free(z0), free(want);
    cpu->free(cpu, thc), cpu->free(cpu, zc), cu->free(cu, thg);
}

/* ---- Gibbs: the same chains on both backends, exactly ----
 * z_i = mu_i + beta (W h)_i + sigma_i xi with h in {0,1}^n: given the same h each side is within
 *   dz_i = UR ((k + 8) (|mu_i| + beta sum_j |W_ij| h_j + 6 sigma_i) + 96 sigma_i)
 * of the exact value (k = sum_j h_j terms in the sum; |xi| <= 6 for 24-bit uniforms; 16 UR |xi|
 * between libm's and CUDA's normals). The error does not build up over steps, z entering the
 * next step only through the discrete h, so the two backends' chains can part only at a draw u
 * that falls within dp of the exact p = sigmoid(beta a), dp bounding either side's float p for a
 * z within dz of the exact one (dz = 0 at the start, which both sides are given):
 *   dp = (beta da + UR |beta a|) / 4 + 4 UR p,  da = (d + 4) UR Aabs + sum_i |W_ij| D_i dz_i,
 * Aabs = |b_j| + sum_i |W_ij D_i z_i|. A replica of every chain in double on the host takes the
 * exact decisions with the same draws and marks each chain that meets a draw within dp of its
 * threshold. Every unmarked chain must agree: the CPU within dz of the replica, CUDA within 2 dz
 * of the CPU; no chain is allowed to part. Marked chains may part (they then follow another valid
 * path); worst-case bounds mark far more chains than part in fact (the rounding is typically
 * sqrt(k) UR, not k UR), so the count of marked chains and of those that parted is printed. */

/* replica of B chains z[B,d] (in: the start, out: the end; double) through `steps` sweeps at
 * beta with the draws of grbm_gibbs(seed, stream); dz[B,d] receives each side's bound at the end
 * (above), marked[B] whether the chain met a draw within dp of its threshold */
static void gibbs_replica(const float *th, int d, int n, double *z, int B, int steps, float beta,
                          uint64_t seed, uint64_t stream, double *dz, int *marked)
{
    const float *mu = th, *ls = th + d, *W = th + 2 * d, *b = th + 2 * d + (size_t)d * n;
    double *h = xmalloc((size_t)n * sizeof(double));
    for (int c = 0; c < B; c++) {
        double *zc = z + (size_t)c * d, *dzc = dz + (size_t)c * d;
        for (int i = 0; i < d; i++) dzc[i] = 0.0;
        marked[c] = 0;
        for (int t = 0; t < steps; t++) {
            int k = 0;
            for (int j = 0; j < n; j++) {
                double a = b[j], aabs = fabs((double)b[j]), carried = 0.0;
                for (int i = 0; i < d; i++) {
                    double w = W[(size_t)i * n + j], prec = prec_of(th, d, i);
                    a += w * prec * zc[i];
                    aabs += fabs(w * prec * zc[i]);
                    carried += fabs(w) * prec * dzc[i];
                }
                double p = sigmoid(beta * a);
                double da = (d + 4) * UR * aabs + carried;
                double dp = (beta * da + UR * fabs(beta * a)) / 4.0 + 4.0 * UR * p;
                double u =
                    evae_uniform_at(seed, stream, evae_grbm_gibbs_h_index(t, B, d, n, c, j));
                marked[c] |= fabs(u - p) <= dp;
                h[j] = u < p ? 1.0 : 0.0;
                k += u < p;
            }
            for (int i = 0; i < d; i++) {
                double wh = 0.0, whabs = 0.0, sigma = exp((double)ls[i]);
                for (int j = 0; j < n; j++) {
                    wh += W[(size_t)i * n + j] * h[j];
                    whabs += fabs((double)W[(size_t)i * n + j]) * h[j];
                }
                double xi =
                    evae_normal_at(seed, stream, evae_grbm_gibbs_z_index(t, B, d, n, c, i));
                zc[i] = mu[i] + beta * wh + sigma * xi;
                dzc[i] = UR * ((k + 8) * (fabs((double)mu[i]) + beta * whabs + 6.0 * sigma) +
                               96.0 * sigma);
            }
        }
    }
    free(h);
}

/* the chains of z[B,d] that lie further than scale * dz from ref (NaN counts), among the marked
 * (marked_ones = 1) or the unmarked ones */
static int chains_apart(const float *z, const double *ref_d, const float *ref_f, const int *marked,
                        int marked_ones, int B, int d, const double *dz, double scale)
{
    int apart = 0;
    for (int c = 0; c < B; c++) {
        if (!marked[c] != !marked_ones) continue;
        int off = 0;
        for (int i = 0; i < d; i++) {
            size_t k = (size_t)c * d + i;
            double ref = ref_d ? ref_d[k] : ref_f[k];
            off |= !(fabs((double)z[k] - ref) <= scale * dz[k]);
        }
        apart += off;
    }
    return apart;
}

static void test_gibbs_case(int d, int n, int B, int steps, float beta)
{
    float *th = random_theta(d, n, 1.0, 500 + (uint64_t)d);
    float *z0 = chains_near_mean(th, d, B, 501);
    const size_t size = evae_grbm_size(d, n), nz = (size_t)B * d;
    const uint64_t seed = 7, stream = evae_stream(EVAE_STREAM_EVAL, 11);
    double *dz = xmalloc(nz * sizeof(double)), *rep = xmalloc(nz * sizeof(double));
    int *marked = xmalloc((size_t)B * sizeof(int));
    for (size_t k = 0; k < nz; k++) rep[k] = z0[k];
    gibbs_replica(th, d, n, rep, B, steps, beta, seed, stream, dz, marked);
    int n_marked = 0;
    for (int c = 0; c < B; c++) n_marked += marked[c];
    float *thc = put(cpu, th, size), *zc = put(cpu, z0, nz), *thg = put(cu, th, size);
    cpu->grbm_gibbs(cpu, thc, d, n, zc, B, steps, beta, seed, stream);
    float *want = get(cpu, zc, nz);
    char what[192];
    int len = snprintf(what, sizeof what, "grbm_gibbs d=%d n=%d B=%d steps=%d beta=%g", d, n, B,
                       steps, beta);
    int off = chains_apart(want, rep, NULL, marked, 0, B, d, dz, 1.0);
    CHECK(off == 0, "%s: %d of %d unmarked CPU chains off the double replica", what, off,
          B - n_marked);
    printf("%s: %d of %d chains met a draw within rounding of its threshold, %d of them parted "
           "from the replica on the CPU\n", what, n_marked, B,
           chains_apart(want, rep, NULL, marked, 1, B, d, dz, 1.0));
    int picked = 1;
    for (int k = 0; k < N_MODES; k++) {
        if (!mode_begin(k, picked)) continue;
        float *zg = put(cu, z0, nz);
        cu->grbm_gibbs(cu, thg, d, n, zg, B, steps, beta, seed, stream);
        float *h = get(cu, zg, nz);
        char label[80];
        evae_cuda_grbm_launch L = mode_end(k, what, (B + 7) / 8, 0, label, sizeof label);
        if (k == 0) picked = L.shared;
        if (k == 0) check_pick("grbm_gibbs", d, n, &L, 0);
        snprintf(what + len, sizeof what - (size_t)len, " (%s)", label);
        expect_written(what, h, nz);
        off = chains_apart(h, NULL, want, marked, 0, B, d, dz, 2.0);
        CHECK(off == 0, "%s: %d of %d unmarked chains differ from the CPU's", what, off,
              B - n_marked);
        printf("%s: %d of the %d marked chains parted from the CPU's\n", what,
               chains_apart(h, NULL, want, marked, 1, B, d, dz, 2.0), n_marked);
        what[len] = '\0';
        free(h);
        cu->free(cu, zg);
    }
    modes_reset();
    free(th), free(z0), free(want), free(dz), free(rep), free(marked);
    cpu->free(cpu, thc), cpu->free(cpu, zc), cu->free(cu, thg);
}

/* ---- samplers against exact moments ---- */


/* Counts sample moments of z[C,d] outside 4.5 standard errors (+ bias allowance bias * sd for
 * means, bias * var for covariances) of the exact ones; 4.5 SE fails by chance with probability
 * 7e-6 per moment, and this file checks fewer than 100. */
static int moments_outside(const char *what, const float *th, int d, int n, const float *z, int C,
                           double bias, int report)
{
    double em[4], ec[16], m[4], c[16], se_c[16];
    CHECK(evae_grbm_exact_moments(th, d, n, em, ec) == 0, "%s: exact moments", what);
    for (int i = 0; i < d; i++) {
        double s = 0.0;
        for (int k = 0; k < C; k++) s += z[(size_t)k * d + i];
        m[i] = s / C;
    }
    double var = 0.0;
    for (int i = 0; i < d; i++)
        for (int l = 0; l < d; l++) {
            double s = 0.0, s2 = 0.0;
            for (int k = 0; k < C; k++) {
                double p = (z[(size_t)k * d + i] - m[i]) * (z[(size_t)k * d + l] - m[l]);
                s += p, s2 += p * p;
            }
            c[i * d + l] = s / C;
            se_c[i * d + l] = sqrt(fmax(s2 / C - c[i * d + l] * c[i * d + l], 0.0) / C);
        }
    for (int i = 0; i < d; i++) var = fmax(var, ec[i * d + i]);
    int bad = 0;
    for (int i = 0; i < d; i++) {
        double tol = 4.5 * sqrt(c[i * d + i] / C) + bias * sqrt(var);
        if (fabs(m[i] - em[i]) > tol) {
            bad++;
            if (report)
                CHECK(0, "%s: mean[%d] %.5f, exact %.5f (tolerance %.3g)", what, i, m[i], em[i], tol);
        }
        for (int l = 0; l <= i; l++) {
            double tol_c = 4.5 * se_c[i * d + l] + bias * var;
            if (fabs(c[i * d + l] - ec[i * d + l]) > tol_c) {
                bad++;
                if (report)
                    CHECK(0, "%s: cov[%d,%d] %.5f, exact %.5f (tolerance %.3g)", what, i, l,
                          c[i * d + l], ec[i * d + l], tol_c);
            }
        }
    }
    return bad;
}

/* Gibbs is exact once mixed: 200 sweeps from z = 0 suffice for these models (as on the CPU);
 * the same check must also reject chains run at the wrong temperature. C chains. */
static void gibbs_moments(const float *th, const float *thg, int d, int n, uint64_t seed, int k,
                          int C)
{
    char what[160], label[80];
    float *zg = cu->alloc(cu, (size_t)C * d * sizeof(float)); /* z[C,d], all chains start at 0 */
    cu->grbm_gibbs(cu, thg, d, n, zg, C, 200, 1.0f, seed, 5);
    mode_end(k, "gibbs moments", (C + 7) / 8, 0, label, sizeof label);
    snprintf(what, sizeof what, "cuda gibbs d=%d n=%d C=%d (%s)", d, n, C, label);
    float *z = get(cu, zg, (size_t)C * d);
    CHECK(moments_outside(what, th, d, n, z, C, 0.0, 1) == 0, "%s: moments off", what);
    free(z);
    cu->free(cu, zg);
    zg = cu->alloc(cu, (size_t)C * d * sizeof(float));
    cu->grbm_gibbs(cu, thg, d, n, zg, C, 200, 0.8f, seed, 5);
    z = get(cu, zg, (size_t)C * d);
    CHECK(moments_outside(what, th, d, n, z, C, 0.0, 0) > 0,
          "%s: the moment check cannot tell beta = 0.8 from 1", what);
    free(z);
    cu->free(cu, zg);
}

/* Unadjusted Langevin has an O(eta) bias: eta L (L = max_i 1/sigma_i^2 >= the Hessian's norm)
 * is allowed in units of sd for the means and of the variance for covariances (twice the
 * Gaussian's eta L / 2 excess variance). 1500 steps of 0.02 (time 30) mix the models used here,
 * the ones the CPU sampler test uses. C chains. */
static void langevin_moments(const float *th, const float *thg, int d, int n, uint64_t seed, int k,
                             int C)
{
    const float eta = 0.02f;
    double L = 0.0;
    for (int i = 0; i < d; i++) L = fmax(L, exp(-2.0 * th[d + i]));
    char what[160], label[80];
    float *zg = cu->alloc(cu, (size_t)C * d * sizeof(float)); /* z[C,d], all chains start at 0 */
    cu->grbm_langevin(cu, thg, d, n, zg, C, 1500, eta, seed, 9);
    mode_end(k, "langevin moments", (C + 7) / 8, 0, label, sizeof label);
    snprintf(what, sizeof what, "cuda langevin d=%d n=%d C=%d (%s)", d, n, C, label);
    float *z = get(cu, zg, (size_t)C * d);
    CHECK(moments_outside(what, th, d, n, z, C, eta * L, 1) == 0, "%s: moments off", what);
    free(z);
    cu->free(cu, zg);
}

/* The CUDA samplers against the exact moments of a multimodal GRBM, C_gibbs and C_langevin chains
 * (0: that sampler is not checked on this model), in the modes `modes` (a bit per MODES entry). */
static void test_sampler_moments(int d, int n, double wscale, uint64_t seed, int C_gibbs,
                                 int C_langevin, unsigned modes)
{
    float th[2 * 4 + 4 * 6 + 6];
    multimodal_theta(th, d, n, wscale, seed);
    float *thg = put(cu, th, evae_grbm_size(d, n));
    for (int k = 0; k < N_MODES; k++) {
        if (!(modes & (1u << k)) || !mode_begin(k, 1)) continue;
        if (C_gibbs) gibbs_moments(th, thg, d, n, seed, k, C_gibbs);
        if (C_langevin) langevin_moments(th, thg, d, n, seed, k, C_langevin);
    }
    modes_reset();
    cu->free(cu, thg);
}

int main(void)
{
    gpu_test_setup("test_cuda_grbm");
    const char *env = getenv("EVAE_SANITIZER_RUN");
    sanitizer = env && env[0] && strcmp(env, "0") != 0;
    printf("shared-memory path for 64 x 128: %s; for 512 x 128: %s%s\n",
           evae_cuda_grbm_uses_shared(cu, 64, 128) ? "yes" : "no",
           evae_cuda_grbm_uses_shared(cu, 512, 128) ? "yes" : "no",
           sanitizer ? " (sanitizer sizes)" : "");
    CHECK(!evae_cuda_grbm_uses_shared(cu, 512, 128),
          "512 x 128 cannot fit one block's shared memory");

    test_energy_case(7, 5, 37, 1.0f);
    test_energy_case(7, 5, 37, 0.6f);
    test_energy_case(64, 128, SIZE(300, 120), 1.0f);
    test_energy_case(512, 128, 40, 0.6f);
    /* layouts just under 48 KB of dynamic shared memory (49132 bytes here, 49120 for the score
     * matching case below): with the block sums' static arrays they need the opt-in */
    test_energy_case(64, 187, 40, 0.8f);

    test_energy_fd(7, 5, 9, 0.7f);
    test_ssm_fd(6, 4, 11, 3);

    test_ssm_case(7, 5, 37, 3);
    test_ssm_case(64, 128, SIZE(96, 40), 2);
    test_ssm_case(131, 33, 21, 1);
    test_ssm_case(512, 128, 24, 1);
    test_ssm_case(16, 303, 20, 2);

    /* the paper's sizes, where the grid alone makes the blocks loop on a large card: AIS's 1,000
     * chains and training's 512 examples (the capped modes above cover the loops under the
     * sanitizer) */
    if (!sanitizer) {
        test_energy_case(64, 128, 1000, 0.3f);
        test_ssm_case(64, 128, 512, 1);
    }

    test_langevin_case(6, 4, 50, 30, 0.01f);
    test_langevin_case(64, 128, SIZE(64, 32), 10, 1e-3f);
    test_langevin_case(512, 128, 24, 5, 1e-4f);

    test_gibbs_case(6, 4, 50, 20, 1.0f);
    test_gibbs_case(6, 4, 50, 20, 0.5f);
    test_gibbs_case(64, 128, 24, 3, 1.0f);
    test_gibbs_case(512, 128, 24, 2, 1.0f);

    /* The moment runs: 10,000 Gibbs and 4,000 Langevin chains on three models in every mode; under
     * compute-sanitizer, whose instrumentation makes them hours long, a cheaper version: the first
     * model, 500 and 250 chains (the 4.5 SE tolerance widens with 1/sqrt(C); at 500 chains the
     * Gibbs check still rejects beta = 0.8, on the CPU with the same draws by 4.6 times its
     * tolerance), in the capped modes, where the chain kernels loop over groups. */
    if (sanitizer) {
        test_sampler_moments(3, 5, 1.2, 5, 500, 250, 1u << 1 | 1u << 3);
    } else {
        test_sampler_moments(3, 5, 1.2, 5, 10000, 4000, 0xfu);
        test_sampler_moments(4, 6, 1.0, 3, 10000, 0, 0xfu);
        test_sampler_moments(2, 3, 1.5, 1, 0, 4000, 0xfu);
    }
    return check_report("test_cuda_grbm");
}

#else /* built without CUDA */

int main(void)
{
    printf("test_cuda_grbm: skipped: built without CUDA\n");
    return 77;
}

#endif
