/* The CUDA backend's table: device set-up, memory, the cuBLAS gemm, and evae_cuda_backend().
 *
 * Precision: cuBLAS runs in its default FP32 math mode (CUBLAS_DEFAULT_MATH: full FP32 FMA, no
 * TF32 tensor cores) and cuDNN in CUDNN_FMA_MATH, so every op matches the CPU backend within
 * float32 rounding. EVAE_ALLOW_TF32=1 in the environment opts in to TF32 tensor cores for both
 * (about 10 bits of mantissa in the products: faster, no longer comparable to the CPU within
 * float tolerance). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_context.cuh"
#include "cuda_extras.h"
#include "cuda_ops.cuh"

struct evae_cuda_context cuda_ctx;

/* ---- memory ---- */

void *cuda_alloc_bytes(size_t bytes, int zero)
{
    if (bytes == 0) return NULL;
    void *p = NULL;
    cudaError_t err = cuda_ctx.pools ? cudaMallocAsync(&p, bytes, cuda_ctx.stream)
                                     : cudaMalloc(&p, bytes);
    if (err != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        (void)cudaGetLastError(); /* an allocation error is not sticky: clear it to report */
        CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
        fprintf(stderr,
                "evae: CUDA error %s allocating %zu bytes of device memory (%zu of %zu bytes "
                "free) at %s:%d\n",
                cudaGetErrorString(err), bytes, free_b, total_b, __FILE__, __LINE__);
        abort();
    }
    if (zero) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_ctx.stream));
    return p;
}

void cuda_free_bytes(void *p)
{
    if (!p) return;
    if (cuda_ctx.pools)
        CUDA_CHECK(cudaFreeAsync(p, cuda_ctx.stream));
    else
        CUDA_CHECK(cudaFree(p));
}

void *cuda_scratch(size_t bytes)
{
    if (bytes > cuda_ctx.scratch_bytes) {
        /* stream-ordered free: kernels already queued on the old buffer finish first */
        cuda_free_bytes(cuda_ctx.scratch);
        size_t grown = cuda_ctx.scratch_bytes + cuda_ctx.scratch_bytes / 2;
        cuda_ctx.scratch_bytes = bytes > grown ? bytes : grown;
        cuda_ctx.scratch = cuda_alloc_bytes(cuda_ctx.scratch_bytes, 0);
    }
    return cuda_ctx.scratch;
}

static void *cuda_alloc(size_t bytes) { return cuda_alloc_bytes(bytes, 1); }

static void cuda_free(void *p) { cuda_free_bytes(p); }

/* Uploads wait for the copy: the caller may reuse host_src at once, pinned or not. */
static void cuda_upload(void *dst, const void *host_src, size_t bytes)
{
    if (bytes == 0) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, cuda_ctx.stream));
    CUDA_CHECK(cudaStreamSynchronize(cuda_ctx.stream));
}

static void cuda_download(void *host_dst, const void *src, size_t bytes)
{
    if (bytes == 0) return;
    CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, cuda_ctx.stream));
    CUDA_CHECK(cudaStreamSynchronize(cuda_ctx.stream));
}

static void cuda_copy(void *dst, const void *src, size_t bytes)
{
    if (bytes == 0 || dst == src) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_ctx.stream));
}

static void cuda_sync(void) { CUDA_CHECK(cudaStreamSynchronize(cuda_ctx.stream)); }

/* ---- dense algebra ---- */

/* cuBLAS is column-major; a row-major [r,c] matrix is the column-major [c,r] matrix of its
 * transpose. So the row-major C = op(A) op(B) is computed as the column-major
 * C^T[n,m] = op(B)^T[n,k] op(A)^T[k,m], passing B first and A second with the same transpose
 * flags. Leading dimensions are the row lengths of the row-major storage: B is stored [k,n]
 * (ld n) or [n,k] when trans_b (ld k); A is stored [m,k] (ld k) or [k,m] when trans_a (ld m);
 * C has ld n. cuBLAS wants ld >= 1 even for empty operands. */
void cuda_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *A,
               const float *B, float beta, float *C)
{
    if (m <= 0 || n <= 0) return;
    int ld_b = trans_b ? k : n;
    int ld_a = trans_a ? m : k;
    if (ld_a < 1) ld_a = 1;
    if (ld_b < 1) ld_b = 1;
    CUBLAS_CHECK(cublasSgemm(cuda_ctx.cublas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                             trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k < 0 ? 0 : k, &alpha, B,
                             ld_b, A, ld_a, &beta, C, n));
    CUDA_CHECK_LAUNCH();
}

static int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

int cuda_allow_tf32(void) { return env_flag("EVAE_ALLOW_TF32"); }

