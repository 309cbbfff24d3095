/* Elementwise and per-row VAE ops (the twin of src/backend/cpu/elementwise.c). Per-element
 * formulas come from evae/math/vae_math.h, the header the CPU backend uses; per-row sums
 * (log-likelihoods, entropies) accumulate in double like the CPU's, through a fixed block tree
 * (deterministic). Row kernels give each row one block and loop rows with a stride of gridDim.x,
 * so every thread of a block takes the same trip count and the block-wide sums are safe.
 *
 * Each op is a kernel, a launcher that picks the launch shape, and the public entry that checks
 * its arguments. */
#include <math.h>

#include "block_reduce.cuh"
#include "cuda_ops.cuh"
#include "evae/math/vae_math.h"

#define GRID_STRIDE(i, n)                                                                     \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);                   \
         i += (size_t)gridDim.x * blockDim.x)

/* Threads for a row kernel over rows of `len` elements: a multiple of 32 in [32, 256]. */
static int row_threads(int len)
{
    int t = (len + 31) / 32 * 32;
    if (t < 32) t = 32;
    if (t > EVAE_THREADS) t = EVAE_THREADS;
    return t;
}

/* ---- axpy: y[n] += a x[n] ---- */

static __global__ void axpy_kernel(float *y, const float *x, size_t n, float a)
{
    GRID_STRIDE(i, n) y[i] += a * x[i];
}

static void axpy_launch(cuda_context *c, float *y, const float *x, size_t n, float a)
{
    axpy_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(y, x, n, a);
    CUDA_CHECK_LAUNCH();
}

void cuda_axpy(const evae_backend *be, float *y, const float *x, size_t n, float a)
{
    if (n == 0) return;
    cuda_need_buf("axpy", "y", y, true);
    cuda_need_buf("axpy", "x", x, true);
    axpy_launch(cuda_of(be), y, x, n, a);
}

/* ---- scale: x[n] *= a ---- */

static __global__ void scale_kernel(float *x, size_t n, float a)
{
    GRID_STRIDE(i, n) x[i] *= a;
}

static void scale_launch(cuda_context *c, float *x, size_t n, float a)
{
    scale_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(x, n, a);
    CUDA_CHECK_LAUNCH();
}

void cuda_scale(const evae_backend *be, float *x, size_t n, float a)
{
    if (n == 0) return;
    cuda_need_buf("scale", "x", x, true);
    scale_launch(cuda_of(be), x, n, a);
}

/* ---- gather_rows: out[B, D] = table[idx[b], :] ---- */

static __global__ void gather_rows_kernel(float *out, const float *table, const int *idx, int B,
                                          int D)
{
    GRID_STRIDE(k, (size_t)B * D)
    {
        size_t b = k / (size_t)D, j = k - b * (size_t)D;
        out[k] = table[(size_t)idx[b] * D + j];
    }
}

static void gather_rows_launch(cuda_context *c, float *out, const float *table, const int *idx,
                               int B, int D)
{
    size_t n = (size_t)B * D;
    gather_rows_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(
        out, table, idx, B, D);
    CUDA_CHECK_LAUNCH();
}

void cuda_gather_rows(const evae_backend *be, float *out, const float *table, const int *idx, int B,
                      int D)
{
    cuda_need_count("gather_rows", "B", B);
    cuda_need_count("gather_rows", "D", D);
    if (B == 0 || D == 0) return;
    cuda_need_buf("gather_rows", "out", out, true);
    cuda_need_buf("gather_rows", "table", table, true);
    cuda_need_buf("gather_rows", "idx", idx, true);
    gather_rows_launch(cuda_of(be), out, table, idx, B, D);
}

/* ---- bias_act: y[rows, cols] = act(y + b[cols]) ---- */

static __global__ void bias_act_kernel(float *y, const float *b, int rows, int cols, int relu)
{
    GRID_STRIDE(k, (size_t)rows * cols)
    {
        float v = y[k] + b[k % (size_t)cols];
        y[k] = relu && v < 0.0f ? 0.0f : v; /* NaN propagates, as on the CPU */
    }
}

static void bias_act_launch(cuda_context *c, float *y, const float *b, int rows, int cols, int relu)
{
    size_t n = (size_t)rows * cols;
    bias_act_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(
        y, b, rows, cols, relu);
    CUDA_CHECK_LAUNCH();
}

