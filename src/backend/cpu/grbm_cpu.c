/* The GRBM prior on the CPU: energy and its z-gradient, sliced score matching with analytic
 * parameter gradients, Langevin and block Gibbs chains. Matrix products go through OpenBLAS;
 * every per-element formula comes from evae/math/grbm_math.h, which the CUDA kernels share.
 *
 * Notation as in evae/math/grbm_math.h: D = diag(1/sigma^2) with sigma = exp(log_sigma),
 * x = D z, a = W^T x + b, p = sigmoid(a), q = p (1 - p). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"
#include "evae/math/grbm.h"
#include "evae/math/grbm_math.h"
#include "evae/math/philox.h"
#include "evae/util.h"

/* C[m,n] = alpha op(A) op(B) + beta C, row-major and packed (as the backend's gemm). */
static void sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *A,
                  const float *Bm, float beta, float *C)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, trans_a ? m : k, Bm,
                trans_b ? k : n, beta, C, n);
}

static float *fbuf(size_t count) { return evae_xcalloc(count, sizeof(float)); }

/* prec[d] = 1/sigma^2 */
static void precisions(const float *log_sigma, int d, float *prec)
{
    for (int i = 0; i < d; i++) prec[i] = evae_grbm_precision(log_sigma[i]);
}

/* out[rows, d] = in[rows, d] * prec[d] (column scaling by D) */
static void scale_cols(float *out, const float *in, size_t rows, int d, const float *prec)
{
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < d; i++) out[r * d + i] = in[r * d + i] * prec[i];
}

/* A[B,n] = (D z) W + b, using x[B,d] as scratch for D z. */
static void preactivations(const float *theta, int d, int n, const float *z, int B,
                           const float *prec, float *x, float *A)
{
    const float *W = theta + evae_grbm_W(d, n), *bias = theta + evae_grbm_b(d, n);
    scale_cols(x, z, (size_t)B, d, prec);
    for (int c = 0; c < B; c++) memcpy(A + (size_t)c * n, bias, sizeof(float) * (size_t)n);
    sgemm(0, 0, B, n, d, 1.0f, x, W, 1.0f, A);
}

/* Scratch for the energy: x[B,d], A[B,n], wp[B,d], prec[d]. */
typedef struct {
    float *x, *A, *wp, *prec;
} energy_scratch;

static energy_scratch energy_scratch_alloc(int d, int n, int B)
{
    energy_scratch s;
    s.x = fbuf((size_t)B * d);
    s.A = fbuf((size_t)B * n);
    s.wp = fbuf((size_t)B * d);
    s.prec = fbuf((size_t)d);
    return s;
}

static void energy_scratch_free(energy_scratch *s)
{
    free(s->x);
    free(s->A);
    free(s->wp);
    free(s->prec);
}

static void energy_with(const float *theta, int d, int n, float beta, const float *z, int B,
                        float *E, float *dEdz, energy_scratch *s)
{
    const float *mu = theta + evae_grbm_mu(d, n), *W = theta + evae_grbm_W(d, n);
    precisions(theta + evae_grbm_log_sigma(d, n), d, s->prec);
    preactivations(theta, d, n, z, B, s->prec, s->x, s->A);
    if (E) {
        for (int c = 0; c < B; c++) {
            const float *zc = z + (size_t)c * d, *ac = s->A + (size_t)c * n;
            double e = 0.0; /* per-example sums in double: AIS differences these energies */
            for (int i = 0; i < d; i++) e += evae_grbm_quad_term(zc[i], mu[i], s->prec[i]);
            for (int j = 0; j < n; j++) e -= evae_grbm_softplusf(beta * ac[j]);
            E[c] = (float)e;
        }
    }
    if (dEdz) {
        /* A <- sigmoid(beta A) = p_beta; wp[B,d] = p_beta W^T */
        for (size_t k = 0; k < (size_t)B * n; k++) s->A[k] = evae_grbm_sigmoidf(beta * s->A[k]);
        sgemm(0, 1, B, d, n, 1.0f, s->A, W, 0.0f, s->wp);
        for (int c = 0; c < B; c++)
            for (int i = 0; i < d; i++) {
                size_t k = (size_t)c * d + i;
                dEdz[k] = evae_grbm_dEdz(z[k], mu[i], s->prec[i], beta, s->wp[k]);
            }
    }
}

