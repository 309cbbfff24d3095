/* Deterministic warp and block sums: a fixed shuffle tree, so the same inputs and launch give the
 * same bits every run (no atomics). */
#ifndef EVAE_BLOCK_REDUCE_CUH
#define EVAE_BLOCK_REDUCE_CUH

template <typename T> __device__ __forceinline__ T warp_sum(T v)
{
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    return v;
}

/* Sum of v over the block, valid in thread 0. Every thread of the block must call it (it
 * synchronizes); blockDim.x must be a multiple of 32 and at most 1024, blockDim.y = z = 1. The
 * leading barrier lets a block call it in a loop: no warp overwrites `part` while thread 0 still
 * reads the previous call's values. */
template <typename T> __device__ T block_sum(T v)
{
    __shared__ T part[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        int warps = blockDim.x >> 5;
        v = lane < warps ? part[lane] : T(0);
        v = warp_sum(v);
    }
    return v;
}

/* Sum of v over the block, returned to every thread (same calling rules as block_sum). */
template <typename T> __device__ T block_sum_bcast(T v)
{
    __shared__ T total;
    v = block_sum(v);
    if (threadIdx.x == 0) total = v;
    __syncthreads();
    T r = total;
    __syncthreads(); /* everyone has read total before a later call overwrites it */
    return r;
}

#endif
