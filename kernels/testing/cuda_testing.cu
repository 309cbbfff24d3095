/* The hooks of cuda_testing.h: switches in the backend's context, and the Philox cross-check
 * against cuRAND's device generator (the only use of cuRAND: its device API is header-only). */
#include <curand_kernel.h>

#include "cuda_ops.cuh"
#include "cuda_testing.h"
#include "evae/math/philox.h"
#include "grbm_common.cuh"

extern "C" const evae_backend *evae_cuda_table_for_checks(void)
{
    static evae_backend table;
    cuda_fill_table(&table, NULL);
    return &table;
}

extern "C" void evae_cuda_set_conv_deterministic(const evae_backend *be, int on)
{
    /* plans are kept per setting: each is chosen on its first use under it */
    cuda_of(be)->conv_deterministic = on != 0;
}

extern "C" void evae_cuda_set_grbm_general(const evae_backend *be, int on)
{
    cuda_of(be)->force_general = on != 0;
}

extern "C" void evae_cuda_set_grbm_grid_cap(const evae_backend *be, int blocks)
{
    cuda_of(be)->grbm_grid_cap = blocks > 0 ? blocks : 0;
}

extern "C" evae_cuda_grbm_launch evae_cuda_grbm_last_launch(const evae_backend *be)
{
    const cuda_context *c = cuda_of(be);
    evae_cuda_grbm_launch r = {c->grbm_last_shared, c->grbm_last_blocks, c->grbm_last_trips};
    return r;
}

extern "C" int evae_cuda_grbm_uses_shared(const evae_backend *be, int d, int n)
{
    return grbm_fused_fits(cuda_of(be), grbm_ssm_fused_bytes(d, n)) ? 1 : 0;
}

/* For each block b < blocks: the four words of curand4 after curand_init(seed, stream, 4b), and
 * one word through the scalar curand() at offset 4b + (b mod 4) (which exercises cuRAND's
 * position within a block), against evae_philox_block. */
static __global__ void philox_compare_kernel(uint64_t seed, uint64_t stream, size_t blocks,
                                             unsigned long long *mismatches)
{
    for (size_t b = blockIdx.x * (size_t)blockDim.x + threadIdx.x; b < blocks;
         b += (size_t)gridDim.x * blockDim.x) {
        evae_u32x4 want = evae_philox_block(seed, stream, b);
        curandStatePhilox4_32_10_t st;
        curand_init(seed, stream, 4 * (unsigned long long)b, &st);
        uint4 got = curand4(&st);
        unsigned bad = (got.x != want.v[0]) + (got.y != want.v[1]) + (got.z != want.v[2]) +
                       (got.w != want.v[3]);
        unsigned lane = (unsigned)(b & 3);
        curand_init(seed, stream, 4 * (unsigned long long)b + lane, &st);
        bad += curand(&st) != want.v[lane];
        if (bad) atomicAdd(mismatches, (unsigned long long)bad);
    }
}

extern "C" long evae_cuda_philox_mismatches(const evae_backend *be, uint64_t seed, uint64_t stream,
                                            size_t blocks)
{
    cuda_context *c = cuda_of(be);
    unsigned long long *count = (unsigned long long *)cuda_alloc_bytes(c, sizeof *count, 1);
    if (blocks > 0) {
        philox_compare_kernel<<<cuda_grid_for(c, blocks, EVAE_THREADS), EVAE_THREADS, 0,
                                c->stream>>>(seed, stream, blocks, count);
        CUDA_CHECK_LAUNCH();
    }
    unsigned long long host = 0;
    CUDA_CHECK(cudaMemcpyAsync(&host, count, sizeof host, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    cuda_free_bytes(c, count);
    return (long)host;
}