static void cuda_init(void)
{
    CUDA_CHECK(cudaGetDevice(&cuda_ctx.device));
    CUDA_CHECK(cudaDeviceGetAttribute(&cuda_ctx.sm_count, cudaDevAttrMultiProcessorCount,
                                      cuda_ctx.device));
    int optin = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                                      cuda_ctx.device));
    cuda_ctx.smem_optin = (size_t)optin;
    CUDA_CHECK(cudaDeviceGetAttribute(&cuda_ctx.pools, cudaDevAttrMemoryPoolsSupported,
                                      cuda_ctx.device));
    if (cuda_ctx.pools) {
        /* keep freed blocks in the pool: the trainer frees and reallocates every step */
        cudaMemPool_t pool;
        CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, cuda_ctx.device));
        uint64_t keep = UINT64_MAX;
        CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    }
    CUDA_CHECK(cudaStreamCreateWithFlags(&cuda_ctx.stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&cuda_ctx.cublas));
    CUBLAS_CHECK(cublasSetStream(cuda_ctx.cublas, cuda_ctx.stream));
    CUBLAS_CHECK(cublasSetMathMode(cuda_ctx.cublas, cuda_allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                      : CUBLAS_DEFAULT_MATH));
    cuda_ctx.sum_partials =
        (double *)cuda_alloc_bytes(EVAE_SUM_MAX_BLOCKS * sizeof(double), 1);
    cuda_ctx.sum_result = (double *)cuda_alloc_bytes(sizeof(double), 1);
    CUDA_CHECK(cudaMallocHost(&cuda_ctx.sum_host, sizeof(double)));
    cuda_ctx.force_general = env_flag("EVAE_GRBM_GENERAL");
    CUDA_CHECK(cudaStreamSynchronize(cuda_ctx.stream));
    /* Handles and buffers live until the process exits; destroying them from an atexit hook
     * would race the CUDA runtime's own teardown. */
}

static const char *cuda_describe(void);

/* Filled field by field, so the table stays right when evae_backend gains or reorders entries;
 * the GPU test calls every entry. */
static evae_backend cuda_table;

static void cuda_fill_table(evae_backend *t)
{
    memset(t, 0, sizeof *t);
    t->name = "cuda";
    t->alloc = cuda_alloc;
    t->free = cuda_free;
    t->upload = cuda_upload;
    t->download = cuda_download;
    t->copy = cuda_copy;
    t->sync = cuda_sync;
    t->describe = cuda_describe;
    t->gemm = cuda_gemm;
    t->col_sum = cuda_col_sum;
    t->axpy = cuda_axpy;
    t->sum = cuda_sum;
    t->rand_uniform = cuda_rand_uniform;
    t->rand_normal = cuda_rand_normal;
    t->rand_rademacher = cuda_rand_rademacher;
    t->gather_rows = cuda_gather_rows;
    t->bias_act = cuda_bias_act;
    t->relu_backward = cuda_relu_backward;
    t->binarize = cuda_binarize;
    t->logit_dequantize = cuda_logit_dequantize;
    t->reparam = cuda_reparam;
    t->bernoulli_ll = cuda_bernoulli_ll;
    t->gauss_posterior = cuda_gauss_posterior;
    t->adam = cuda_adam;
    t->grbm_energy = cuda_grbm_energy;
    t->grbm_ssm = cuda_grbm_ssm;
    t->grbm_langevin = cuda_grbm_langevin;
    t->grbm_gibbs = cuda_grbm_gibbs;
    t->conv_forward = cuda_conv_forward;
    t->conv_backward_data = cuda_conv_backward_data;
    t->conv_backward_filter = cuda_conv_backward_filter;
    t->channel_bias_act = cuda_channel_bias_act;
    t->channel_sum = cuda_channel_sum;
    t->laplace_ll = cuda_laplace_ll;
}

extern "C" const evae_backend *evae_cuda_backend(const char **why)
{
    static int state = 0; /* 0 untried, 1 ready, -1 no device */
    static char reason[160];
    if (state == 0) {
        int count = 0;
        cudaError_t err = cudaGetDeviceCount(&count);
        if (err != cudaSuccess) {
            snprintf(reason, sizeof reason, "no usable CUDA device (%s)", cudaGetErrorString(err));
            (void)cudaGetLastError();
            state = -1;
        } else if (count == 0) {
            snprintf(reason, sizeof reason, "no CUDA device found");
            state = -1;
        } else {
            cuda_init();
            cuda_fill_table(&cuda_table);
            state = 1;
        }
    }
    if (state < 0) {
        if (why) *why = reason;
        return NULL;
    }
    return &cuda_table;
}

/* ---- manifest facts ---- */

/* backend.describe: card, compute capability, memory, driver and runtime versions, cuBLAS and
 * cuDNN versions and the math mode, for the run manifest. */
static const char *cuda_describe(void)
{
    static char info[512];
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, cuda_ctx.device));
    int driver = 0, runtime = 0, cublas_version = 0;
    CUDA_CHECK(cudaDriverGetVersion(&driver));
    CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    CUBLAS_CHECK(cublasGetVersion(cuda_ctx.cublas, &cublas_version));
    size_t cudnn_version = cuda_cudnn_version();
    int tf32 = cuda_allow_tf32();
    snprintf(info, sizeof info,
             "%s (sm_%d%d, %d SMs, %.1f GiB), driver %d.%d, runtime %d.%d, cuBLAS %d.%d.%d, "
             "cuDNN %zu.%zu.%zu, math %s",
             prop.name, prop.major, prop.minor, prop.multiProcessorCount,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), driver / 1000,
             (driver % 1000) / 10, runtime / 1000, (runtime % 1000) / 10,
             cublas_version / 10000, (cublas_version / 100) % 100, cublas_version % 100,
             cudnn_version / 10000, (cudnn_version / 100) % 100, cudnn_version % 100,
             tf32 ? "TF32 tensor cores allowed" : "FP32 (no TF32)");
    return info;
}

extern "C" void evae_cuda_set_grbm_general(int on) { cuda_ctx.force_general = on != 0; }
