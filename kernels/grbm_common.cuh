/* What the GRBM kernels share: the parameter views, W staged in shared memory, and the choice
 * between the two paths every GRBM op has.
 *
 * Path choice. The fused path keeps W (and for score matching also its gradient) in one block's
 * shared memory and runs each example (or chain) start to end inside one block: one launch, W
 * read from global memory once per block. It is taken when the op's shared-memory layout fits the
 * card's per-block opt-in limit (MNIST's 64 x 128 GRBM: W is 33 KB padded, score matching needs
 * ~74 KB; sm_80 allows 163 KB, sm_86/89 99 KB, sm_90 227 KB). The CIFAR-10 GRBM (512 x 128,
 * 256 KB of W) does not fit any single block, and the general path is then:
 *  - energy and score matching: cuBLAS for the [B,d] x [d,n] products (B = 1024 examples make
 *    them ordinary well-shaped GEMMs that cuBLAS runs near peak) plus fused elementwise/row
 *    kernels for everything between them;
 *  - Langevin and Gibbs chains: the same step loop as the fused path inside one launch, but W read
 *    through L2 (256 KB stays resident in the 40-50 MB L2) by blocks that own several chains
 *    each, so every W element loaded serves all of a block's chains, and a transposed copy of W
 *    so that both products read memory coalesced.
 * Tiling W through shared memory per block would re-implement a GEMM less well than cuBLAS, and
 * thread-block-cluster distributed shared memory exists only on sm_90 while the build targets
 * sm_80..90, so neither is used.
 *
 * Shared-memory W has an odd row stride ldw: the hidden-unit pass (threads over j, loop over i)
 * reads a row of W with consecutive addresses and the visible pass (threads over i, loop over j)
 * reads a column with stride ldw; an odd stride puts the 32 lanes in 32 different banks. */
#ifndef EVAE_GRBM_COMMON_CUH
#define EVAE_GRBM_COMMON_CUH

#include <stddef.h>

#include "cuda_context.cuh"
#include "evae/math/grbm.h"
#include "evae/math/grbm_math.h"

/* theta [grbm_size(d, n)] = [mu (d) | log_sigma (d) | W (d x n) | b (n)] */
struct grbm_view {
    const float *mu, *log_sigma, *W, *b;
};

static inline grbm_view grbm_split(const float *theta, int d, int n)
{
    grbm_view g;
    g.mu = theta + evae_grbm_mu(d, n);
    g.log_sigma = theta + evae_grbm_log_sigma(d, n);
    g.W = theta + evae_grbm_W(d, n);
    g.b = theta + evae_grbm_b(d, n);
    return g;
}

/* odd row stride of W in shared memory */
static inline __host__ __device__ int grbm_ldw(int n) { return n | 1; }

enum { GRBM_THREADS = 128 };

/* Ws[d, ldw] <- W[d, n], the whole block cooperating (caller synchronizes afterwards). */
__device__ inline void grbm_load_W(float *Ws, const float *W, int d, int n, int ldw)
{
    for (int k = threadIdx.x; k < d * n; k += blockDim.x) {
        int i = k / n, j = k - i * n;
        Ws[i * ldw + j] = W[k];
    }
}

/* True when a fused kernel needing `bytes` of dynamic shared memory may run: it fits the card's
 * opt-in limit with 1 KB left for the kernels' static shared memory (block sums), and the general
 * path is not forced (evae_cuda_set_grbm_general, EVAE_GRBM_GENERAL). */
static inline bool grbm_fused_fits(cuda_context *c, size_t bytes)
{
    return !c->force_general && bytes + 1024 <= c->smem_optin;
}

/* Opt a kernel in to more than the default 48 KB of shared memory. The default limit covers
 * static and dynamic shared memory together, so the 1 KB kept for the static part (see
 * grbm_fused_fits) counts here too: a layout just under 48 KB plus the block sums' arrays is
 * over it. */
template <typename Kernel> static void grbm_allow_smem(Kernel kernel, size_t bytes)
{
    if (bytes + 1024 > 48 * 1024)
        CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)bytes));
}

/* Blocks that can be resident at once on the whole device for this kernel and launch shape. */
template <typename Kernel>
static int grbm_resident_blocks(cuda_context *c, Kernel kernel, int threads, size_t bytes)
{
    int per_sm = 0;
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, bytes));
    if (per_sm < 1) per_sm = 1;
    return per_sm * c->sm_count;
}

/* The context's scratch (cuda_scratch: valid until its next call) carved into count float
 * buffers, bufs[k] of sizes[k] floats, each 256-byte aligned. */
static inline void grbm_carve_scratch(cuda_context *c, const size_t *sizes, size_t count,
                                      float **bufs)
{
    size_t total = 0;
    for (size_t k = 0; k < count; k++) total += cuda_align(sizes[k] * sizeof(float));
    char *base = (char *)cuda_scratch(c, total);
    for (size_t k = 0, off = 0; k < count; k++) {
        bufs[k] = (float *)(base + off);
        off += cuda_align(sizes[k] * sizeof(float));
    }
}

/* The tests' cap on a GRBM launch's blocks (evae_cuda_set_grbm_grid_cap; 0: none), so that the
 * loops over examples, chains and elements take several trips per block at test sizes, as they
 * do in training (B = 512), AIS (1,000 chains) and evaluation (5,000 rows) on a large card. */
static inline unsigned grbm_capped(const cuda_context *c, unsigned blocks)
{
    return c->grbm_grid_cap > 0 && blocks > (unsigned)c->grbm_grid_cap ? (unsigned)c->grbm_grid_cap
                                                                        : blocks;
}

/* Blocks of the kernel that loops over an op's `items` examples (or chain groups) with stride
 * gridDim.x: at most `limit` (resident blocks, or the row-kernel cap), the items and the tests'
 * cap, at least 1. Records the launch for evae_cuda_grbm_last_launch. */
static inline int grbm_item_blocks(cuda_context *c, int limit, int items, bool shared)
{
    int blocks = limit < items ? limit : items;
    blocks = (int)grbm_capped(c, blocks < 1 ? 1u : (unsigned)blocks);
    c->grbm_last_shared = shared;
    c->grbm_last_blocks = blocks;
    c->grbm_last_trips = (items + blocks - 1) / blocks;
    return blocks;
}

/* Blocks of a GRBM grid-stride kernel over n elements (cuda_grid_for under the tests' cap) */
static inline unsigned grbm_grid_for(const cuda_context *c, size_t n)
{
    return grbm_capped(c, cuda_grid_for(c, n, EVAE_THREADS));
}

/* x[rows,d] = D z (rows scaled by the precisions), grbm_energy.cu; no argument checks */
void grbm_scale_rows_launch(cuda_context *c, float *x, const float *z, const float *log_sigma,
                            size_t rows, int d);

/* The entry checks every GRBM op shares: d >= 1 visible and n >= 1 hidden units (the kernels'
 * layouts assume a non-empty GRBM), B >= 0 examples or chains, theta present when used. */
static inline void grbm_check(const char *op, const float *theta, int d, int n, int B)
{
    if (d < 1 || n < 1) cuda_bad_arg(op, "a GRBM of d = %d, n = %d units: both must be >= 1", d, n);
    cuda_need_count(op, "B", B);
    cuda_need_buf(op, "theta", theta, B > 0);
}

/* Shared-memory bytes of the fused score-matching kernel (the largest fused layout), defined in
 * grbm_ssm.cu; the samplers' and the energy's layouts are smaller. */
size_t grbm_ssm_fused_bytes(int d, int n);

#endif
