/* CUDA events on the backend's stream for the benchmarks (bench_timer.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_timer.h"
#include "cuda_context.cuh"

struct evae_bench_timer {
    cudaEvent_t start, stop;
    cudaStream_t stream; /* the backend's */
};

extern "C" evae_bench_timer *evae_bench_timer_create(const evae_backend *be)
{
    evae_bench_timer *t = (evae_bench_timer *)calloc(1, sizeof *t);
    if (!t) {
        fprintf(stderr, "evae: out of host memory creating a benchmark timer\n");
        return NULL;
    }
    CUDA_CHECK(cudaEventCreate(&t->start));
    CUDA_CHECK(cudaEventCreate(&t->stop));
    t->stream = cuda_of(be)->stream;
    return t;
}

extern "C" void evae_bench_timer_destroy(evae_bench_timer *t)
{
    if (!t) return;
    CUDA_CHECK(cudaEventDestroy(t->start));
    CUDA_CHECK(cudaEventDestroy(t->stop));
    free(t);
}

extern "C" void evae_bench_timer_start(evae_bench_timer *t)
{
    CUDA_CHECK(cudaEventRecord(t->start, t->stream));
}

extern "C" void evae_bench_timer_stop(evae_bench_timer *t)
{
    CUDA_CHECK(cudaEventRecord(t->stop, t->stream));
}

extern "C" double evae_bench_timer_seconds(evae_bench_timer *t)
{
    float ms = 0.0f;
    CUDA_CHECK(cudaEventSynchronize(t->stop));
    CUDA_CHECK(cudaEventElapsedTime(&ms, t->start, t->stop));
    return 1e-3 * (double)ms;
}

extern "C" int evae_bench_gpu_info_get(const evae_backend *be, evae_bench_gpu_info *info)
{
    memset(info, 0, sizeof *info);
    int dev = cuda_of(be)->device, v = 0;
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    snprintf(info->name, sizeof info->name, "%s", prop.name);
    info->global_bytes = prop.totalGlobalMem;
    info->sm_count = prop.multiProcessorCount;
    info->cc_major = prop.major;
    info->cc_minor = prop.minor;
    CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrL2CacheSize, dev));
    info->l2_bytes = (size_t)v;
    CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMemoryClockRate, dev));
    info->mem_clock_khz = (double)v;
    CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrGlobalMemoryBusWidth, dev));
    info->bus_width_bits = v;
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    info->free_bytes = free_b;
    return 0;
}
