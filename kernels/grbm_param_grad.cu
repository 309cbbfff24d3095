/* The energy's parameter gradient over a weighted batch (the twin of
 * src/backend/cpu/grbm_param_grad.c, whose comment gives the formulas):
 *   grad[theta] = beta * grad + sum_b w_b dE/dtheta(z_b)   (w NULL: w_b = 1/B).
 * cuBLAS for the three products (a = x W, p W^T, dW = x^T P with P = -w p), elementwise kernels
 * between them with the per-element formulas of evae/math/grbm_math.h, and the deterministic
 * column sums of reduce.cu for mu, log_sigma and b. One path for every GRBM size: the op costs
 * three [B, d] x [d, n] products, which cuBLAS runs well for the batch sizes the objectives use. */
#include <limits.h>

#include "cuda_ops.cuh"
#include "grbm_common.cuh"

/* Over (c, j) of [B, n]: A <- p = sigmoid(A + b); P = -w_c p */
static __global__ void param_grad_hidden_kernel(const float *bias, int n, int B, const float *w,
                                                float *A, float *P)
{
    const float w_all = 1.0f / (float)B;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < (size_t)B * n;
         k += (size_t)gridDim.x * blockDim.x) {
        size_t c = k / (size_t)n, j = k - c * (size_t)n;
        float p = evae_sigmoidf(A[k] + bias[j]);
        A[k] = p;
        P[k] = -(w ? w[c] : w_all) * p;
    }
}

/* Over (c, i) of [B, d], with G = p W^T (row c holds W p_c): R[c, i] = w_c dE/dmu_i and
 * R[c, d + i] = w_c dE/dlog_sigma_i, so that the column sums of R[B, 2d] are theta's first 2d
 * entries */
static __global__ void param_grad_visible_kernel(grbm_view g, int d, int B, const float *z,
                                                 const float *w, const float *G, float *R)
{
    const float w_all = 1.0f / (float)B;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < (size_t)B * d;
         k += (size_t)gridDim.x * blockDim.x) {
        size_t c = k / (size_t)d, i = k - c * (size_t)d;
        float prec = evae_grbm_precision(g.log_sigma[i]), wc = w ? w[c] : w_all;
        float *rc = R + c * 2 * (size_t)d; /* [2d] */
        rc[i] = wc * evae_grbm_dE_dmu(z[k], g.mu[i], prec);
        rc[d + i] = wc * evae_grbm_dE_dlog_sigma(z[k], g.mu[i], prec, G[k]);
    }
}

static void param_grad_launch(const evae_backend *be, grbm_view g, int d, int n, const float *z,
                              int B, const float *w, float beta, float *grad)
{
    cuda_context *c = cuda_of(be);
    const size_t bd = (size_t)B * d, bn = (size_t)B * n;
    size_t col_ws = col_sum_workspace_floats(c, B, 2 * d);
    if (col_sum_workspace_floats(c, B, n) > col_ws) col_ws = col_sum_workspace_floats(c, B, n);
    size_t sizes[] = {bd, bn, bn, bd, 2 * bd, col_ws};
    float *bufs[sizeof sizes / sizeof *sizes];
    grbm_carve_scratch(c, sizes, sizeof sizes / sizeof *sizes, bufs);
    float *x = bufs[0];  /* [B,d] D z */
    float *A = bufs[1];  /* [B,n] a - b, then p */
    float *P = bufs[2];  /* [B,n] -w p */
    float *G = bufs[3];  /* [B,d] p W^T */
    float *R = bufs[4];  /* [B,2d] per-example mu and log_sigma terms */
    float *ws = bufs[5]; /* col_sum partials */

    grbm_scale_rows_launch(c, x, z, g.log_sigma, (size_t)B, d);
    cuda_gemm(be, 0, 0, B, n, d, 1.0f, x, g.W, 0.0f, A);
    param_grad_hidden_kernel<<<grbm_grid_for(c, bn), EVAE_THREADS, 0, c->stream>>>(
        g.b, n, B, w, A, P);
    CUDA_CHECK_LAUNCH();
    cuda_gemm(be, 0, 1, B, d, n, 1.0f, A, g.W, 0.0f, G);
    param_grad_visible_kernel<<<grbm_grid_for(c, bd), EVAE_THREADS, 0,
                                c->stream>>>(g, d, B, z, w, G, R);
    CUDA_CHECK_LAUNCH();
    /* theta's layout (evae/math/grbm.h): [mu (d) | log_sigma (d) | W (d x n) | b (n)] */
    col_sum_launch(c, grad, R, B, 2 * d, beta, ws);
    cuda_gemm(be, 1, 0, d, n, B, 1.0f, x, P, beta, grad + evae_grbm_W(d, n));
    col_sum_launch(c, grad + evae_grbm_b(d, n), P, B, n, beta, ws);
}

void cuda_grbm_param_grad(const evae_backend *be, const float *theta, int d, int n, const float *z,
                          int B, const float *w, float beta, float *grad)
{
    grbm_check("grbm_param_grad", theta, d, n, B);
    cuda_need_buf("grbm_param_grad", "grad", grad, true); /* scaled even for no examples */
    if (evae_grbm_size(d, n) > INT_MAX || 2 * (size_t)d > INT_MAX)
        cuda_bad_arg("grbm_param_grad", "a GRBM of %zu parameters: the column sums take int "
                     "sizes", evae_grbm_size(d, n));
    if (B == 0) { /* grad = beta * grad: a column sum over no rows */
        col_sum_launch(cuda_of(be), grad, NULL, 0, (int)evae_grbm_size(d, n), beta, NULL);
        return;
    }
    cuda_need_buf("grbm_param_grad", "z", z, true);
    param_grad_launch(be, grbm_split(theta, d, n), d, n, z, B, w, beta, grad);
}
