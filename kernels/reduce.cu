/* Reductions (the twin of src/backend/cpu/reduce.c): column sums (bias gradients), channel sums
 * (conv bias gradients), the scalar sum and running sums in double. All are deterministic: each
 * output is a fixed tree over fixed slices, no atomics. Long reductions split into slices summed
 * by separate blocks into scratch, then a second kernel adds the slices in order, so a short wide
 * sum and a long narrow one both fill the device.
 *
 * beta follows BLAS: with beta = 0 the old output is not read (it may hold anything, NaN too). */
#include "block_reduce.cuh"
#include "cuda_ops.cuh"

/* out[count] = beta * out + sum_p partial[p, count] (p in order) */
static __global__ void finish_partials_kernel(float *out, const float *partial, int count,
                                              int parts, float beta)
{
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < count; c += gridDim.x * blockDim.x) {
        float t = 0.0f;
        for (int p = 0; p < parts; p++) t += partial[(size_t)p * count + c];
        out[c] = (beta == 0.0f ? 0.0f : beta * out[c]) + t;
    }
}

static void finish_partials(cuda_context *c, float *out, const float *partial, int count, int parts,
                            float beta)
{
    finish_partials_kernel<<<cuda_grid_for(c, (size_t)count, EVAE_THREADS), EVAE_THREADS, 0,
                             c->stream>>>(out, partial, count, parts, beta);
    CUDA_CHECK_LAUNCH();
}

/* How many slices to cut a reduction of `work` items into when its outputs already spread over
 * `tiles` blocks: about two blocks per SM in all, each slice at least `min_len` items long.
 * Never more than 2 * sm_count, well inside gridDim.y's limit of 65535. */
static int slice_count(const cuda_context *c, long long work, int tiles, long long min_len)
{
    long long want = (2LL * c->sm_count + tiles - 1) / tiles;
    long long most = (work + min_len - 1) / min_len;
    if (want > most) want = most;
    return want < 1 ? 1 : (int)want;
}

enum { COL_TILE = 32, COL_ROWS = 8 };

/* Block (COL_TILE, COL_ROWS) sums columns [COL_TILE * blockIdx.x, +COL_TILE) over rows
 * [blockIdx.y * rows_per, +rows_per) of x[rows, cols]: threads of a warp read adjacent columns
 * (coalesced), the COL_ROWS warps interleave rows, then shared memory adds the warps' sums.
 * direct: dst is out[cols] (one slice, beta applied); otherwise dst is partial[slices, cols]. */
static __global__ void col_sum_kernel(const float *x, int rows, int cols, int rows_per, float *dst,
                                      float beta, int direct)
{
    __shared__ float acc[COL_ROWS][COL_TILE + 1];
    int c = blockIdx.x * COL_TILE + threadIdx.x;
    int r0 = blockIdx.y * rows_per;
    int r1 = min(rows, r0 + rows_per);
    float s = 0.0f;
    if (c < cols)
        for (int r = r0 + threadIdx.y; r < r1; r += COL_ROWS) s += x[(size_t)r * cols + c];
    acc[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float t = 0.0f;
        for (int k = 0; k < COL_ROWS; k++) t += acc[k][threadIdx.x];
        if (direct)
            dst[c] = (beta == 0.0f ? 0.0f : beta * dst[c]) + t;
        else
            dst[(size_t)blockIdx.y * cols + c] = t;
    }
}

/* Row slices for col_sum over x[rows, cols]: (slices, rows_per) with slices * rows_per >= rows. */
static void col_sum_plan(const cuda_context *c, int rows, int cols, int *slices, int *rows_per)
{
    int tiles = (cols + COL_TILE - 1) / COL_TILE;
    int s = slice_count(c, rows > 0 ? rows : 0, tiles, 64);
    int per = rows > 0 ? (rows + s - 1) / s : 1;
    *rows_per = per;
    *slices = rows > 0 ? (rows + per - 1) / per : 1;
}

size_t col_sum_workspace_floats(cuda_context *c, int rows, int cols)
{
    if (cols <= 0) return 0;
    int slices, rows_per;
    col_sum_plan(c, rows, cols, &slices, &rows_per);
    return slices > 1 ? (size_t)slices * cols : 0;
}

void col_sum_launch(cuda_context *c, float *out, const float *x, int rows, int cols, float beta,
                    float *ws)
{
    if (cols <= 0) return;
    if (rows < 0) rows = 0;
    int slices, rows_per;
    col_sum_plan(c, rows, cols, &slices, &rows_per);
    dim3 block(COL_TILE, COL_ROWS), grid((cols + COL_TILE - 1) / COL_TILE, slices);
    if (slices == 1) {
        col_sum_kernel<<<grid, block, 0, c->stream>>>(x, rows, cols, rows_per, out, beta, 1);
        CUDA_CHECK_LAUNCH();
        return;
    }
    col_sum_kernel<<<grid, block, 0, c->stream>>>(x, rows, cols, rows_per, ws, 0.0f, 0);
    CUDA_CHECK_LAUNCH();
    finish_partials(c, out, ws, cols, slices, beta);
}

void cuda_col_sum(const evae_backend *be, float *out, const float *x, int rows, int cols,
                  float beta)
{
    cuda_need_count("col_sum", "rows", rows);
    cuda_need_count("col_sum", "cols", cols);
    if (cols == 0) return;
    cuda_need_buf("col_sum", "out", out, true);
    cuda_need_buf("col_sum", "x", x, rows > 0);
    cuda_context *c = cuda_of(be);
    size_t ws = col_sum_workspace_floats(c, rows, cols);
    float *partials = ws ? (float *)cuda_scratch(c, ws * sizeof(float)) : NULL; /* [ws] */
    col_sum_launch(c, out, x, rows, cols, beta, partials);
}

