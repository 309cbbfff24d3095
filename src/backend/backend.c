/* The CUDA backend's and NCCL's entry points in a build without them. */
#include "evae/backend/backend.h"
#include "evae/backend/nccl.h"

#include <stdio.h>

#ifndef EVAE_HAVE_CUDA
const evae_backend *evae_cuda_backend(const char **why)
{
    if (why) *why = "this evae was built without CUDA (nvcc was not found at configure time)";
    return NULL;
}

int evae_cuda_use_device(int ordinal) { return -1; }
#endif

#ifndef EVAE_HAVE_NCCL
static const char no_nccl[] =
    "this evae was built without NCCL (CMake found no nccl.h and libnccl; see NCCL_ROOT)";

int evae_nccl_built(void) { return 0; }

int evae_nccl_unique_id(unsigned char id[EVAE_NCCL_ID_BYTES], char *why, size_t cap)
{
    snprintf(why, cap, "%s", no_nccl);
    return 1;
}

evae_nccl *evae_nccl_create(const evae_backend *be, const unsigned char id[EVAE_NCCL_ID_BYTES],
                            int rank, int size, double timeout_s, char *why, size_t cap)
{
    snprintf(why, cap, "%s", no_nccl);
    return NULL;
}

int evae_nccl_allreduce_sum(evae_nccl *h, float *buf, size_t n, char *why, size_t cap)
{
    snprintf(why, cap, "%s", no_nccl);
    return 1;
}

void evae_nccl_destroy(evae_nccl *h) {}

const char *evae_nccl_version(void) { return no_nccl; }
#endif
