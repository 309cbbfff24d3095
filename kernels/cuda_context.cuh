/* The CUDA backend's state, reached through the backend table (be->ctx): one device, one stream,
 * one cuBLAS handle, the cuDNN handle and its chosen algorithms, and the scratch buffers the ops
 * share. Every op queues its work on the context's stream, so work is ordered without events and
 * a buffer handed from op to op is always ready when read. A context is meant for one host thread
 * (the trainer's); it is not thread-safe. */
#ifndef EVAE_CUDA_CONTEXT_CUH
#define EVAE_CUDA_CONTEXT_CUH

#include <stddef.h>
#include <stdint.h>

#include "cuda_check.cuh"

/* backend.h is a C header without linkage guards */
extern "C" {
#include "evae/backend/backend.h"
}

struct cuda_conv_cache; /* conv.cu: descriptors and algorithms per convolution shape */

struct cuda_context {
    int device;
    int sm_count;                 /* streaming multiprocessors, to size grid-stride launches */
    size_t smem_optin;            /* largest dynamic shared memory one block may opt in to */
    int pools;                    /* stream-ordered allocator (cudaMallocAsync) available */
    cudaStream_t stream;
    cublasHandle_t cublas;
    double *sum_partials;         /* [EVAE_SUM_MAX_BLOCKS] per-block partial sums of sum() */
    double *sum_result;           /* [1] device result of sum() */
    double *sum_host;             /* [1] pinned host copy of the result */
    void *scratch;                /* shared temporary buffer of scratch_bytes, see cuda_scratch */
    size_t scratch_bytes;
    int force_general;            /* GRBM ops: always take the general (cuBLAS) path */
    int grbm_grid_cap;            /* GRBM ops: at most this many blocks a launch (tests; 0: none) */
    int grbm_last_shared;         /* the last GRBM op's path (1: W in shared memory), its blocks, */
    int grbm_last_blocks;         /* and the trips of its loop over examples or chain groups in */
    int grbm_last_trips;          /* the busiest block (the tests' hook reads them) */
    int conv_deterministic;       /* cuDNN: only deterministic algorithms (the default) */
    cuda_conv_cache *conv;        /* made on the first convolution */
    char describe_text[512];      /* describe()'s answer */
};

static inline cuda_context *cuda_of(const evae_backend *be) { return (cuda_context *)be->ctx; }

enum { EVAE_SUM_MAX_BLOCKS = 1024, EVAE_THREADS = 256 };

/* Device allocation on the stream (zero-filled when zero != 0); aborts when out of memory. */
void *cuda_alloc_bytes(cuda_context *c, size_t bytes, int zero);
void cuda_free_bytes(cuda_context *c, void *p);

/* A temporary device buffer of at least `bytes`, valid until the next cuda_scratch call. Safe
 * to reuse from op to op because all work is ordered on one stream; an op takes one scratch
 * buffer and carves it up, it never calls cuda_scratch twice. */
void *cuda_scratch(cuda_context *c, size_t bytes);

/* Blocks for a grid-stride loop over n items: enough to fill the device, never more than the
 * items need (at least 1 so a launch with n = 0 is still valid). */
static inline unsigned cuda_grid_for(const cuda_context *c, size_t n, int threads)
{
    size_t want = (n + (size_t)threads - 1) / (size_t)threads;
    size_t cap = (size_t)c->sm_count * 16;
    if (want > cap) want = cap;
    if (want < 1) want = 1;
    return (unsigned)want;
}

/* Blocks for a kernel that gives each of `rows` rows one block and strides by gridDim.x. */
static inline unsigned cuda_row_blocks(const cuda_context *c, int rows)
{
    unsigned cap = (unsigned)c->sm_count * 16;
    if (cap < 1) cap = 1;
    return rows < 1 ? 1u : ((unsigned)rows < cap ? (unsigned)rows : cap);
}

/* Round a byte count up so the next carved piece of scratch stays 256-byte aligned. */
static inline size_t cuda_align(size_t bytes) { return (bytes + 255) & ~(size_t)255; }

/* ---- entry checks ----
 * Every public cuda_* entry (cuda_ops.cuh) checks its arguments before it queues work: a size its
 * kernels cannot take or a missing buffer is a programming error of the caller, reported with
 * the op's name and aborted on like a failed CUDA call, instead of a fault inside a kernel. */
[[noreturn]] void cuda_bad_arg(const char *op, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* v >= 0 */
static inline void cuda_need_count(const char *op, const char *name, long long v)
{
    if (v < 0) cuda_bad_arg(op, "%s = %lld is negative", name, v);
}

/* p != NULL when the op will touch the buffer */
static inline void cuda_need_buf(const char *op, const char *name, const void *p, bool used)
{
    if (used && !p) cuda_bad_arg(op, "%s is NULL", name);
}

/* EVAE_ALLOW_TF32=1: cuBLAS and cuDNN may use TF32 tensor cores (default: exact FP32). */
int cuda_allow_tf32(void);

/* cudnnGetVersion() (major * 10000 + minor * 100 + patch), from conv.cu. */
size_t cuda_cudnn_version(void);

#endif
