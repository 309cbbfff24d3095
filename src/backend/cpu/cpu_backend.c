/* The CPU backend's table (the specification every other backend is tested against): memory,
 * the matrix product through OpenBLAS, and the facts for manifests; the other ops are in the
 * files cpu_ops.h lists, each the twin of the same-named file of kernels/. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_parallel.h"
#include "evae/backend/blas_kernels.h"
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
/* "OpenBLAS 0.3.21 SkylakeX kernels (...); threads: 2 (OpenMP; ...)" */
static const char *cpu_describe(const evae_backend *be)
{
    static _Thread_local char text[640];
    char kernels[384], threads[120];
    evae_blas_describe(kernels, sizeof kernels);
    cpu_threads_text(threads, sizeof threads);
    snprintf(text, sizeof text, "%s; threads: %s", kernels, threads);
    return text;
}
static const char *cpu_algorithms(const evae_backend *be) { return ""; } /* chooses none */

/* Products of fewer multiply-adds than this run as one call on the calling thread: a 64^3
 * product takes about 3 us, the time a parallel region costs. */
#define GEMM_SPLIT_MIN (64.0 * 64.0 * 64.0 * 8.0)
/* the parts' boundaries are multiples of this: of every kernel's tile (OpenBLAS unrolls by at
 * most 32), so each element of C is computed by the same kernel, in the same order, as in one
 * call over the whole product */
#define GEMM_SPLIT_ALIGN 64

/* C[m,n] = alpha op(A) op(B) + beta C through OpenBLAS, row-major and packed; also the GRBM
 * ops' and the convolutions' products. OpenBLAS runs single-threaded (cpu_parallel.h); a large
 * product is split into one part per OpenMP thread along the larger of C's two dimensions,
 * each part one OpenBLAS call on its own rows or columns of C. At the MNIST model's batch-512
 * shapes this scales better than OpenBLAS's own threads, and there is one pool of threads. */
void cpu_gemm(const evae_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *A, const float *B, float beta, float *C)
{
    const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    const CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    const int lda = trans_a ? m : k, ldb = trans_b ? k : n;
    const int split_rows = m >= n, extent = split_rows ? m : n;
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    int step = (extent + threads - 1) / (threads > 0 ? threads : 1);
    step = (step + GEMM_SPLIT_ALIGN - 1) / GEMM_SPLIT_ALIGN * GEMM_SPLIT_ALIGN;
    const int parts = step > 0 ? (extent + step - 1) / step : 1;
    if (parts < 2 || (double)m * n * k < GEMM_SPLIT_MIN) {
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, n);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(parts)
    for (int part = 0; part < parts; part++) {
        const int lo = part * step, len = extent - lo < step ? extent - lo : step;
        if (split_rows) /* rows lo.. of op(A) and of C */
            cblas_sgemm(CblasRowMajor, ta, tb, len, n, k, alpha,
                        trans_a ? A + lo : A + (size_t)lo * lda, lda, B, ldb, beta,
                        C + (size_t)lo * n, n);
        else /* columns lo.. of op(B) and of C */
            cblas_sgemm(CblasRowMajor, ta, tb, m, len, k, alpha, A, lda,
                        trans_b ? B + (size_t)lo * ldb : B + lo, ldb, beta, C + lo, n);
    }
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
    .scale = cpu_scale,
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

const evae_backend *evae_cpu_backend(void)
{
    cpu_threads_init();
    return &cpu_backend;
}
