/* The logistic functions every model part uses (the GRBM's hidden units, the Bernoulli decoder,
 * the classifier's loss), once for the CPU backend and the CUDA kernels alike (EVAE_HD). Plain C11
 * and CUDA device code: no compound literals, no VLAs. */
#ifndef EVAE_LOGISTIC_H
#define EVAE_LOGISTIC_H

#include "evae/math/hd.h"
#ifndef __CUDACC__
#include <math.h>
#endif

/* softplus(x) = ln(1 + e^x), without overflow for large |x| */
EVAE_HD float evae_softplusf(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }

/* logistic sigmoid; the branch keeps exp's argument non-positive, so no overflow */
EVAE_HD float evae_sigmoidf(float x)
{
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

#endif
