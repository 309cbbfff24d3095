/* The CUDA backend's table (the twin of src/backend/cpu/cpu_backend.c): device set-up, memory,
 * the cuBLAS gemm, the facts for manifests, and evae_cuda_backend().
 *
 * Precision: cuBLAS runs in its default FP32 math mode (CUBLAS_DEFAULT_MATH: full FP32 FMA, no
 * TF32 tensor cores) and cuDNN in CUDNN_FMA_MATH, so every op matches the CPU backend within
 * float32 rounding. EVAE_ALLOW_TF32=1 in the environment opts in to TF32 tensor cores for both
 * (about 10 bits of mantissa in the products: faster, no longer comparable to the CPU within
 * float tolerance). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>

#include "cuda_ops.cuh"

void cuda_bad_arg(const char *op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "evae: the CUDA backend's %s was called with bad arguments: ", op);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    abort();
}

/* ---- memory ---- */

void *cuda_alloc_bytes(cuda_context *c, size_t bytes, int zero)
{
    if (bytes == 0) return NULL;
    void *p = NULL;
    cudaError_t err = c->pools ? cudaMallocAsync(&p, bytes, c->stream) : cudaMalloc(&p, bytes);
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
    if (zero) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, c->stream));
    return p;
}

void cuda_free_bytes(cuda_context *c, void *p)
{
    if (!p) return;
    if (c->pools)
        CUDA_CHECK(cudaFreeAsync(p, c->stream));
    else
        CUDA_CHECK(cudaFree(p));
}

void *cuda_scratch(cuda_context *c, size_t bytes)
{
    if (bytes > c->scratch_bytes) {
        /* stream-ordered free: kernels already queued on the old buffer finish first */
        cuda_free_bytes(c, c->scratch);
        size_t grown = c->scratch_bytes + c->scratch_bytes / 2;
        c->scratch_bytes = bytes > grown ? bytes : grown;
        c->scratch = cuda_alloc_bytes(c, c->scratch_bytes, 0);
    }
    return c->scratch;
}

static void *cuda_alloc(const evae_backend *be, size_t bytes)
{
    return cuda_alloc_bytes(cuda_of(be), bytes, 1);
}

static void cuda_free(const evae_backend *be, void *p) { cuda_free_bytes(cuda_of(be), p); }

/* Uploads wait for the copy: the caller may reuse host_src at once, pinned or not. */
static void cuda_upload(const evae_backend *be, void *dst, const void *host_src, size_t bytes)
{
    if (bytes == 0) return;
    cuda_need_buf("upload", "dst", dst, true);
    cuda_need_buf("upload", "host_src", host_src, true);
    cudaStream_t stream = cuda_of(be)->stream;
    CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
}

static void cuda_download(const evae_backend *be, void *host_dst, const void *src, size_t bytes)
{
    if (bytes == 0) return;
    cuda_need_buf("download", "host_dst", host_dst, true);
    cuda_need_buf("download", "src", src, true);
    cudaStream_t stream = cuda_of(be)->stream;
    CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
}

static void cuda_copy(const evae_backend *be, void *dst, const void *src, size_t bytes)
{
    if (bytes == 0 || dst == src) return;
    cuda_need_buf("copy", "dst", dst, true);
    cuda_need_buf("copy", "src", src, true);
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_of(be)->stream));
}

static void cuda_zero(const evae_backend *be, void *dst, size_t bytes)
{
    if (bytes == 0) return;
    cuda_need_buf("zero", "dst", dst, true);
    CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, cuda_of(be)->stream));
}

static void cuda_sync(const evae_backend *be)
{
    CUDA_CHECK(cudaStreamSynchronize(cuda_of(be)->stream));
}

/* ---- dense algebra ---- */

/* cuBLAS is column-major; a row-major [r,c] matrix is the column-major [c,r] matrix of its
 * transpose. So the row-major C = op(A) op(B) is computed as the column-major
 * C^T[n,m] = op(B)^T[n,k] op(A)^T[k,m], passing B first and A second with the same transpose
 * flags. Leading dimensions are the row lengths of the row-major storage: B is stored [k,n]
 * (ld n) or [n,k] when trans_b (ld k); A is stored [m,k] (ld k) or [k,m] when trans_a (ld m);
 * C has ld n. cuBLAS wants ld >= 1 even for empty operands. */
static void gemm_launch(cuda_context *c, int trans_a, int trans_b, int m, int n, int k, float alpha,
                        const float *A, const float *B, float beta, float *C)
{
    int ld_b = trans_b ? k : n;
    int ld_a = trans_a ? m : k;
    if (ld_a < 1) ld_a = 1;
    if (ld_b < 1) ld_b = 1;
    CUBLAS_CHECK(cublasSgemm(c->cublas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                             trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, B, ld_b, A,
                             ld_a, &beta, C, n));
    CUDA_CHECK_LAUNCH();
}

void cuda_gemm(const evae_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
               const float *A, const float *B, float beta, float *C)
{
    cuda_need_count("gemm", "m", m);
    cuda_need_count("gemm", "n", n);
    cuda_need_count("gemm", "k", k);
    if (m == 0 || n == 0) return;
    cuda_need_buf("gemm", "A", A, k > 0);
    cuda_need_buf("gemm", "B", B, k > 0);
    cuda_need_buf("gemm", "C", C, true);
    gemm_launch(cuda_of(be), trans_a, trans_b, m, n, k, alpha, A, B, beta, C);
}

static int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

int cuda_allow_tf32(void) { return env_flag("EVAE_ALLOW_TF32"); }

