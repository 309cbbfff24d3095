/* Choosing a backend by name at run time. */
#include <string.h>

#include "evae/backend/backend.h"
#include "evae/util.h"

#ifndef EVAE_HAVE_CUDA
const evae_backend *evae_cuda_backend(const char **why)
{
    if (why) *why = "this evae was built without CUDA (nvcc was not found at configure time)";
    return NULL;
}
#endif

const evae_backend *evae_backend_by_name(const char *name)
{
    if (strcmp(name, "cpu") == 0) return evae_cpu_backend();
    if (strcmp(name, "auto") == 0) {
        const evae_backend *be = evae_cuda_backend(NULL);
        return be ? be : evae_cpu_backend();
    }
    if (strcmp(name, "cuda") == 0) {
        const char *why = "unknown reason";
        const evae_backend *be = evae_cuda_backend(&why);
        if (!be) evae_error("device=cuda is not available: %s", why);
        return be;
    }
    evae_error("unknown device '%s' (expected cpu or cuda)", name);
    return NULL;
}
