/* GRBM energy, score, sliced and denoising score matching and the energy's parameter gradient on
 * the CPU against an independent double-precision reference: dE/dz, the SSM and DSM parameter
 * gradients and the weighted dE/dtheta against central finite differences. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "evae/backend/backend.h"
#include "evae/math/grbm.h"
#include "evae/math/philox.h"
#include "grbm_reference.h"

static const evae_backend *cpu; /* the specification, called through its table */

/* ---- the independent double reference: grbm_reference.h, and the Hessian here ---- */
/* H[d,d] = D - D W diag(sigmoid'(a)) W^T D, the Hessian of E as an explicit matrix */
static void ref_hessian(const double *th, dims m, const double *z, double *H)
{
    const double *ls = th + m.d, *W = th + 2 * m.d;
    double a[64];
    ref_pre(th, m, z, a);
    for (int i = 0; i < m.d; i++)
        for (int k = 0; k < m.d; k++) {
            double h = 0.0;
            for (int j = 0; j < m.n; j++) {
                double p = ref_sigmoid(a[j]);
                h += W[i * m.n + j] * p * (1 - p) * W[k * m.n + j];
            }
            double Di = exp(-2.0 * ls[i]), Dk = exp(-2.0 * ls[k]);
            H[i * m.d + k] = (i == k ? Di : 0.0) - Di * h * Dk;
        }
}

/* mean over examples of J: mean_m[-v^T H v + 0.5 (v.s)^2] or mean_m[-v^T H v] + 0.5|s|^2 */
static double ref_ssm(const double *th, dims m, const double *z, int B, const double *v, int M,
                      int vr, double *J)
{
    double total = 0.0, s[64], H[64 * 64];
    for (int c = 0; c < B; c++) {
        const double *zc = z + c * m.d;
        ref_score(th, m, zc, s);
        ref_hessian(th, m, zc, H);
        double Jc = 0.0;
        for (int k = 0; k < M; k++) {
            const double *vk = v + (c * M + k) * m.d;
            double vhv = 0.0, vs = 0.0;
            for (int i = 0; i < m.d; i++) {
                vs += vk[i] * s[i];
                for (int l = 0; l < m.d; l++) vhv += vk[i] * H[i * m.d + l] * vk[l];
            }
            Jc += (-vhv + (vr ? 0.0 : 0.5 * vs * vs)) / M;
        }
        if (vr)
            for (int i = 0; i < m.d; i++) Jc += 0.5 * s[i] * s[i];
        if (J) J[c] = Jc;
        total += Jc / B;
    }
    return total;
}

/* ---- test data ---- */
static double randn(uint64_t seed, uint64_t *k) { return evae_normal_at(seed, 99, (*k)++); }

static void random_theta(dims m, uint64_t seed, float *th, double wscale)
{
    uint64_t k = 0;
    for (int i = 0; i < m.d; i++) th[i] = (float)(0.5 * randn(seed, &k));          /* mu */
    for (int i = 0; i < m.d; i++) th[m.d + i] = (float)(0.3 * randn(seed, &k));    /* log sigma */
    for (int i = 0; i < m.d * m.n; i++) th[2 * m.d + i] = (float)(wscale * randn(seed, &k));
    for (int j = 0; j < m.n; j++) th[2 * m.d + m.d * m.n + j] = (float)(0.5 * randn(seed, &k));
}

static void to_double(const float *x, double *y, size_t count)
{
    for (size_t i = 0; i < count; i++) y[i] = x[i];
}

