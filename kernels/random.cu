/* Random fills (the twin of src/backend/cpu/random.c). Element i of (seed, stream) comes from
 * evae/math/philox.h, the very functions the CPU backend calls, so the CUDA buffers equal the CPU
 * ones: uniforms bit for bit (24 random bits scaled by a power of two are exact in float),
 * normals within a few ulp (Box-Muller through the device's logf/sinf/cosf, which differ from
 * libm's by at most 2 ulp).
 *
 * The generator is Philox4x32-10, the same one as cuRAND's CURAND_RNG_PSEUDO_PHILOX4_32_10:
 * evae_philox_block(seed, stream, b) are the four words cuRAND's device API yields after
 * curand_init(seed, stream, 4 * b); a GPU test checks this on the device
 * (evae_cuda_philox_mismatches, kernels/testing/cuda_testing.cu). The backend does not call
 * cuRAND's bulk generators (curandGenerateNormal) for these fills: their output order and their
 * normal transform are cuRAND's, not evae's, so CPU and CUDA runs would draw different noise. */
#include "cuda_ops.cuh"
#include "evae/math/philox.h"

enum rand_kind { RAND_UNIFORM, RAND_NORMAL, RAND_RADEMACHER };

/* out[n] = draws start .. start + n - 1: one element per thread of a grid-stride loop; each element computes its Philox block
 * (four words) and keeps one, which costs ~100 integer instructions: the fill stays bound by the
 * store bandwidth on current cards for the sizes the trainer draws. Rademacher: +1 where uniform
 * i of the stream is below 1/2, -1 otherwise (as the CPU backend). */
template <rand_kind KIND>
static __global__ void rand_kernel(float *out, size_t n, uint64_t seed, uint64_t stream,
                                   uint64_t start)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        if (KIND == RAND_NORMAL)
            out[i] = evae_normal_at(seed, stream, start + i);
        else if (KIND == RAND_UNIFORM)
            out[i] = evae_uniform_at(seed, stream, start + i);
        else
            out[i] = evae_uniform_at(seed, stream, start + i) < 0.5f ? 1.0f : -1.0f;
    }
}

template <rand_kind KIND>
static void rand_launch(cuda_context *c, float *out, size_t n, uint64_t seed, uint64_t stream,
                        uint64_t start)
{
    rand_kernel<KIND><<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(
        out, n, seed, stream, start);
    CUDA_CHECK_LAUNCH();
}

/* the entries: check, then fill */
template <rand_kind KIND>
static void rand_fill(const evae_backend *be, const char *op, float *out, size_t n, uint64_t seed,
                      uint64_t stream, uint64_t start)
{
    if (n == 0) return;
    cuda_need_buf(op, "out", out, true);
    rand_launch<KIND>(cuda_of(be), out, n, seed, stream, start);
}

void cuda_rand_uniform(const evae_backend *be, float *out, size_t n, uint64_t seed, uint64_t stream,
                       uint64_t start)
{
    rand_fill<RAND_UNIFORM>(be, "rand_uniform", out, n, seed, stream, start);
}

void cuda_rand_normal(const evae_backend *be, float *out, size_t n, uint64_t seed, uint64_t stream,
                      uint64_t start)
{
    rand_fill<RAND_NORMAL>(be, "rand_normal", out, n, seed, stream, start);
}

void cuda_rand_rademacher(const evae_backend *be, float *out, size_t n, uint64_t seed,
                          uint64_t stream, uint64_t start)
{
    rand_fill<RAND_RADEMACHER>(be, "rand_rademacher", out, n, seed, stream, start);
}
