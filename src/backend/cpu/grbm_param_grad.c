/* The energy's parameter gradient, weighted over a batch, on the CPU (the twin of
 * kernels/grbm_param_grad.cu): grad[theta] = beta * grad + sum_b w_b dE/dtheta(z_b), the one op
 * that maximum likelihood by persistent chains, self-normalized importance sampling and
 * noise-contrastive estimation share (src/model/prior_*.c).
 *
 * Per example (evae/math/grbm_math.h), with x = D z, a = W^T x + b, p = sigmoid(a):
 *   dE/dmu_i = -D_i (z_i - mu_i),  dE/dlog_sigma_i = -D_i (z_i - mu_i)^2 + 2 x_i (W p)_i,
 *   dE/dW_ij = -x_i p_j,  dE/db_j = -p_j.
 * With P[b, j] = -w_b p_bj the W block is one [d, B] x [B, n] product, dW = x^T P, and the b
 * block its column sum; (W p_b) for all b is the product p W^T. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/grbm_common.h"
#include "evae/math/grbm.h"
#include "evae/math/grbm_math.h"

/* out[count] = beta * out, without reading out when beta = 0 (BLAS convention) */
static void scale_out(float *out, size_t count, float beta)
{
    for (size_t k = 0; k < count; k++) out[k] = beta == 0.0f ? 0.0f : beta * out[k];
}

void cpu_grbm_param_grad(const evae_backend *be, const float *theta, int d, int n, const float *z,
                         int B, const float *w, float beta, float *grad)
{
    if (B <= 0) {
        scale_out(grad, evae_grbm_size(d, n), beta);
        return;
    }
    const float *mu = theta + evae_grbm_mu(d, n), *W = theta + evae_grbm_W(d, n);
    float *g_mu = grad + evae_grbm_mu(d, n), *g_ls = grad + evae_grbm_log_sigma(d, n);
    float *g_W = grad + evae_grbm_W(d, n), *g_b = grad + evae_grbm_b(d, n);
    const float w_all = 1.0f / (float)B; /* the weight of every example when w is NULL */

    float *prec = cpu_fbuf((size_t)d);  /* prec[d] = D */
    float *x = cpu_fbuf((size_t)B * d); /* x[B,d] = D z */
    float *A = cpu_fbuf((size_t)B * n); /* A[B,n] = a, then p, then P = -w p */
    float *G = cpu_fbuf((size_t)B * d); /* G[B,d] = p W^T: row b holds W p_b */
    cpu_grbm_precisions(theta + evae_grbm_log_sigma(d, n), d, prec);
    cpu_grbm_preactivations(be, theta, d, n, z, B, prec, x, A);
    for (size_t k = 0; k < (size_t)B * n; k++) A[k] = evae_sigmoidf(A[k]);
    cpu_gemm(be, 0, 1, B, d, n, 1.0f, A, W, 0.0f, G);

    /* mu and log_sigma: per-example terms summed over the batch in double */
    for (int i = 0; i < d; i++) {
        double s_mu = 0.0, s_ls = 0.0;
        for (int c = 0; c < B; c++) {
            size_t k = (size_t)c * d + i;
            double wc = w ? w[c] : w_all;
            s_mu += wc * evae_grbm_dE_dmu(z[k], mu[i], prec[i]);
            s_ls += wc * evae_grbm_dE_dlog_sigma(z[k], mu[i], prec[i], G[k]);
        }
        g_mu[i] = (float)((beta == 0.0f ? 0.0 : beta * (double)g_mu[i]) + s_mu);
        g_ls[i] = (float)((beta == 0.0f ? 0.0 : beta * (double)g_ls[i]) + s_ls);
    }
    /* W and b through P = -w p */
    for (int c = 0; c < B; c++) {
        float wc = w ? w[c] : w_all;
        for (int j = 0; j < n; j++) A[(size_t)c * n + j] *= -wc;
    }
    cpu_gemm(be, 1, 0, d, n, B, 1.0f, x, A, beta, g_W);
    for (int j = 0; j < n; j++) {
        double s = 0.0;
        for (int c = 0; c < B; c++) s += A[(size_t)c * n + j];
        g_b[j] = (float)((beta == 0.0f ? 0.0 : beta * (double)g_b[j]) + s);
    }
    free(prec);
    free(x);
    free(A);
    free(G);
}
