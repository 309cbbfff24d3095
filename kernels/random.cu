/* Random fills. Element i of (seed, stream) comes from evae/math/philox.h, the very functions the CPU
 * backend calls, so the CUDA buffers equal the CPU ones: uniforms bit for bit (24 random bits
 * scaled by a power of two are exact in float), normals within a few ulp (Box-Muller through the
 * device's logf/sinf/cosf, which differ from libm's by at most 2 ulp).
 *
 * The generator is Philox4x32-10, the same one as cuRAND's CURAND_RNG_PSEUDO_PHILOX4_32_10:
 * evae_philox_block(seed, stream, b) are the four words cuRAND's device API yields after
 * curand_init(seed, stream, 4 * b); a GPU test checks this on the device
 * (evae_cuda_philox_mismatches, kernels/testing/cuda_testing.cu). The
 * backend does not call cuRAND's bulk generators (curandGenerateNormal) for these fills: their
 * output order and their normal transform are cuRAND's, not evae's, so CPU and CUDA runs would
 * draw different noise. */
#include "cuda_context.cuh"
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

void cuda_rand_rademacher(const evae_backend *be, float *out, size_t n, uint64_t seed,
                          uint64_t stream)
{
    cuda_context *c = cuda_of(be);
    if (n == 0) return;
    rand_rademacher_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(
        out, n, seed, stream);
    CUDA_CHECK_LAUNCH();
}
