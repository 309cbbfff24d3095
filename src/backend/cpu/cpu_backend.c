/* The CPU backend: plain C loops for elementwise work, OpenBLAS for matrix products. This is the
 * specification every other backend is tested against. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"
#include "evae/math/philox.h"
#include "evae/util.h"
#include "evae/math/vae_math.h"

static void *cpu_alloc(const evae_backend *be, size_t bytes) { return evae_xcalloc(1, bytes); }
static void cpu_free(const evae_backend *be, void *p) { free(p); }
static void cpu_memcpy(const evae_backend *be, void *dst, const void *src, size_t bytes)
{
    if (bytes) memmove(dst, src, bytes);
}
static void cpu_sync(const evae_backend *be) {}
static const char *cpu_describe(const evae_backend *be) { return "cpu (OpenBLAS sgemm)"; }
static const char *cpu_algorithms(const evae_backend *be) { return ""; } /* chooses none */

static void cpu_gemm(const evae_backend *be, int trans_a, int trans_b, int m, int n, int k,
                     float alpha, const float *A, const float *B, float beta, float *C)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, trans_a ? m : k, B,
                trans_b ? k : n, beta, C, n);
}

static void cpu_col_sum(const evae_backend *be, float *out, const float *x, int rows, int cols,
                        float beta)
{
    /* beta = 0 overwrites without reading out (BLAS convention: NaN * 0 would stay NaN) */
    for (int j = 0; j < cols; j++) out[j] = beta == 0.0f ? 0.0f : beta * out[j];
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * cols;
        for (int j = 0; j < cols; j++) out[j] += row[j];
    }
}