void cpu_grbm_energy(const evae_backend *be, const float *theta, int d, int n, float beta,
                     const float *z, int B, float *E, float *dEdz)
{
    if (B <= 0 || (!E && !dEdz)) return;
    energy_scratch s = energy_scratch_alloc(d, n, B);
    energy_with(theta, d, n, beta, z, B, E, dEdz, &s);
    energy_scratch_free(&s);
}

/* ---- sliced score matching ----
 * Per example z with projections v_m (m = 1..M):
 *   g = -(z - mu) + W p,  s = D g                       (score)
 *   u_m = W^T y_m,  y_m = D v_m                          (projected through the coupling)
 *   T = -(1/M) sum_m sum_i D_i v_mi^2 + sum_j q_j U2_j,  U2_j = (1/M) sum_m u_mj^2
 *   plain:            J = T + (1/M) sum_m 0.5 c_m^2,  c_m = v_m . s
 *   variance-reduced: J = T + 0.5 |s|^2
 * Reverse mode, with adjoints written G* = d(mean_b J_b)/d(*) (the 1/B is folded in first):
 *   GS = dJ/ds   = s (variance-reduced) or (1/M) sum_m c_m v_m (plain)
 *   GG = dJ/dg   = D GS;    s = D g also gives dJ/dD_i += GS_i g_i
 *   g = -(z - mu) + W p:    dJ/dmu = GG;  dJ/dW += GG^T p;  dJ/dp = GG W
 *   p = sigmoid(a):         GA = dJ/da = q (1 - 2p) U2 + q (dJ/dp)       (q' = q (1 - 2p))
 *   U2 term:                GU_mj = dJ/du_mj = (2/M) q_j u_mj
 *   a = W^T x + b, x = D z: dJ/dW += x^T GA;  dJ/db = GA;  dJ/dD_i += (GA W^T)_i z_i
 *   u_m = W^T y_m, y = D v: dJ/dW += y^T GU;  dJ/dD_i += sum_m (GU W^T)_mi v_mi
 *   explicit -D v^2 term:   dJ/dD_i -= (1/M) sum_m v_mi^2
 *   D = exp(-2 log_sigma):  dJ/dlog_sigma_i = -2 D_i dJ/dD_i
 * so sigma enters through the scaling of z, of v and of the score, as it must. */
