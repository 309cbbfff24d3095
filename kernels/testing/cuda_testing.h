/* Hooks of the GPU tests into the CUDA backend beyond its op table (evae/backend/backend.h): the
 * cuDNN and GRBM path switches, a cap on the GRBM launches and the record of the last one, and a
 * cross-check of the random streams against cuRAND. They live
 * in the library evae_cuda_testing, which only tests/ and bench/ link; present only when the
 * project is built with CUDA (EVAE_HAVE_CUDA). be is the table evae_cuda_backend() returned. */
#ifndef EVAE_CUDA_TESTING_H
#define EVAE_CUDA_TESTING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "evae/backend/backend.h"

/* Restrict cuDNN to deterministic algorithms (bitwise repeatable backward passes) when on != 0,
 * the default; on = 0 lets cuDNN's heuristics pick any algorithm (some accumulate with atomics).
 * The environment variable EVAE_CUDNN_DETERMINISTIC=0 sets the same before the first
 * convolution. Algorithms are chosen per shape and setting, on first use under that setting. */
void evae_cuda_set_conv_deterministic(const evae_backend *be, int on);

/* Make the GRBM ops take their general path (cuBLAS products + fused elementwise kernels) even
 * for GRBMs small enough for the shared-memory path, so tests can check both paths on the same
 * inputs. Also set by EVAE_GRBM_GENERAL=1. */
void evae_cuda_set_grbm_general(const evae_backend *be, int on);

/* Launch every GRBM kernel (energy, score matching, the chains, on either path) with at most
 * `blocks` blocks (0, the default: no cap), so that each block loops over several examples,
 * chains or elements at test sizes, as it does at the paper's sizes on a card with many SMs. */
void evae_cuda_set_grbm_grid_cap(const evae_backend *be, int blocks);

/* How the last GRBM op ran: its path (1: W in shared memory, 0: the general path), the blocks of
 * its kernel that loops over the op's examples (energy, score matching: the fused kernel, or the
 * general path's per-example row kernel) or chain groups (the chains), and that loop's trips in
 * the busiest block (ceil(items / blocks): 1 means the loop ran once). */
typedef struct evae_cuda_grbm_launch {
    int shared, blocks, trips;
} evae_cuda_grbm_launch;
evae_cuda_grbm_launch evae_cuda_grbm_last_launch(const evae_backend *be);

/* 1 when every GRBM op keeps W in shared memory for a (d, n) GRBM on this card (the score-matching
 * kernel, whose layout is the largest, fits one block), 0 otherwise; the energy and the chains
 * need less and may still use shared memory when this says 0. */
int evae_cuda_grbm_uses_shared(const evae_backend *be, int d, int n);

/* Cross-check of evae/math/philox.h against cuRAND's device generator: the number of the first
 * 4 * blocks 32-bit words of (seed, stream) where curand_init(seed, stream, i) + curand() differs
 * from word i of evae_philox_block. 0 means evae's streams are cuRAND's PHILOX4_32_10 streams. */
long evae_cuda_philox_mismatches(const evae_backend *be, uint64_t seed, uint64_t stream,
                                 size_t blocks);

/* The CUDA backend's table without a device (its ctx is NULL), for calling its entries with
 * arguments their checks refuse: every entry checks before it touches any state, so such a call
 * aborts with its message on any machine (tests/test_cuda_checks.c). Nothing else may call it. */
const evae_backend *evae_cuda_table_for_checks(void);

#ifdef __cplusplus
}
#endif

#endif