static void cpu_axpy(const evae_backend *be, float *y, const float *x, size_t n, float a)
{
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

static double cpu_sum(const evae_backend *be, const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s;
}

static void cpu_rand_uniform(const evae_backend *be, float *out, size_t n, uint64_t seed,
                             uint64_t stream)
{
    evae_fill_uniform(out, n, seed, stream, 0);
}

static void cpu_rand_normal(const evae_backend *be, float *out, size_t n, uint64_t seed,
                            uint64_t stream)
{
    evae_fill_normal(out, n, seed, stream, 0);
}

static void cpu_rand_rademacher(const evae_backend *be, float *out, size_t n, uint64_t seed,
                                uint64_t stream)
{
    evae_fill_uniform(out, n, seed, stream, 0);
    for (size_t i = 0; i < n; i++) out[i] = out[i] < 0.5f ? 1.0f : -1.0f;
}

static void cpu_gather_rows(const evae_backend *be, float *out, const float *table, const int *idx,
                            int B, int D)
{
    for (int b = 0; b < B; b++)
        memcpy(out + (size_t)b * D, table + (size_t)idx[b] * D, (size_t)D * sizeof(float));
}

static void cpu_bias_act(const evae_backend *be, float *y, const float *b, int rows, int cols,
                         int relu)
{
    for (int r = 0; r < rows; r++) {
        float *row = y + (size_t)r * cols;
        if (relu) /* written so that NaN propagates (fmaxf would hide it) */
            for (int j = 0; j < cols; j++) row[j] = row[j] + b[j] < 0.0f ? 0.0f : row[j] + b[j];
        else
            for (int j = 0; j < cols; j++) row[j] += b[j];
    }
}

static void cpu_relu_backward(const evae_backend *be, float *dy, const float *y, size_t n)
{
    /* a select, not a conditional store, so it vectorizes; NaN in y gives 0 as before */
    for (size_t i = 0; i < n; i++) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

static void cpu_binarize(const evae_backend *be, float *x, const float *p, const float *u, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = u[i] < p[i] ? 1.0f : 0.0f;
}

static void cpu_logit_dequantize(const evae_backend *be, float *y, const float *x, const float *u,
                                 size_t n, float alpha)
{
    const float gain = (1.0f - 2.0f * alpha) / 256.0f;
    for (size_t i = 0; i < n; i++) y[i] = evae_logit_dequantize_elem(x[i], u[i], alpha, gain);
}

static void cpu_reparam(const evae_backend *be, float *z, const float *enc, const float *eps, int B,
                        int d)
{
    for (int b = 0; b < B; b++) {
        const float *mean = enc + (size_t)b * 2 * d, *logvar = mean + d;
        for (int i = 0; i < d; i++)
            z[(size_t)b * d + i] = mean[i] + expf(0.5f * logvar[i]) * eps[(size_t)b * d + i];
    }
}

static void cpu_bernoulli_ll(const evae_backend *be, float *ll, float *dlogits, const float *logits,
                             const float *x, int B, int D, float scale)
{
    for (int b = 0; b < B; b++) {
        const float *l = logits + (size_t)b * D, *xb = x + (size_t)b * D;
        double s = 0.0;
        if (dlogits) {
            float *g = dlogits + (size_t)b * D;
            for (int j = 0; j < D; j++) {
                s += evae_bernoulli_logp_grad(xb[j], l[j], &g[j]);
                g[j] *= scale;
            }
        } else {
            for (int j = 0; j < D; j++) s += evae_bernoulli_logpf(xb[j], l[j]);
        }
        ll[b] = (float)s;
    }
}

static void cpu_gauss_posterior(const evae_backend *be, float *ent, float *denc, const float *enc,
                                const float *eps, const float *dz, int B, int d, float ent_grad)
{
    for (int b = 0; b < B; b++) {
        const float *logvar = enc + (size_t)b * 2 * d + d;
        if (ent) {
            double s = 0.0;
            for (int i = 0; i < d; i++) s += EVAE_HALF_1_PLUS_LN_2PI + 0.5f * logvar[i];
            ent[b] = (float)s;
        }
        if (denc) {
            float *dmean = denc + (size_t)b * 2 * d, *dlogvar = dmean + d;
            for (int i = 0; i < d; i++) {
                float g = dz[(size_t)b * d + i];
                dmean[i] = g;
                dlogvar[i] = g * 0.5f * expf(0.5f * logvar[i]) * eps[(size_t)b * d + i] +
                             0.5f * ent_grad;
            }
        }
    }
}

static void cpu_adam(const evae_backend *be, float *p, float *m, float *v, const float *g, size_t n,
                     float lr, float beta1, float beta2, float eps, long t)
{
    float bc1 = (float)(1.0 - pow(beta1, (double)t)), bc2 = (float)(1.0 - pow(beta2, (double)t));
    for (size_t i = 0; i < n; i++)
        evae_adam_elem(&p[i], &m[i], &v[i], g[i], lr, beta1, beta2, eps, bc1, bc2);
}

static const evae_backend cpu_backend = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .copy = cpu_memcpy,
    .sync = cpu_sync,
    .describe = cpu_describe,
    .algorithms = cpu_algorithms,
    .gemm = cpu_gemm,
    .col_sum = cpu_col_sum,
    .axpy = cpu_axpy,
    .sum = cpu_sum,
    .rand_uniform = cpu_rand_uniform,
    .rand_normal = cpu_rand_normal,
    .rand_rademacher = cpu_rand_rademacher,
    .gather_rows = cpu_gather_rows,
    .bias_act = cpu_bias_act,
    .relu_backward = cpu_relu_backward,
    .binarize = cpu_binarize,
    .logit_dequantize = cpu_logit_dequantize,
    .reparam = cpu_reparam,
    .bernoulli_ll = cpu_bernoulli_ll,
    .gauss_posterior = cpu_gauss_posterior,
    .adam = cpu_adam,
    .grbm_energy = cpu_grbm_energy,
    .grbm_ssm = cpu_grbm_ssm,
    .grbm_langevin = cpu_grbm_langevin,
    .grbm_gibbs = cpu_grbm_gibbs,
    .conv_forward = cpu_conv_forward,
    .conv_backward_data = cpu_conv_backward_data,
    .conv_backward_filter = cpu_conv_backward_filter,
    .channel_bias_act = cpu_channel_bias_act,
    .channel_sum = cpu_channel_sum,
    .laplace_ll = cpu_laplace_ll,
};

const evae_backend *evae_cpu_backend(void) { return &cpu_backend; }
