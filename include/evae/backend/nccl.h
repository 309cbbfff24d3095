/* NCCL on the CUDA backend (kernels/nccl.cu): a communicator whose collectives run on the
 * backend's stream, in order with its ops. The communication layer (evae/dist/comm.h) builds its
 * "nccl" implementation on these; they live beside the CUDA backend because they need its device
 * and stream. In a build without NCCL every function fails with the reason (src/backend/backend.c).
 *
 * Failure never hangs: NCCL runs non-blocking, and every wait (initialization, a reduction) polls
 * the communicator's asynchronous error and gives up after timeout_s seconds (a peer that died or
 * stalled), aborting the communicator and returning non-zero with the reason. */
#ifndef EVAE_BACKEND_NCCL_H
#define EVAE_BACKEND_NCCL_H

#include <stddef.h>

#include "evae/backend/backend.h"

enum { EVAE_NCCL_ID_BYTES = 128 }; /* NCCL_UNIQUE_ID_BYTES */

typedef struct evae_nccl evae_nccl;

/* 1 when evae was built with NCCL */
int evae_nccl_built(void);

/* The id that names a new communicator; rank 0 makes it, the others receive it (over MPI).
 * Returns non-zero with the reason in why[cap]. */
int evae_nccl_unique_id(unsigned char id[EVAE_NCCL_ID_BYTES], char *why, size_t cap);

/* Joins communicator `id` as rank of size on be, the CUDA backend (its current device and
 * stream). NULL with the reason in why[cap] on failure or after timeout_s seconds. */
evae_nccl *evae_nccl_create(const evae_backend *be, const unsigned char id[EVAE_NCCL_ID_BYTES],
                            int rank, int size, double timeout_s, char *why, size_t cap);

/* buf[n] (device memory of the communicator's backend) := its sum over the ranks, queued on the
 * backend's stream and waited for. Returns non-zero with the reason after an error or timeout;
 * the communicator is then aborted. */
int evae_nccl_allreduce_sum(evae_nccl *h, float *buf, size_t n, char *why, size_t cap);

/* Frees a communicator (ncclCommDestroy); NULL is fine. */
void evae_nccl_destroy(evae_nccl *h);

/* "NCCL 2.28.3" (the library loaded at run time), or the reason NCCL is not there. */
const char *evae_nccl_version(void);

#endif