static void test_energy(dims m, int B, float beta, uint64_t seed)
{
    size_t P = evae_grbm_size(m.d, m.n);
    float *th = calloc(P, sizeof(float)), *z = calloc((size_t)B * m.d, sizeof(float));
    float *E = calloc(B, sizeof(float)), *dE = calloc((size_t)B * m.d, sizeof(float));
    double *thd = calloc(P, sizeof(double)), zd[64];
    random_theta(m, seed, th, 0.7);
    to_double(th, thd, P);
    uint64_t k = 1000;
    for (int i = 0; i < B * m.d; i++) z[i] = (float)(1.5 * randn(seed, &k));
    cpu->grbm_energy(cpu, th, m.d, m.n, beta, z, B, E, dE);
    char what[96];
    for (int c = 0; c < B; c++) {
        to_double(z + c * m.d, zd, m.d);
        double e = ref_energy(thd, m, beta, zd);
        /* float energy of O(10) terms of O(1): 1e-5 relative is ~100 float ulps */
        snprintf(what, sizeof what, "E d=%d n=%d beta=%g chain %d", m.d, m.n, beta, c);
        CHECK_CLOSE(E[c], e, 1e-5, 1e-5, what);
        for (int i = 0; i < m.d; i++) {
            const double h = 1e-5; /* central difference error ~h^2 E''' ~ 1e-10 */
            double zp[64], zm[64];
            memcpy(zp, zd, sizeof(double) * m.d);
            memcpy(zm, zd, sizeof(double) * m.d);
            zp[i] += h;
            zm[i] -= h;
            double fd = (ref_energy(thd, m, beta, zp) - ref_energy(thd, m, beta, zm)) / (2 * h);
            snprintf(what, sizeof what, "dE/dz d=%d n=%d beta=%g [%d,%d]", m.d, m.n, beta, c, i);
            CHECK_CLOSE(dE[c * m.d + i], fd, 1e-5, 1e-5, what);
        }
    }
    /* E alone and dE/dz alone give the same numbers */
    float *E2 = calloc(B, sizeof(float)), *dE2 = calloc((size_t)B * m.d, sizeof(float));
    cpu->grbm_energy(cpu, th, m.d, m.n, beta, z, B, E2, NULL);
    cpu->grbm_energy(cpu, th, m.d, m.n, beta, z, B, NULL, dE2);
    CHECK(memcmp(E, E2, sizeof(float) * B) == 0 && memcmp(dE, dE2, sizeof(float) * B * m.d) == 0,
          "energy outputs depend on which ones were asked for");
    free(th); free(z); free(E); free(dE); free(thd); free(E2); free(dE2);
}

/* The reference score and Hessian themselves against finite differences of the reference energy,
 * so the SSM reference below does not rest on a formula shared with the code under test. */
static void test_reference(dims m, uint64_t seed)
{
    size_t P = evae_grbm_size(m.d, m.n);
    float *th = calloc(P, sizeof(float));
    double *thd = calloc(P, sizeof(double)), z[64] = {0}, s[64], H[64 * 64];
    random_theta(m, seed, th, 0.7);
    to_double(th, thd, P);
    uint64_t k = 5000;
    for (int i = 0; i < m.d; i++) z[i] = randn(seed, &k);
    ref_score(thd, m, z, s);
    ref_hessian(thd, m, z, H);
    const double h = 1e-5;
    double worst_s = 0, worst_h = 0;
    for (int i = 0; i < m.d; i++) {
        double zp[64], zm[64], sp[64], sm[64];
        memcpy(zp, z, sizeof(double) * m.d);
        memcpy(zm, z, sizeof(double) * m.d);
        zp[i] += h;
        zm[i] -= h;
        double fd = (ref_energy(thd, m, 1.0, zp) - ref_energy(thd, m, 1.0, zm)) / (2 * h);
        worst_s = fmax(worst_s, fabs(-fd - s[i]));
        ref_score(thd, m, zp, sp);
        ref_score(thd, m, zm, sm);
        for (int l = 0; l < m.d; l++)
            worst_h = fmax(worst_h, fabs(-(sp[l] - sm[l]) / (2 * h) - H[l * m.d + i]));
    }
    /* double central differences: ~1e-10 truncation + 1e-11 rounding */
    CHECK(worst_s < 1e-7 && worst_h < 1e-7, "reference score/Hessian vs FD: %.3g %.3g", worst_s,
          worst_h);
    free(th); free(thd);
}

