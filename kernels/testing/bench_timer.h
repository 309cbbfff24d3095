/* Device-side timing for the benchmarks (bench/): CUDA events recorded on the backend's stream,
 * so a measured interval covers exactly the work queued between start and stop, plus the facts of
 * the card the benchmarks need to size their inputs. A C API so the benchmarks stay plain C; present
 * only when the project is built with CUDA (EVAE_HAVE_CUDA). */
#ifndef EVAE_BENCH_TIMER_H
#define EVAE_BENCH_TIMER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "evae/backend/backend.h"

typedef struct evae_bench_timer evae_bench_timer;

/* A pair of events on the stream of the CUDA backend be; NULL (with a message) when they cannot
 * be created. */
evae_bench_timer *evae_bench_timer_create(const evae_backend *be);
void evae_bench_timer_destroy(evae_bench_timer *t);
/* Records the start / stop event on the backend's stream. */
void evae_bench_timer_start(evae_bench_timer *t);
void evae_bench_timer_stop(evae_bench_timer *t);
/* Waits for the stop event and returns the interval in seconds. */
double evae_bench_timer_seconds(evae_bench_timer *t);

typedef struct evae_bench_gpu_info {
    char name[256];        /* e.g. "NVIDIA H100 80GB HBM3" */
    size_t l2_bytes;       /* L2 cache: the inputs of a benchmark are rotated through more */
    size_t global_bytes;   /* device memory */
    size_t free_bytes;     /* free now */
    int sm_count;
    int cc_major, cc_minor;
    double mem_clock_khz;  /* memory clock and bus width: the datasheet bandwidth, for reference */
    int bus_width_bits;
} evae_bench_gpu_info;

/* Facts of the CUDA backend be's device; non-zero with a message on failure. */
int evae_bench_gpu_info_get(const evae_backend *be, evae_bench_gpu_info *info);

#ifdef __cplusplus
}
#endif

#endif
