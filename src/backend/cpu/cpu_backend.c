/* The CPU backend's table (the specification every other backend is tested against): memory,
 * the matrix product through OpenBLAS, and the facts for manifests; the other ops are in the
 * files cpu_ops.h lists, each the twin of the same-named file of kernels/. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"
#include "evae/util.h"

static void *cpu_alloc(const evae_backend *be, size_t bytes) { return evae_xcalloc(1, bytes); }
static void cpu_free(const evae_backend *be, void *p) { free(p); }
static void cpu_memcpy(const evae_backend *be, void *dst, const void *src, size_t bytes)
{
    if (bytes) memmove(dst, src, bytes);
}
static void cpu_zero(const evae_backend *be, void *dst, size_t bytes)
{
    if (bytes) memset(dst, 0, bytes);
}
static void cpu_sync(const evae_backend *be) {}
static const char *cpu_describe(const evae_backend *be) { return "cpu (OpenBLAS sgemm)"; }
static const char *cpu_algorithms(const evae_backend *be) { return ""; } /* chooses none */

/* C[m,n] = alpha op(A) op(B) + beta C through OpenBLAS, row-major and packed; also the GRBM
 * ops' products */
void cpu_gemm(const evae_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *A, const float *B, float beta, float *C)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, trans_a ? m : k, B,
                trans_b ? k : n, beta, C, n);
}

static const evae_backend cpu_backend = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .copy = cpu_memcpy,
    .zero = cpu_zero,
    .sync = cpu_sync,
    .describe = cpu_describe,
    .algorithms = cpu_algorithms,
    .gemm = cpu_gemm,
    .col_sum = cpu_col_sum,
    .axpy = cpu_axpy,
    .sum = cpu_sum,
    .accumulate_diff = cpu_accumulate_diff,
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
    .grbm_dsm = cpu_grbm_dsm,
    .grbm_param_grad = cpu_grbm_param_grad,
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