void cpu_grbm_ssm(const evae_backend *be, const float *theta, int d, int n, const float *z, int B,
                  const float *v, int M, int variance_reduced, float *J, float *grad)
{
    memset(grad, 0, sizeof(float) * evae_grbm_size(d, n));
    if (B <= 0 || M <= 0) return;
    const float *mu = theta + evae_grbm_mu(d, n), *W = theta + evae_grbm_W(d, n);
    float *g_mu = grad + evae_grbm_mu(d, n), *g_ls = grad + evae_grbm_log_sigma(d, n);
    float *g_W = grad + evae_grbm_W(d, n), *g_b = grad + evae_grbm_b(d, n);
    const size_t BM = (size_t)B * M;
    const float inv_B = 1.0f / (float)B, inv_M = 1.0f / (float)M;

    float *prec = fbuf((size_t)d);  /* prec[d] = D */
    float *x = fbuf((size_t)B * d);  /* x[B,d] = D z, later GA W^T */
    float *A = fbuf((size_t)B * n);  /* A[B,n] = a, then p */
    float *G = fbuf((size_t)B * d);  /* G[B,d] = g = -(z - mu) + W p */
    float *GS = fbuf((size_t)B * d); /* GS[B,d] = dJ/ds, then GG = D GS */
    float *Y = fbuf(BM * d);         /* Y[B*M,d] = D v, later GU W^T */
    float *U = fbuf(BM * n);         /* U[B*M,n] = u, then GU */
    float *GA = fbuf((size_t)B * n); /* GA[B,n] = dJ/da */
    float *Q = fbuf((size_t)B * n);  /* Q[B,n] = q = sigmoid'(a) */
    double *dD = evae_xcalloc((size_t)d, sizeof(double)); /* dD[d] = dJ/dD */

    /* forward */
    precisions(theta + evae_grbm_log_sigma(d, n), d, prec);
    preactivations(theta, d, n, z, B, prec, x, A);
    scale_cols(Y, v, BM, d, prec);
    sgemm(0, 0, (int)BM, n, d, 1.0f, Y, W, 0.0f, U);
    for (int c = 0; c < B; c++) {
        double T = 0.0;
        for (int m = 0; m < M; m++) {
            const float *vm = v + ((size_t)c * M + m) * d;
            for (int i = 0; i < d; i++) T -= inv_M * prec[i] * vm[i] * vm[i];
        }
        for (int j = 0; j < n; j++) {
            double u2 = 0.0;
            for (int m = 0; m < M; m++) {
                float u = U[((size_t)c * M + m) * n + j];
                u2 += (double)u * u;
            }
            size_t k = (size_t)c * n + j;
            float q, ga;
            T += evae_grbm_ssm_hidden(A[k], (float)(u2 * inv_M), &q, &ga);
            Q[k] = q;
            GA[k] = ga * inv_B;
            A[k] = evae_grbm_sigmoidf(A[k]); /* A now holds p */
        }
        J[c] = (float)T;
    }
    /* G = p W^T - (z - mu); s = D G */
    sgemm(0, 1, B, d, n, 1.0f, A, W, 0.0f, G);
    for (int c = 0; c < B; c++) {
        double half_c2 = 0.0, half_s2 = 0.0;
        float *gc = G + (size_t)c * d, *gsc = GS + (size_t)c * d;
        const float *zc = z + (size_t)c * d;
        for (int i = 0; i < d; i++) gc[i] -= zc[i] - mu[i];
        if (variance_reduced) {
            for (int i = 0; i < d; i++) {
                float s = prec[i] * gc[i];
                half_s2 += 0.5 * (double)s * s;
                gsc[i] = inv_B * s;
            }
        } else {
            for (int m = 0; m < M; m++) {
                const float *vm = v + ((size_t)c * M + m) * d;
                double cm = 0.0;
                for (int i = 0; i < d; i++) cm += (double)vm[i] * prec[i] * gc[i];
                half_c2 += 0.5 * inv_M * cm * cm;
                float w = (float)(inv_B * inv_M * cm);
                for (int i = 0; i < d; i++) gsc[i] += w * vm[i];
            }
        }
        J[c] += (float)(variance_reduced ? half_s2 : half_c2);
    }

    /* backward: s = D g */
    for (int c = 0; c < B; c++)
        for (int i = 0; i < d; i++) {
            size_t k = (size_t)c * d + i;
            dD[i] += (double)GS[k] * G[k];
            GS[k] *= prec[i]; /* GS now holds GG */
            g_mu[i] += GS[k];
        }
    /* g = -(z - mu) + W p: dJ/dW += GG^T p, GA += q * (GG W) */
    sgemm(1, 0, d, n, B, 1.0f, GS, A, 0.0f, g_W);
    float *dP = G; /* G is no longer needed; dP[B,n] needs B*n floats */
    if (n > d) dP = fbuf((size_t)B * n);
    sgemm(0, 0, B, n, d, 1.0f, GS, W, 0.0f, dP);
    for (size_t k = 0; k < (size_t)B * n; k++) GA[k] += Q[k] * dP[k];
    if (dP != G) free(dP);
    /* GU = (2/(M B)) q u */
    for (int c = 0; c < B; c++)
        for (int m = 0; m < M; m++)
            for (int j = 0; j < n; j++)
                U[((size_t)c * M + m) * n + j] *= 2.0f * inv_M * inv_B * Q[(size_t)c * n + j];
    /* a = W^T x + b and u = W^T y */
    sgemm(1, 0, d, n, B, 1.0f, x, GA, 1.0f, g_W);
    sgemm(1, 0, d, n, (int)BM, 1.0f, Y, U, 1.0f, g_W);
    for (int c = 0; c < B; c++)
        for (int j = 0; j < n; j++) g_b[j] += GA[(size_t)c * n + j];
    sgemm(0, 1, B, d, n, 1.0f, GA, W, 0.0f, x);          /* x <- dJ/dx */
    sgemm(0, 1, (int)BM, d, n, 1.0f, U, W, 0.0f, Y);     /* Y <- dJ/dy */
    for (int c = 0; c < B; c++)
        for (int i = 0; i < d; i++) dD[i] += (double)x[(size_t)c * d + i] * z[(size_t)c * d + i];
    for (size_t r = 0; r < BM; r++)
        for (int i = 0; i < d; i++) {
            float vi = v[r * d + i];
            dD[i] += (double)Y[r * d + i] * vi - (double)(inv_M * inv_B) * vi * vi;
        }
    for (int i = 0; i < d; i++) g_ls[i] = (float)(-2.0 * prec[i] * dD[i]);

    free(prec); free(x); free(A); free(G); free(GS); free(Y); free(U); free(GA); free(Q); free(dD);
}