/* Sets up the device's context: stream, cuBLAS handle (its math mode from EVAE_ALLOW_TF32), the
 * sum buffers, and the knobs read from the environment. */
static void cuda_init(cuda_context *c)
{
    CUDA_CHECK(cudaGetDevice(&c->device));
    CUDA_CHECK(cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, c->device));
    int optin = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, c->device));
    c->smem_optin = (size_t)optin;
    CUDA_CHECK(cudaDeviceGetAttribute(&c->pools, cudaDevAttrMemoryPoolsSupported, c->device));
    if (c->pools) {
        /* keep freed blocks in the pool: the trainer frees and reallocates every step */
        cudaMemPool_t pool;
        CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, c->device));
        uint64_t keep = UINT64_MAX;
        CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    }
    CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&c->cublas));
    CUBLAS_CHECK(cublasSetStream(c->cublas, c->stream));
    CUBLAS_CHECK(cublasSetMathMode(c->cublas, cuda_allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                 : CUBLAS_DEFAULT_MATH));
    c->sum_partials = (double *)cuda_alloc_bytes(c, EVAE_SUM_MAX_BLOCKS * sizeof(double), 1);
    c->sum_result = (double *)cuda_alloc_bytes(c, sizeof(double), 1);
    CUDA_CHECK(cudaMallocHost(&c->sum_host, sizeof(double)));
    c->force_general = env_flag("EVAE_GRBM_GENERAL");
    const char *det = getenv("EVAE_CUDNN_DETERMINISTIC");
    c->conv_deterministic = !(det && strcmp(det, "0") == 0);
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    /* Handles and buffers live until the process exits; destroying them from an atexit hook
     * would race the CUDA runtime's own teardown. */
}

static const char *cuda_describe(const evae_backend *be);

/* Filled field by field, so the table stays right when evae_backend gains or reorders entries;
 * the GPU test calls every entry. */
void cuda_fill_table(evae_backend *t, cuda_context *c)
{
    memset(t, 0, sizeof *t);
    t->name = "cuda";
    t->ctx = c;
    t->alloc = cuda_alloc;
    t->free = cuda_free;
    t->upload = cuda_upload;
    t->download = cuda_download;
    t->copy = cuda_copy;
    t->zero = cuda_zero;
    t->sync = cuda_sync;
    t->describe = cuda_describe;
    t->algorithms = cuda_algorithms;
    t->gemm = cuda_gemm;
    t->col_sum = cuda_col_sum;
    t->axpy = cuda_axpy;
    t->scale = cuda_scale;
    t->sum = cuda_sum;
    t->accumulate_diff = cuda_accumulate_diff;
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
    t->grbm_dsm = cuda_grbm_dsm;
    t->grbm_param_grad = cuda_grbm_param_grad;
    t->grbm_langevin = cuda_grbm_langevin;
    t->grbm_gibbs = cuda_grbm_gibbs;
    t->conv_forward = cuda_conv_forward;
    t->conv_backward_data = cuda_conv_backward_data;
    t->conv_backward_filter = cuda_conv_backward_filter;
    t->channel_bias_act = cuda_channel_bias_act;
    t->channel_sum = cuda_channel_sum;
    t->laplace_ll = cuda_laplace_ll;
}

extern "C" int evae_cuda_use_device(int ordinal)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        (void)cudaGetLastError();
        return -1;
    }
    int dev = (ordinal % count + count) % count;
    CUDA_CHECK(cudaSetDevice(dev));
    return dev;
}

/* The backend of the current device, made on the first call and kept for the process (its
 * handles live until exit, see cuda_init). */
extern "C" const evae_backend *evae_cuda_backend(const char **why)
{
    static int state = 0; /* 0 untried, 1 ready, -1 no device */
    static char reason[160];
    static evae_backend table;
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
            cuda_context *c = (cuda_context *)calloc(1, sizeof *c);
            if (!c) {
                fprintf(stderr, "evae: out of host memory creating the CUDA backend\n");
                abort();
            }
            cuda_init(c);
            cuda_fill_table(&table, c);
            state = 1;
        }
    }
    if (state < 0) {
        if (why) *why = reason;
        return NULL;
    }
    return &table;
}

/* ---- manifest facts ---- */

/* backend.describe: card, compute capability, memory, driver and runtime versions, cuBLAS and
 * cuDNN versions and the math mode, for the run manifest. */
static const char *cuda_describe(const evae_backend *be)
{
    cuda_context *c = cuda_of(be);
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, c->device));
    int driver = 0, runtime = 0, cublas_version = 0;
    CUDA_CHECK(cudaDriverGetVersion(&driver));
    CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    CUBLAS_CHECK(cublasGetVersion(c->cublas, &cublas_version));
    size_t cudnn_version = cuda_cudnn_version();
    int tf32 = cuda_allow_tf32();
    snprintf(c->describe_text, sizeof c->describe_text,
             "%s (sm_%d%d, %d SMs, %.1f GiB), driver %d.%d, runtime %d.%d, cuBLAS %d.%d.%d, "
             "cuDNN %zu.%zu.%zu, math %s",
             prop.name, prop.major, prop.minor, prop.multiProcessorCount,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), driver / 1000,
             (driver % 1000) / 10, runtime / 1000, (runtime % 1000) / 10,
             cublas_version / 10000, (cublas_version / 100) % 100, cublas_version % 100,
             cudnn_version / 10000, (cudnn_version / 100) % 100, cudnn_version % 100,
             tf32 ? "TF32 tensor cores allowed" : "FP32 (no TF32)");
    return c->describe_text;
}
