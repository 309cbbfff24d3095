/* C entry points of the CUDA backend beyond the op table (evae/backend/backend.h, whose describe()
 * gives the device and library versions): the convolution algorithms for the run manifest, a
 * knob for cuDNN's algorithm choice, and hooks the GPU tests use. Only present when the project
 * is built with CUDA (EVAE_HAVE_CUDA); call them after evae_cuda_backend() returned a table. */
#ifndef EVAE_CUDA_EXTRAS_H
#define EVAE_CUDA_EXTRAS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The cuDNN convolution algorithms chosen so far, one line per convolution shape:
 * "N,C,H,W K,R,S stride,pad: fwd=... bwd_data=... bwd_filter=..." (static buffer, rewritten by
 * each call; "" when no convolution ran). */
const char *evae_cuda_conv_algorithms(void);

/* Restrict cuDNN to deterministic algorithms (bitwise repeatable backward passes) when on != 0,
 * the default; on = 0 lets cuDNN's heuristics pick any algorithm (some accumulate with atomics).
 * The environment variable EVAE_CUDNN_DETERMINISTIC=0 sets the same before the first
 * convolution. Changing it drops the algorithms chosen so far; they are chosen again on use. */
void evae_cuda_set_conv_deterministic(int on);

/* Make the GRBM ops take their general path (cuBLAS products + fused elementwise kernels) even
 * for GRBMs small enough for the shared-memory path, so tests can check both paths on the same
 * inputs. Also set by EVAE_GRBM_GENERAL=1. */
void evae_cuda_set_grbm_general(int on);

/* 1 when every GRBM op keeps W in shared memory for a (d, n) GRBM on this card (the score-matching
 * kernel, whose layout is the largest, fits one block), 0 otherwise; the energy and the chains
 * need less and may still use shared memory when this says 0. */
int evae_cuda_grbm_uses_shared(int d, int n);

/* Cross-check of evae/math/philox.h against cuRAND's device generator: the number of the first
 * 4 * blocks 32-bit words of (seed, stream) where curand_init(seed, stream, i) + curand() differs
 * from word i of evae_philox_block. 0 means evae's streams are cuRAND's PHILOX4_32_10 streams. */
long evae_cuda_philox_mismatches(uint64_t seed, uint64_t stream, size_t blocks);

#ifdef __cplusplus
}
#endif

#endif
