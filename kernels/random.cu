/* Random fills. Element i of (seed, stream) comes from evae/math/philox.h, the very functions the CPU
 * backend calls, so the CUDA buffers equal the CPU ones: uniforms bit for bit (24 random bits
 * scaled by a power of two are exact in float), normals within a few ulp (Box-Muller through the
 * device's logf/sinf/cosf, which differ from libm's by at most 2 ulp).
 *
 * The generator is Philox4x32-10, the same one as cuRAND's CURAND_RNG_PSEUDO_PHILOX4_32_10:
 * evae_philox_block(seed, stream, b) are the four words cuRAND's device API yields after
 * curand_init(seed, stream, 4 * b). evae_cuda_philox_mismatches checks this on the device. The
 * backend does not call cuRAND's bulk generators (curandGenerateNormal) for these fills: their
 * output order and their normal transform are cuRAND's, not evae's, so CPU and CUDA runs would
 * draw different noise. */
#include <curand_kernel.h>

#include "cuda_context.cuh"
#include "cuda_extras.h"
#include "cuda_ops.cuh"
#include "evae/math/philox.h"

/* out[n]: one element per thread of a grid-stride loop; each element computes its Philox block
 * (four words) and keeps one, which costs ~100 integer instructions: the fill stays bound by the
 * store bandwidth on current cards for the sizes the trainer draws. */
__global__ void rand_uniform_kernel(float *out, size_t n, uint64_t seed, uint64_t stream)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = evae_uniform_at(seed, stream, i);
}

__global__ void rand_normal_kernel(float *out, size_t n, uint64_t seed, uint64_t stream)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = evae_normal_at(seed, stream, i);
}

/* +1 where uniform i of the stream is below 1/2, -1 otherwise (as the CPU backend) */
__global__ void rand_rademacher_kernel(float *out, size_t n, uint64_t seed, uint64_t stream)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = evae_uniform_at(seed, stream, i) < 0.5f ? 1.0f : -1.0f;
}

void cuda_rand_uniform(const evae_backend *be, float *out, size_t n, uint64_t seed, uint64_t stream)
{
    cuda_context *c = cuda_of(be);
    if (n == 0) return;
    rand_uniform_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(
        out, n, seed, stream);
    CUDA_CHECK_LAUNCH();
}

void cuda_rand_normal(const evae_backend *be, float *out, size_t n, uint64_t seed, uint64_t stream)
{
    cuda_context *c = cuda_of(be);
    if (n == 0) return;
    rand_normal_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(
        out, n, seed, stream);
    CUDA_CHECK_LAUNCH();
}

/* For each block b < blocks: the four words of curand4 after curand_init(seed, stream, 4b), and
 * one word through the scalar curand() at offset 4b + (b mod 4) (which exercises cuRAND's
 * position within a block), against evae_philox_block. */
__global__ void philox_compare_kernel(uint64_t seed, uint64_t stream, size_t blocks,
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
    CUDA_CHECK(cudaMemcpyAsync(&host, count, sizeof host, cudaMemcpyDeviceToHost,
                               c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    cuda_free_bytes(c, count);
    return (long)host;
}

void cuda_rand_rademacher(const evae_backend *be, float *out, size_t n, uint64_t seed,
                          uint64_t stream)
{
    cuda_context *c = cuda_of(be);
    if (n == 0) return;
    rand_rademacher_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(
        out, n, seed, stream);
    CUDA_CHECK_LAUNCH();
}