static void test_ssm(dims m, int B, int M, int rademacher, int vr, uint64_t seed)
{
    size_t P = evae_grbm_size(m.d, m.n);
    float *th = calloc(P, sizeof(float)), *z = calloc((size_t)B * m.d, sizeof(float));
    float *v = calloc((size_t)B * M * m.d, sizeof(float)), *J = calloc(B, sizeof(float));
    float *grad = calloc(P, sizeof(float));
    double *thd = calloc(P, sizeof(double)), *zd = calloc((size_t)B * m.d, sizeof(double));
    double *vd = calloc((size_t)B * M * m.d, sizeof(double)), *Jd = calloc(B, sizeof(double));
    random_theta(m, seed, th, 0.7);
    to_double(th, thd, P);
    uint64_t k = 2000;
    for (int i = 0; i < B * m.d; i++) z[i] = (float)(1.5 * randn(seed, &k));
    for (int i = 0; i < B * M * m.d; i++)
        v[i] = rademacher ? (evae_uniform_at(seed, 7, (uint64_t)i) < 0.5f ? -1.0f : 1.0f)
                          : (float)randn(seed, &k);
    to_double(z, zd, (size_t)B * m.d);
    to_double(v, vd, (size_t)B * M * m.d);
    for (size_t i = 0; i < P; i++) grad[i] = 12345.0f; /* must be overwritten */
    cpu->grbm_ssm(cpu, th, m.d, m.n, z, B, v, M, vr, J, grad);
    ref_ssm(thd, m, zd, B, vd, M, vr, Jd);
    char what[128];
    const char *form = vr ? "variance-reduced" : "plain";
    for (int c = 0; c < B; c++) {
        snprintf(what, sizeof what, "J %s d=%d n=%d M=%d example %d", form, m.d, m.n, M, c);
        /* float sums of O(10-100) terms of magnitude up to ~10 (measured: < 3e-6 relative) */
        CHECK_CLOSE(J[c], Jd[c], 2e-5, 2e-5, what);
    }
    /* central differences of the double loss in each parameter */
    double *fd = calloc(P, sizeof(double)), scale[4] = {1, 1, 1, 1};
    const size_t start[5] = {0, (size_t)m.d, 2 * (size_t)m.d, 2 * (size_t)m.d + m.d * m.n, P};
    for (size_t p = 0; p < P; p++) {
        const double h = 1e-5;
        double keep = thd[p];
        thd[p] = keep + h;
        double lp = ref_ssm(thd, m, zd, B, vd, M, vr, NULL);
        thd[p] = keep - h;
        double lm = ref_ssm(thd, m, zd, B, vd, M, vr, NULL);
        thd[p] = keep;
        fd[p] = (lp - lm) / (2 * h);
    }
    for (int blk = 0; blk < 4; blk++)
        for (size_t p = start[blk]; p < start[blk + 1]; p++)
            scale[blk] = fmax(scale[blk], fabs(fd[p]));
    const char *names[4] = {"mu", "log_sigma", "W", "b"};
    for (int blk = 0; blk < 4; blk++)
        for (size_t p = start[blk]; p < start[blk + 1]; p++) {
            snprintf(what, sizeof what, "dJ/d%s[%zu] %s d=%d n=%d M=%d %s", names[blk],
                     p - start[blk], form, m.d, m.n, M, rademacher ? "rademacher" : "gaussian");
            /* float forward/backward through sgemm sums of ~B*M*d terms: measured errors are
             * at most ~1.5e-6 of the block's largest gradient; 2e-5 of it leaves a 10x margin,
             * while a missed term (e.g. sigma in one place) is off by O(1) of it and a 1e-3
             * relative slip in one adjoint fails. FD error ~1e-9. */
            CHECK_CLOSE(grad[p], fd[p], 2e-5 * scale[blk], 2e-5, what);
        }
    free(th); free(z); free(v); free(J); free(grad); free(thd); free(zd); free(vd); free(Jd);
    free(fd);
}

/* ---- the energy's parameter gradient (grbm_param_grad) ----
 * sum_b w_b E(z_b) in double, differentiated in theta; the op's output is checked with beta = 0
 * (grad NaN-filled beforehand: it must not be read), with beta != 0 (the old value scaled and
 * added) and with w NULL (the mean). */
typedef struct {
    dims m;
    const double *z, *w;
    int B;
} weighted_energy;

static double weighted_energy_of(const double *th, void *ctx)
{
    const weighted_energy *e = ctx;
    double s = 0.0;
    for (int c = 0; c < e->B; c++) s += e->w[c] * ref_energy(th, e->m, 1.0, e->z + c * e->m.d);
    return s;
}

static void test_param_grad(dims m, int B, int weighted, float beta, uint64_t seed)
{
    size_t P = evae_grbm_size(m.d, m.n);
    float *th = calloc(P, sizeof(float)), *z = calloc((size_t)B * m.d, sizeof(float));
    float *w = calloc(B, sizeof(float)), *grad = calloc(P, sizeof(float));
    float *old = calloc(P, sizeof(float));
    double *thd = calloc(P, sizeof(double)), *zd = calloc((size_t)B * m.d, sizeof(double));
    double *wd = calloc(B, sizeof(double)), *fd = calloc(P, sizeof(double));
    random_theta(m, seed, th, 0.7);
    to_double(th, thd, P);
    uint64_t k = 3000;
    for (int i = 0; i < B * m.d; i++) z[i] = (float)(1.5 * randn(seed, &k));
    /* signed weights of mixed sizes, as the objectives make them (positive and negative phases) */
    for (int c = 0; c < B; c++) w[c] = weighted ? (float)(randn(seed, &k) / B) : 1.0f / B;
    to_double(z, zd, (size_t)B * m.d);
    to_double(w, wd, (size_t)B);
    for (size_t p = 0; p < P; p++) old[p] = (float)randn(seed, &k);
    for (size_t p = 0; p < P; p++) grad[p] = beta == 0.0f ? NAN : old[p];
    cpu->grbm_param_grad(cpu, th, m.d, m.n, z, B, weighted ? w : NULL, beta, grad);
    weighted_energy e = {m, zd, wd, B};
    fd_theta(thd, P, weighted_energy_of, &e, fd);
    for (size_t p = 0; p < P; p++) fd[p] += beta * (double)old[p];
    char what[96];
    snprintf(what, sizeof what, "param_grad B=%d %s beta=%g", B, weighted ? "weighted" : "mean",
             beta);
    /* float sums of B per-example terms of magnitude up to the block's largest (|w| <= ~3/B):
     * a few B UR of it; 2e-5 is 10x that at these B, while a missing factor or term (e.g. the
     * 2 x (W p) part of dlog_sigma) is off by O(1) of it. FD error ~1e-9. */
    check_blocks(m, grad, fd, 2e-5, what);
    free(th); free(z); free(w); free(grad); free(old); free(thd); free(zd); free(wd); free(fd);
}