/* Block (c = blockIdx.x, slice = blockIdx.y) sums channel c of x[N, C, HW] over the flat items
 * t = n * HW + hw in [slice * per, +per). */
static __global__ void channel_sum_kernel(const float *x, int N, int C, int HW, long long per,
                                          float *dst, float beta, int direct)
{
    int c = blockIdx.x;
    long long total = (long long)N * HW;
    long long t0 = blockIdx.y * per;
    long long t1 = t0 + per < total ? t0 + per : total;
    float s = 0.0f;
    for (long long t = t0 + threadIdx.x; t < t1; t += blockDim.x) {
        long long n = t / HW, hw = t - n * HW;
        s += x[((size_t)n * C + c) * HW + hw];
    }
    s = block_sum(s);
    if (threadIdx.x == 0) {
        if (direct)
            dst[c] = (beta == 0.0f ? 0.0f : beta * dst[c]) + s;
        else
            dst[(size_t)blockIdx.y * C + c] = s;
    }
}

static void channel_sum_launch(cuda_context *c, float *out, const float *x, int N, int C, int HW,
                               float beta)
{
    long long total = N > 0 && HW > 0 ? (long long)N * HW : 0;
    int slices = slice_count(c, total, C, 4096);
    long long per = (total + slices - 1) / slices;
    if (per < 1) per = 1;
    slices = total > 0 ? (int)((total + per - 1) / per) : 1;
    dim3 grid(C, slices);
    if (slices == 1) {
        channel_sum_kernel<<<grid, EVAE_THREADS, 0, c->stream>>>(x, N, C, HW, per, out, beta, 1);
        CUDA_CHECK_LAUNCH();
        return;
    }
    float *partial = (float *)cuda_scratch(c, (size_t)slices * C * sizeof(float));
    channel_sum_kernel<<<grid, EVAE_THREADS, 0, c->stream>>>(x, N, C, HW, per, partial, 0.0f, 0);
    CUDA_CHECK_LAUNCH();
    finish_partials(c, out, partial, C, slices, beta);
}

void cuda_channel_sum(const evae_backend *be, float *out, const float *x, int N, int C, int HW,
                      float beta)
{
    cuda_need_count("channel_sum", "N", N);
    cuda_need_count("channel_sum", "C", C);
    cuda_need_count("channel_sum", "HW", HW);
    if (C == 0) return;
    cuda_need_buf("channel_sum", "out", out, true);
    cuda_need_buf("channel_sum", "x", x, N > 0 && HW > 0);
    channel_sum_launch(cuda_of(be), out, x, N, C, HW, beta);
}

/* partials[blockIdx.x] = sum of this block's grid-stride share of x[n], in double */
static __global__ void sum_partials_kernel(const float *x, size_t n, double *partials)
{
    double s = 0.0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        s += (double)x[i];
    s = block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

/* one block of EVAE_SUM_MAX_BLOCKS threads: *result = sum of partials[count] */
static __global__ void sum_finish_kernel(const double *partials, int count, double *result)
{
    double s = (int)threadIdx.x < count ? partials[threadIdx.x] : 0.0;
    s = block_sum(s);
    if (threadIdx.x == 0) *result = s;
}

/* the sum of x[n] (n > 0) into c->sum_host, waited for */
static double sum_launch(cuda_context *c, const float *x, size_t n)
{
    unsigned blocks = cuda_grid_for(c, n, EVAE_THREADS);
    if (blocks > EVAE_SUM_MAX_BLOCKS) blocks = EVAE_SUM_MAX_BLOCKS;
    sum_partials_kernel<<<blocks, EVAE_THREADS, 0, c->stream>>>(x, n, c->sum_partials);
    CUDA_CHECK_LAUNCH();
    sum_finish_kernel<<<1, EVAE_SUM_MAX_BLOCKS, 0, c->stream>>>(
        c->sum_partials, (int)blocks, c->sum_result);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaMemcpyAsync(c->sum_host, c->sum_result, sizeof(double), cudaMemcpyDeviceToHost,
                               c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    return *c->sum_host;
}

double cuda_sum(const evae_backend *be, const float *x, size_t n)
{
    if (n == 0) return 0.0;
    cuda_need_buf("sum", "x", x, true);
    return sum_launch(cuda_of(be), x, n);
}

/* ---- accumulate_diff: acc[n] += (double)a[n] - (double)b[n] ---- */

/* the CPU's expression element by element: the same double roundings, so the same bits */
static __global__ void accumulate_diff_kernel(double *acc, const float *a, const float *b, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        acc[i] += (double)a[i] - (double)b[i];
}

static void accumulate_diff_launch(cuda_context *c, double *acc, const float *a, const float *b,
                                   size_t n)
{
    accumulate_diff_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(
        acc, a, b, n);
    CUDA_CHECK_LAUNCH();
}

void cuda_accumulate_diff(const evae_backend *be, double *acc, const float *a, const float *b,
                          size_t n)
{
    if (n == 0) return;
    cuda_need_buf("accumulate_diff", "acc", acc, true);
    cuda_need_buf("accumulate_diff", "a", a, true);
    cuda_need_buf("accumulate_diff", "b", b, true);
    accumulate_diff_launch(cuda_of(be), acc, a, b, n);
}
