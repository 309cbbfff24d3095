/* The GPU tests' backends: cpu (the specification) and cu (the CUDA backend), set by
 * gpu_test_setup, which skips the test where there is no device; compare.h does the comparing. */
#ifndef EVAE_TESTS_GPU_COMPARE_H
#define EVAE_TESTS_GPU_COMPARE_H

#include "compare.h"

static const evae_backend *cpu, *cu;

/* a CUDA buffer of n NaNs: an output element the op does not write stays NaN */
static inline float *poisoned(size_t n) { return poisoned_on(cu, n); }

/* Exit code 77 (ctest: skipped) when no CUDA device; sets cpu and cu otherwise. */
static inline void gpu_test_setup(const char *name)
{
    const char *why = "unknown";
    cpu = evae_cpu_backend();
    cu = evae_cuda_backend(&why);
    if (!cu) {
        printf("%s: skipped: %s\n", name, why);
        exit(77);
    }
}

#endif
