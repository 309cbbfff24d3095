/* The CPU backend's thread count and the parallel random fills (cpu_parallel.h). */
#include "backend/cpu/cpu_parallel.h"

#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "evae/math/philox.h"

static void threads_init_once(void)
{
    /* OpenBLAS reads OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS, else counts the cores: that is
     * evae's thread count, unless OMP_NUM_THREADS says otherwise */
    if (!getenv("OMP_NUM_THREADS")) omp_set_num_threads(openblas_get_num_threads());
    openblas_set_num_threads(1); /* the products are split across OpenMP's threads (cpu_gemm) */
}

void cpu_threads_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, threads_init_once);
}

void cpu_threads_text(char *out, size_t cap)
{
    const char *policy = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    char wait[64];
    if (policy && policy[0])
        snprintf(wait, sizeof wait, "%s waits", policy);
    else if (spin && spin[0])
        snprintf(wait, sizeof wait, "GOMP_SPINCOUNT=%s", spin);
    else
        snprintf(wait, sizeof wait, "libgomp's default waits");
    snprintf(out, cap, "%d (OpenMP, %s; products split across them, OpenBLAS on %d each)",
             omp_get_max_threads(), wait, openblas_get_num_threads());
}

/* chunks of a multiple of 4 elements from an index that is a multiple of 4: each chunk starts
 * on a Philox block, so no block is split between threads (which would only cost time) */
#define FILL_CHUNK ((size_t)16384)

typedef void (*fill_fn)(float *, size_t, uint64_t, uint64_t, uint64_t);

static void fill_parallel(fill_fn fill, float *out, size_t count, uint64_t seed, uint64_t stream,
                          uint64_t start)
{
    if (!cpu_par_worth(count)) {
        fill(out, count, seed, stream, start);
        return;
    }
    /* the head up to the next block boundary, then whole chunks */
    size_t head = (size_t)((4 - (start & 3)) & 3);
    if (head > count) head = count;
    fill(out, head, seed, stream, start);
    const size_t rest = count - head, chunks = (rest + FILL_CHUNK - 1) / FILL_CHUNK;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < chunks; c++) {
        size_t k = head + c * FILL_CHUNK, len = count - k < FILL_CHUNK ? count - k : FILL_CHUNK;
        fill(out + k, len, seed, stream, start + k);
    }
}

void cpu_fill_uniform(float *out, size_t count, uint64_t seed, uint64_t stream, uint64_t start)
{
    fill_parallel(evae_fill_uniform, out, count, seed, stream, start);
}

void cpu_fill_normal(float *out, size_t count, uint64_t seed, uint64_t stream, uint64_t start)
{
    fill_parallel(evae_fill_normal, out, count, seed, stream, start);
}
