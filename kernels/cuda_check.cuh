/* Checking macros for every CUDA runtime, cuBLAS and cuDNN call. A failure here is a
 * programming or device error (bad launch, out of device memory, driver fault), never bad user
 * input, so the macros print the call, the file and the line to stderr and abort. */
#ifndef EVAE_CUDA_CHECK_CUH
#define EVAE_CUDA_CHECK_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

[[noreturn]] static inline void evae_cuda_die(const char *lib, const char *what, const char *call,
                                              const char *file, int line)
{
    fprintf(stderr, "evae: %s error %s in %s at %s:%d\n", lib, what, call, file, line);
    fflush(stderr);
    abort();
}

#define CUDA_CHECK(call)                                                                  \
    do {                                                                                  \
        cudaError_t err_ = (call);                                                        \
        if (err_ != cudaSuccess)                                                          \
            evae_cuda_die("CUDA", cudaGetErrorString(err_), #call, __FILE__, __LINE__);   \
    } while (0)

#define CUBLAS_CHECK(call)                                                                \
    do {                                                                                  \
        cublasStatus_t st_ = (call);                                                      \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                 \
            evae_cuda_die("cuBLAS", cublasGetStatusString(st_), #call, __FILE__,          \
                          __LINE__);                                                      \
    } while (0)

/* cuDNN's checker lives in conv.cu, the only file that includes cudnn.h. */

/* After every kernel launch (and cuBLAS/cuDNN call): a bad configuration shows up in
 * cudaGetLastError at once; a fault inside the kernel shows up only at the next synchronization,
 * so Debug builds (EVAE_CUDA_DEBUG_SYNC) synchronize here to blame the launch that caused it. */
#ifdef EVAE_CUDA_DEBUG_SYNC
#define CUDA_CHECK_LAUNCH()                                                               \
    do {                                                                                  \
        CUDA_CHECK(cudaGetLastError());                                                   \
        CUDA_CHECK(cudaDeviceSynchronize());                                              \
    } while (0)
#else
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
#endif

#endif
