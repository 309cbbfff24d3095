/* Random fills on the CPU (the twin of kernels/random.cu): element k of a fill from `start` is
 * evae/math/philox.h's draw at index start + k, the same function the CUDA kernels evaluate, on
 * as many threads as cpu_parallel.h gives. */
#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_parallel.h"

void cpu_rand_uniform(const evae_backend *be, float *out, size_t n, uint64_t seed, uint64_t stream,
                      uint64_t start)
{
    cpu_fill_uniform(out, n, seed, stream, start);
}

void cpu_rand_normal(const evae_backend *be, float *out, size_t n, uint64_t seed, uint64_t stream,
                     uint64_t start)
{
    cpu_fill_normal(out, n, seed, stream, start);
}

void cpu_rand_rademacher(const evae_backend *be, float *out, size_t n, uint64_t seed,
                         uint64_t stream, uint64_t start)
{
    cpu_fill_uniform(out, n, seed, stream, start);
#pragma omp parallel for schedule(static) if (cpu_par_worth(n))
    for (size_t i = 0; i < n; i++) out[i] = out[i] < 0.5f ? 1.0f : -1.0f;
}
