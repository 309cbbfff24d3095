/* Sliced and denoising score matching for the GRBM on the CPU (the twin of kernels/grbm_ssm.cu).
 * Both are one pass, ssm_pass: denoising score matching is the variance-reduced form's 0.5 |s|^2
 * term with an offset added to the score and no projections. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_parallel.h"
#include "backend/cpu/grbm_common.h"
#include "evae/math/grbm.h"
#include "evae/math/grbm_math.h"

/* ---- score matching, both ops ----
 * Per example z with projections v_m (m = 1..M; none for denoising, M = 0):
 *   g = -(z - mu) + W p,  s = D g                       (score)
 *   u_m = W^T y_m,  y_m = D v_m                          (projected through the coupling)
 *   T = -(1/M) sum_m sum_i D_i v_mi^2 + sum_j q_j U2_j,  U2_j = (1/M) sum_m u_mj^2
 *   plain:            J = T + (1/M) sum_m 0.5 c_m^2,  c_m = v_m . s
 *   variance-reduced: J = T + 0.5 |s + o|^2   (o: the per-element offset, 0 for SSM;
 *                                            denoising: J = 0.5 |s + o|^2, T = 0 without v)
 * Reverse mode, with adjoints written G* = d(mean_b J_b)/d(*) (the 1/B is folded in first):
 *   GS = dJ/ds   = s + o (variance-reduced) or (1/M) sum_m c_m v_m (plain)
 *   GG = dJ/dg   = D GS;    s = D g also gives dJ/dD_i += GS_i g_i
 *   g = -(z - mu) + W p:    dJ/dmu = GG;  dJ/dW += GG^T p;  dJ/dp = GG W
 *   p = sigmoid(a):         GA = dJ/da = q (1 - 2p) U2 + q (dJ/dp)       (q' = q (1 - 2p))
 *   U2 term:                GU_mj = dJ/du_mj = (2/M) q_j u_mj
 *   a = W^T x + b, x = D z: dJ/dW += x^T GA;  dJ/db = GA;  dJ/dD_i += (GA W^T)_i z_i
 *   u_m = W^T y_m, y = D v: dJ/dW += y^T GU;  dJ/dD_i += sum_m (GU W^T)_mi v_mi
 *   explicit -D v^2 term:   dJ/dD_i -= (1/M) sum_m v_mi^2
 *   D = exp(-2 log_sigma):  dJ/dlog_sigma_i = -2 D_i dJ/dD_i
 * so sigma enters through the scaling of z, of v and of the score, as it must. */
static void ssm_pass(const evae_backend *be, const float *theta, int d, int n, const float *z,
                     int B, const float *v, int M, int variance_reduced, const float *offset,
                     float *J, float *grad)
{
    memset(grad, 0, sizeof(float) * evae_grbm_size(d, n));
    if (B <= 0) return;
    const float *mu = theta + evae_grbm_mu(d, n), *W = theta + evae_grbm_W(d, n);
    float *g_mu = grad + evae_grbm_mu(d, n), *g_ls = grad + evae_grbm_log_sigma(d, n);
    float *g_W = grad + evae_grbm_W(d, n), *g_b = grad + evae_grbm_b(d, n);
    const size_t BM = (size_t)B * M;
    const float inv_B = 1.0f / (float)B, inv_M = M > 0 ? 1.0f / (float)M : 0.0f;

    float *prec = cpu_fbuf((size_t)d);  /* prec[d] = D */
    float *x = cpu_fbuf((size_t)B * d);  /* x[B,d] = D z, later GA W^T */
    float *A = cpu_fbuf((size_t)B * n);  /* A[B,n] = a, then p */
    float *G = cpu_fbuf((size_t)B * d);  /* G[B,d] = g = -(z - mu) + W p */
    float *GS = cpu_fbuf((size_t)B * d); /* GS[B,d] = dJ/ds, then GG = D GS */
    float *Y = cpu_fbuf(BM * d);         /* Y[B*M,d] = D v, later GU W^T */
    float *U = cpu_fbuf(BM * n);         /* U[B*M,n] = u, then GU */
    float *GA = cpu_fbuf((size_t)B * n); /* GA[B,n] = dJ/da */
    float *Q = cpu_fbuf((size_t)B * n);  /* Q[B,n] = q = sigmoid'(a) */
    double *dD = evae_xcalloc((size_t)d, sizeof(double)); /* dD[d] = dJ/dD */

    /* forward */
    cpu_grbm_precisions(theta + evae_grbm_log_sigma(d, n), d, prec);
    cpu_grbm_preactivations(be, theta, d, n, z, B, prec, x, A);
    if (M > 0) {
        cpu_grbm_scale_cols(Y, v, BM, d, prec);
        cpu_gemm(be, 0, 0, (int)BM, n, d, 1.0f, Y, W, 0.0f, U);
    }
#pragma omp parallel for schedule(static) if (cpu_par_worth(BM * (d + n)))
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
            A[k] = evae_sigmoidf(A[k]); /* A now holds p */
        }
        J[c] = (float)T;
    }
    /* G = p W^T - (z - mu); s = D G */
    cpu_gemm(be, 0, 1, B, d, n, 1.0f, A, W, 0.0f, G);