/* ---- samplers (draw positions: evae/math/grbm_math.h) ----
 * The draws of one step lie in contiguous index ranges, so they are generated a Philox block
 * (4 words) at a time into a buffer: the same numbers as evae_uniform_at / evae_normal_at at
 * those indices, computed with the same expressions, at a quarter of the Philox work. */

void cpu_grbm_langevin(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                       int steps, float eta, uint64_t seed, uint64_t stream)
{
    if (B <= 0 || steps <= 0) return;
    energy_scratch s = energy_scratch_alloc(d, n, B);
    float *dEdz = fbuf((size_t)B * d); /* dEdz[B,d] */
    float *xi = fbuf((size_t)B * d);   /* xi[B,d] noise of one step */
    for (int t = 0; t < steps; t++) {
        energy_with(theta, d, n, 1.0f, z, B, NULL, dEdz, &s);
        evae_fill_normal(xi, (size_t)B * d, seed, stream, evae_grbm_langevin_index(t, B, d, 0, 0));
        for (size_t k = 0; k < (size_t)B * d; k++)
            z[k] = evae_grbm_langevin_update(z[k], dEdz[k], eta, xi[k]);
    }
    free(dEdz);
    free(xi);
    energy_scratch_free(&s);
}

void cpu_grbm_gibbs(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                    int steps, float beta, uint64_t seed, uint64_t stream)
{
    if (B <= 0 || steps <= 0) return;
    const float *mu = theta + evae_grbm_mu(d, n), *ls = theta + evae_grbm_log_sigma(d, n);
    const float *W = theta + evae_grbm_W(d, n);
    float *prec = fbuf((size_t)d);         /* prec[d] */
    float *x = fbuf((size_t)B * d);        /* x[B,d] = D z */
    float *H = fbuf((size_t)B * n);        /* H[B,n] = a, then h */
    float *WH = fbuf((size_t)B * d);       /* WH[B,d] = h W^T */
    float *uu = fbuf((size_t)B * n);       /* uu[B,n] uniforms of one step */
    float *xi = fbuf((size_t)B * d);       /* xi[B,d] normals of one step */
    precisions(ls, d, prec);
    for (int t = 0; t < steps; t++) {
        preactivations(theta, d, n, z, B, prec, x, H);
        evae_fill_uniform(uu, (size_t)B * n, seed, stream, evae_grbm_gibbs_h_index(t, B, d, n, 0, 0));
        for (size_t k = 0; k < (size_t)B * n; k++) H[k] = evae_grbm_gibbs_h(H[k], beta, uu[k]);
        sgemm(0, 1, B, d, n, 1.0f, H, W, 0.0f, WH);
        evae_fill_normal(xi, (size_t)B * d, seed, stream, evae_grbm_gibbs_z_index(t, B, d, n, 0, 0));
        for (int c = 0; c < B; c++)
            for (int i = 0; i < d; i++) {
                size_t k = (size_t)c * d + i;
                z[k] = evae_grbm_gibbs_z(mu[i], ls[i], beta, WH[k], xi[k]);
            }
    }
    free(prec); free(x); free(H); free(WH); free(uu); free(xi);
}
