/* The CUDA backend's entry point in a build without CUDA. */
#include "evae/backend/backend.h"

#ifndef EVAE_HAVE_CUDA
const evae_backend *evae_cuda_backend(const char **why)
{
    if (why) *why = "this evae was built without CUDA (nvcc was not found at configure time)";
    return NULL;
}
#endif