void cuda_bias_act(const evae_backend *be, float *y, const float *b, int rows, int cols, int relu)
{
    cuda_need_count("bias_act", "rows", rows);
    cuda_need_count("bias_act", "cols", cols);
    if (rows == 0 || cols == 0) return;
    cuda_need_buf("bias_act", "y", y, true);
    cuda_need_buf("bias_act", "b", b, true);
    bias_act_launch(cuda_of(be), y, b, rows, cols, relu);
}

/* ---- channel_bias_act: y[N, C, HW] = act(y + b[C]) ---- */

static __global__ void channel_bias_act_kernel(float *y, const float *b, int N, int C, int HW,
                                               int relu)
{
    GRID_STRIDE(k, (size_t)N * C * HW)
    {
        float v = y[k] + b[(k / (size_t)HW) % (size_t)C];
        y[k] = relu && v < 0.0f ? 0.0f : v; /* NaN propagates, as on the CPU */
    }
}

static void channel_bias_act_launch(cuda_context *c, float *y, const float *b, int N, int C, int HW,
                                    int relu)
{
    size_t n = (size_t)N * C * HW;
    channel_bias_act_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(
        y, b, N, C, HW, relu);
    CUDA_CHECK_LAUNCH();
}

void cuda_channel_bias_act(const evae_backend *be, float *y, const float *b, int N, int C, int HW,
                           int relu)
{
    cuda_need_count("channel_bias_act", "N", N);
    cuda_need_count("channel_bias_act", "C", C);
    cuda_need_count("channel_bias_act", "HW", HW);
    if (N == 0 || C == 0 || HW == 0) return;
    cuda_need_buf("channel_bias_act", "y", y, true);
    cuda_need_buf("channel_bias_act", "b", b, true);
    channel_bias_act_launch(cuda_of(be), y, b, N, C, HW, relu);
}

/* ---- relu_backward: dy[n] = 0 where y <= 0 (or NaN), as the CPU's !(y > 0) ---- */

static __global__ void relu_backward_kernel(float *dy, const float *y, size_t n)
{
    GRID_STRIDE(i, n) if (!(y[i] > 0.0f)) dy[i] = 0.0f;
}

static void relu_backward_launch(cuda_context *c, float *dy, const float *y, size_t n)
{
    relu_backward_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(
        dy, y, n);
    CUDA_CHECK_LAUNCH();
}

void cuda_relu_backward(const evae_backend *be, float *dy, const float *y, size_t n)
{
    if (n == 0) return;
    cuda_need_buf("relu_backward", "dy", dy, true);
    cuda_need_buf("relu_backward", "y", y, true);
    relu_backward_launch(cuda_of(be), dy, y, n);
}

/* ---- binarize: x[n] = u < p ? 1 : 0 ---- */

static __global__ void binarize_kernel(float *x, const float *p, const float *u, size_t n)
{
    GRID_STRIDE(i, n) x[i] = u[i] < p[i] ? 1.0f : 0.0f;
}

static void binarize_launch(cuda_context *c, float *x, const float *p, const float *u, size_t n)
{
    binarize_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(x, p, u, n);
    CUDA_CHECK_LAUNCH();
}

void cuda_binarize(const evae_backend *be, float *x, const float *p, const float *u, size_t n)
{
    if (n == 0) return;
    cuda_need_buf("binarize", "x", x, true);
    cuda_need_buf("binarize", "p", p, true);
    cuda_need_buf("binarize", "u", u, true);
    binarize_launch(cuda_of(be), x, p, u, n);
}

/* ---- logit_dequantize: y[n] = logit(alpha + gain (x + u)), gain = (1 - 2 alpha)/256 ---- */

static __global__ void logit_dequantize_kernel(float *y, const float *x, const float *u, size_t n,
                                               float alpha, float gain)
{
    GRID_STRIDE(i, n) y[i] = evae_logit_dequantize_elem(x[i], u[i], alpha, gain);
}

static void logit_dequantize_launch(cuda_context *c, float *y, const float *x, const float *u,
                                    size_t n, float alpha)
{
    const float gain = (1.0f - 2.0f * alpha) / 256.0f;
    logit_dequantize_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(
        y, x, u, n, alpha, gain);
    CUDA_CHECK_LAUNCH();
}

