/* How the CPU backend's loops run on several cores (OpenMP). Every parallel loop splits work that
 * is independent per element, per row or per column, and every sum keeps the order it has on one
 * thread (a row's or a column's terms are added by one thread, in index order), so that results
 * are bit for bit the same for any thread count (tests/test_threads.c). The matrix products too:
 * OpenBLAS runs single-threaded, and cpu_gemm gives each OpenMP thread its own rows or columns
 * of C, which one OpenBLAS call computes as it would in a call over the whole product.
 *
 * The thread count: OMP_NUM_THREADS when set, else OPENBLAS_NUM_THREADS, else all cores. One
 * pool of threads (libgomp's) does all the work, so nothing oversubscribes the cores. */
#ifndef EVAE_CPU_PARALLEL_H
#define EVAE_CPU_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

/* Loops over fewer elements than this stay on the calling thread: waking the team and the
 * closing barrier cost a few microseconds, the time of about 10^4 simple element operations. */
#define CPU_PAR_MIN ((size_t)32768)

/* nonzero: a loop over `work` elements is worth a parallel region */
static inline int cpu_par_worth(size_t work) { return work >= CPU_PAR_MIN; }

/* Sets OpenMP's thread count from OpenBLAS's unless OMP_NUM_THREADS is set, then OpenBLAS's to 1;
 * once per process (evae_cpu_backend() calls it). */
void cpu_threads_init(void);

/* the thread counts, for manifests: "2 (OpenMP; products split across them, OpenBLAS on 1 each)" */
void cpu_threads_text(char *out, size_t cap);

/* evae_fill_uniform / evae_fill_normal (evae/math/philox.h) over count elements from index
 * start, split across threads at Philox-block boundaries: element k is the draw at start + k
 * whatever the split. */
void cpu_fill_uniform(float *out, size_t count, uint64_t seed, uint64_t stream, uint64_t start);
void cpu_fill_normal(float *out, size_t count, uint64_t seed, uint64_t stream, uint64_t start);

#endif
