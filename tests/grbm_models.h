/* Small GRBMs for the sampler tests (CPU and GPU alike). */
#ifndef EVAE_TESTS_GRBM_MODELS_H
#define EVAE_TESTS_GRBM_MODELS_H

#include <math.h>
#include <stdint.h>

#include "evae/math/philox.h"

/* A GRBM with well separated mixture components: |W| ~ wscale against sigma ~ 0.6..1.2, so the
 * marginal of z has several modes and the chains must cross between them. */
static inline void multimodal_theta(float *th, int d, int n, double wscale, uint64_t seed)
{
    uint64_t k = 0;
    for (int i = 0; i < d; i++) th[i] = 0.3f * evae_normal_at(seed, 1, k++);
    for (int i = 0; i < d; i++) th[d + i] = -0.2f + 0.2f * evae_normal_at(seed, 1, k++);
    for (int i = 0; i < d * n; i++) th[2 * d + i] = (float)wscale * evae_normal_at(seed, 1, k++);
    /* b_j = -0.5 |W_j|_D^2 - mu^T D W_j + noise puts the mixture components mu and mu + W_j
     * (h = 0 and h = e_j) at comparable weights */
    for (int j = 0; j < n; j++) {
        double bj = 0.3 * evae_normal_at(seed, 1, k++);
        for (int i = 0; i < d; i++) {
            double w = th[2 * d + i * n + j], prec = exp(-2.0 * th[d + i]);
            bj -= (0.5 * w + th[i]) * w * prec;
        }
        th[2 * d + d * n + j] = (float)bj;
    }
}

#endif