void cuda_logit_dequantize(const evae_backend *be, float *y, const float *x, const float *u,
                           size_t n, float alpha)
{
    if (n == 0) return;
    cuda_need_buf("logit_dequantize", "y", y, true);
    cuda_need_buf("logit_dequantize", "x", x, true);
    cuda_need_buf("logit_dequantize", "u", u, true);
    logit_dequantize_launch(cuda_of(be), y, x, u, n, alpha);
}

/* ---- reparam: z[B,d] = mean + exp(logvar/2) eps, enc[B,2d] = [mean | logvar] ---- */

static __global__ void reparam_kernel(float *z, const float *enc, const float *eps, int B, int d)
{
    GRID_STRIDE(k, (size_t)B * d)
    {
        size_t b = k / (size_t)d, i = k - b * (size_t)d;
        const float *mean = enc + b * 2 * d;
        z[k] = mean[i] + expf(0.5f * mean[d + i]) * eps[k];
    }
}

static void reparam_launch(cuda_context *c, float *z, const float *enc, const float *eps, int B,
                           int d)
{
    size_t n = (size_t)B * d;
    reparam_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(
        z, enc, eps, B, d);
    CUDA_CHECK_LAUNCH();
}

void cuda_reparam(const evae_backend *be, float *z, const float *enc, const float *eps, int B,
                  int d)
{
    cuda_need_count("reparam", "B", B);
    cuda_need_count("reparam", "d", d);
    if (B == 0 || d == 0) return;
    cuda_need_buf("reparam", "z", z, true);
    cuda_need_buf("reparam", "enc", enc, true);
    cuda_need_buf("reparam", "eps", eps, true);
    reparam_launch(cuda_of(be), z, enc, eps, B, d);
}

/* ---- bernoulli_ll, row b: ll[b] = sum_j x l - softplus(l) (double);
 *      dlogits[b,:] = scale (x - sigmoid(l)) ---- */

static __global__ void bernoulli_ll_kernel(float *ll, float *dlogits, const float *logits,
                                           const float *x, int B, int D, float scale)
{
    for (int b = blockIdx.x; b < B; b += gridDim.x) {
        const float *l = logits + (size_t)b * D, *xb = x + (size_t)b * D; /* [D] */
        double s = 0.0;
        for (int j = threadIdx.x; j < D; j += blockDim.x) {
            float lj = l[j], xj = xb[j];
            s += evae_bernoulli_logpf(xj, lj);
            if (dlogits) dlogits[(size_t)b * D + j] = scale * (xj - evae_sigmoidf(lj));
        }
        s = block_sum(s);
        if (threadIdx.x == 0 && ll) ll[b] = (float)s;
    }
}

static void bernoulli_ll_launch(cuda_context *c, float *ll, float *dlogits, const float *logits,
                                const float *x, int B, int D, float scale)
{
    bernoulli_ll_kernel<<<cuda_row_blocks(c, B), row_threads(D), 0, c->stream>>>(
        ll, dlogits, logits, x, B, D, scale);
    CUDA_CHECK_LAUNCH();
}

void cuda_bernoulli_ll(const evae_backend *be, float *ll, float *dlogits, const float *logits,
                       const float *x, int B, int D, float scale)
{
    cuda_need_count("bernoulli_ll", "B", B);
    cuda_need_count("bernoulli_ll", "D", D);
    if (B == 0) return;
    cuda_need_buf("bernoulli_ll", "ll", ll, true);
    cuda_need_buf("bernoulli_ll", "logits", logits, D > 0);
    cuda_need_buf("bernoulli_ll", "x", x, D > 0);
    bernoulli_ll_launch(cuda_of(be), ll, dlogits, logits, x, B, D, scale);
}

/* ---- gauss_posterior, row b: ent[b] = sum_i (0.5 (1 + ln 2pi) + 0.5 logvar_i) (double);
 *      denc[b,:] = [dz | dz 0.5 exp(logvar/2) eps + 0.5 ent_grad] ---- */

