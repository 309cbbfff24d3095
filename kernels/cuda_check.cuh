/* Checking macros for every CUDA runtime, cuBLAS, cuRAND and cuDNN call. A failure here is a
 * programming or device error (bad launch, out of device memory, driver fault), never bad user
 * input, so the macros print the call, the file and the line to stderr and abort. */
#ifndef EVAE_CUDA_CHECK_CUH
#define EVAE_CUDA_CHECK_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <curand.h>
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

static inline const char *evae_cublas_status_name(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
    }
}

#define CUBLAS_CHECK(call)                                                                \
    do {                                                                                  \
        cublasStatus_t st_ = (call);                                                      \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                 \
            evae_cuda_die("cuBLAS", evae_cublas_status_name(st_), #call, __FILE__,         \
                          __LINE__);                                                      \
    } while (0)

#define CURAND_CHECK(call)                                                                \
    do {                                                                                  \
        curandStatus_t st_ = (call);                                                      \
        if (st_ != CURAND_STATUS_SUCCESS) {                                               \
            char what_[32];                                                               \
            snprintf(what_, sizeof what_, "status %d", (int)st_);                          \
            evae_cuda_die("cuRAND", what_, #call, __FILE__, __LINE__);                    \
        }                                                                                 \
    } while (0)

/* cuDNN's checker lives in conv_cudnn.cu, the only file that includes cudnn.h. */

/* After every kernel launch (and cuBLAS/cuDNN call): a bad configuration shows up in cudaGetLastError at once; a fault
 * inside the kernel shows up only at the next synchronization, so Debug builds
 * (EVAE_CUDA_DEBUG_SYNC) synchronize here to blame the launch that caused it. */
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