/* ---- denoising score matching (grbm_dsm): mean_b 0.5 |s(z_b) + o_b|^2 in double ---- */
typedef struct {
    dims m;
    const double *z, *o;
    int B;
} dsm_loss;

static double dsm_loss_of(const double *th, void *ctx)
{
    const dsm_loss *l = ctx;
    double total = 0.0, s[64];
    for (int c = 0; c < l->B; c++) {
        ref_score(th, l->m, l->z + c * l->m.d, s);
        for (int i = 0; i < l->m.d; i++) {
            double r = s[i] + l->o[c * l->m.d + i];
            total += 0.5 * r * r / l->B;
        }
    }
    return total;
}

static void test_dsm(dims m, int B, uint64_t seed)
{
    size_t P = evae_grbm_size(m.d, m.n);
    float *th = calloc(P, sizeof(float)), *z = calloc((size_t)B * m.d, sizeof(float));
    float *o = calloc((size_t)B * m.d, sizeof(float)), *J = calloc(B, sizeof(float));
    float *grad = calloc(P, sizeof(float));
    double *thd = calloc(P, sizeof(double)), *zd = calloc((size_t)B * m.d, sizeof(double));
    double *od = calloc((size_t)B * m.d, sizeof(double)), *fd = calloc(P, sizeof(double));
    random_theta(m, seed, th, 0.7);
    to_double(th, thd, P);
    uint64_t k = 4000;
    /* z = noisy sample, o = eps / s_n as denoising score matching makes them (s_n = 0.5) */
    for (int i = 0; i < B * m.d; i++) {
        double eps = randn(seed, &k);
        z[i] = (float)(1.5 * randn(seed, &k) + 0.5 * eps);
        o[i] = (float)(eps / 0.5);
    }
    to_double(z, zd, (size_t)B * m.d);
    to_double(o, od, (size_t)B * m.d);
    for (size_t p = 0; p < P; p++) grad[p] = NAN; /* must be overwritten */
    cpu->grbm_dsm(cpu, th, m.d, m.n, z, B, o, J, grad);
    dsm_loss l = {m, zd, od, B};
    char what[96];
    for (int c = 0; c < B; c++) {
        dsm_loss one = {m, zd + c * m.d, od + c * m.d, 1};
        snprintf(what, sizeof what, "dsm J d=%d n=%d example %d", m.d, m.n, c);
        CHECK_CLOSE(J[c], dsm_loss_of(thd, &one), 2e-5, 2e-5, what); /* as for SSM's J */
    }
    fd_theta(thd, P, dsm_loss_of, &l, fd);
    snprintf(what, sizeof what, "dsm B=%d", B);
    check_blocks(m, grad, fd, 2e-5, what); /* the tolerance of test_ssm, the same pass */
    free(th); free(z); free(o); free(J); free(grad); free(thd); free(zd); free(od); free(fd);
}

int main(void)
{
    cpu = evae_cpu_backend();
    const dims small = {3, 5}, tall = {6, 2}, wide = {16, 7};
    test_reference(small, 11);
    test_reference(wide, 12);
    for (int s = 0; s < 2; s++) {
        float beta = s ? 1.0f : 0.7f;
        test_energy(small, 4, beta, 21);
        test_energy(tall, 3, beta, 22);
        test_energy(wide, 5, beta, 23);
    }
    for (int vr = 0; vr < 2; vr++) {
        test_ssm(small, 4, 2, 0, vr, 31);
        test_ssm(tall, 3, 3, 1, vr, 32);
        test_ssm(wide, 5, 1, 0, vr, 33);
        test_ssm(wide, 2, 4, 1, vr, 34);
    }
    for (int weighted = 0; weighted < 2; weighted++) {
        test_param_grad(small, 4, weighted, 0.0f, 41);
        test_param_grad(tall, 5, weighted, 0.5f, 42);
        test_param_grad(wide, 6, weighted, weighted ? 1.0f : 0.0f, 43);
    }
    test_dsm(small, 4, 51);
    test_dsm(tall, 3, 52);
    test_dsm(wide, 5, 53);
    return check_report("test_grbm_grad");
}