static __global__ void gauss_posterior_kernel(float *ent, float *denc, const float *enc,
                                              const float *eps, const float *dz, int B, int d,
                                              float ent_grad)
{
    for (int b = blockIdx.x; b < B; b += gridDim.x) {
        const float *logvar = enc + (size_t)b * 2 * d + d; /* [d] */
        double s = 0.0;
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            float lv = logvar[i];
            if (ent) s += EVAE_HALF_1_PLUS_LN_2PI + 0.5f * lv;
            if (denc) {
                size_t k = (size_t)b * d + i;
                float g = dz[k];
                denc[(size_t)b * 2 * d + i] = g;
                denc[(size_t)b * 2 * d + d + i] =
                    g * 0.5f * expf(0.5f * lv) * eps[k] + 0.5f * ent_grad;
            }
        }
        if (ent) { /* ent is a kernel argument: the whole block takes this branch or none */
            s = block_sum(s);
            if (threadIdx.x == 0) ent[b] = (float)s;
        }
    }
}

static void gauss_posterior_launch(cuda_context *c, float *ent, float *denc, const float *enc,
                                   const float *eps, const float *dz, int B, int d, float ent_grad)
{
    gauss_posterior_kernel<<<cuda_row_blocks(c, B), row_threads(d), 0, c->stream>>>(
        ent, denc, enc, eps, dz, B, d, ent_grad);
    CUDA_CHECK_LAUNCH();
}

void cuda_gauss_posterior(const evae_backend *be, float *ent, float *denc, const float *enc,
                          const float *eps, const float *dz, int B, int d, float ent_grad)
{
    cuda_need_count("gauss_posterior", "B", B);
    cuda_need_count("gauss_posterior", "d", d);
    if (B == 0 || (!ent && !denc)) return;
    cuda_need_buf("gauss_posterior", "enc", enc, d > 0);
    cuda_need_buf("gauss_posterior", "eps", eps, denc && d > 0);
    cuda_need_buf("gauss_posterior", "dz", dz, denc && d > 0);
    gauss_posterior_launch(cuda_of(be), ent, denc, enc, eps, dz, B, d, ent_grad);
}

/* ---- laplace_ll, row b: ll[b] = -sum_j |y - mean| / scale - D ln(2 scale) (double);
 *      dmean[b,:] = g sign(y - mean), g = grad_scale / scale, 0 at the kink ---- */

static __global__ void laplace_ll_kernel(float *ll, float *dmean, const float *mean, const float *y,
                                         int B, int D, float inv_scale, double log_norm, float g)
{
    for (int b = blockIdx.x; b < B; b += gridDim.x) {
        const float *m = mean + (size_t)b * D, *t = y + (size_t)b * D; /* [D] */
        double l1 = 0.0;
        for (int j = threadIdx.x; j < D; j += blockDim.x) {
            float e = t[j] - m[j];
            l1 += fabsf(e);
            if (dmean) dmean[(size_t)b * D + j] = e > 0.0f ? g : (e < 0.0f ? -g : 0.0f);
        }
        if (ll) {
            l1 = block_sum(l1);
            if (threadIdx.x == 0) ll[b] = (float)(-l1 * inv_scale - log_norm);
        }
    }
}

static void laplace_ll_launch(cuda_context *c, float *ll, float *dmean, const float *mean,
                              const float *y, int B, int D, float scale, float grad_scale)
{
    const float inv_scale = 1.0f / scale;
    const double log_norm = (double)D * log(2.0 * (double)scale); /* D ln(2 scale) */
    const float g = grad_scale * inv_scale;
    laplace_ll_kernel<<<cuda_row_blocks(c, B), row_threads(D), 0, c->stream>>>(
        ll, dmean, mean, y, B, D, inv_scale, log_norm, g);
    CUDA_CHECK_LAUNCH();
}

void cuda_laplace_ll(const evae_backend *be, float *ll, float *dmean, const float *mean,
                     const float *y, int B, int D, float scale, float grad_scale)
{
    cuda_need_count("laplace_ll", "B", B);
    cuda_need_count("laplace_ll", "D", D);
    if (B == 0 || (!ll && !dmean)) return;
    cuda_need_buf("laplace_ll", "mean", mean, D > 0);
    cuda_need_buf("laplace_ll", "y", y, D > 0);
    laplace_ll_launch(cuda_of(be), ll, dmean, mean, y, B, D, scale, grad_scale);
}