#pragma omp parallel for schedule(static) if (cpu_par_worth(BM * d))
    for (int c = 0; c < B; c++) {
        double half_c2 = 0.0, half_s2 = 0.0;
        float *gc = G + (size_t)c * d, *gsc = GS + (size_t)c * d;
        const float *zc = z + (size_t)c * d;
        for (int i = 0; i < d; i++) gc[i] -= zc[i] - mu[i];
        if (variance_reduced) {
            const float *oc = offset ? offset + (size_t)c * d : NULL; /* [d] or none */
            for (int i = 0; i < d; i++) {
                float s = prec[i] * gc[i];
                if (oc) s += oc[i];
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

    /* backward: s = D g (the offset's derivative is 1: GS already holds s + o) */
    for (int c = 0; c < B; c++)
        for (int i = 0; i < d; i++) {
            size_t k = (size_t)c * d + i;
            dD[i] += (double)GS[k] * G[k];
            GS[k] *= prec[i]; /* GS now holds GG */
            g_mu[i] += GS[k];
        }
    /* g = -(z - mu) + W p: dJ/dW += GG^T p, GA += q * (GG W) */
    cpu_gemm(be, 1, 0, d, n, B, 1.0f, GS, A, 0.0f, g_W);
    float *dP = G; /* G is no longer needed; dP[B,n] needs B*n floats */
    if (n > d) dP = cpu_fbuf((size_t)B * n);
    cpu_gemm(be, 0, 0, B, n, d, 1.0f, GS, W, 0.0f, dP);
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)B * n))
    for (size_t k = 0; k < (size_t)B * n; k++) GA[k] += Q[k] * dP[k];
    if (dP != G) free(dP);
    /* GU = (2/(M B)) q u */
#pragma omp parallel for schedule(static) if (cpu_par_worth(BM * n))
    for (int c = 0; c < B; c++)
        for (int m = 0; m < M; m++)
            for (int j = 0; j < n; j++)
                U[((size_t)c * M + m) * n + j] *= 2.0f * inv_M * inv_B * Q[(size_t)c * n + j];
    /* a = W^T x + b and u = W^T y */
    cpu_gemm(be, 1, 0, d, n, B, 1.0f, x, GA, 1.0f, g_W);
    if (M > 0) cpu_gemm(be, 1, 0, d, n, (int)BM, 1.0f, Y, U, 1.0f, g_W);
    for (int c = 0; c < B; c++)
        for (int j = 0; j < n; j++) g_b[j] += GA[(size_t)c * n + j];
    cpu_gemm(be, 0, 1, B, d, n, 1.0f, GA, W, 0.0f, x);          /* x <- dJ/dx */
    if (M > 0) cpu_gemm(be, 0, 1, (int)BM, d, n, 1.0f, U, W, 0.0f, Y); /* Y <- dJ/dy */
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

void cpu_grbm_ssm(const evae_backend *be, const float *theta, int d, int n, const float *z, int B,
                  const float *v, int M, int variance_reduced, float *J, float *grad)
{
    if (M <= 0) { /* no projections: no loss (the CUDA twin's entry refuses M < 0) */
        memset(grad, 0, sizeof(float) * evae_grbm_size(d, n));
        return;
    }
    ssm_pass(be, theta, d, n, z, B, v, M, variance_reduced, NULL, J, grad);
}

void cpu_grbm_dsm(const evae_backend *be, const float *theta, int d, int n, const float *z, int B,
                  const float *offset, float *J, float *grad)
{
    ssm_pass(be, theta, d, n, z, B, NULL, 0, 1, offset, J, grad);
}
