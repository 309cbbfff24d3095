/* Small GRBMs for the sampler tests (CPU and GPU alike). */
#ifndef EVAE_TESTS_GRBM_MODELS_H
#define EVAE_TESTS_GRBM_MODELS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

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

/* Exact samples z[count, d] of a small GRBM th (n <= 16, evae/math/grbm.h layout): the hidden
 * state h from its marginal, the mixture over {0,1}^n with weights proportional to exp(c_h),
 * c_h = b^T h + 0.5 |mu + W h|_D^2 - 0.5 |mu|_D^2 (evae/model/grbm_exact.h), then
 * z = mu + W h + sigma xi. mean[count, d] = mu + W h and xi[count, d] (either may be NULL) are
 * each sample's conditional N(mu + W h, sigma^2), the Gaussian "posterior given h". Draws:
 * uniform (seed, stream, k) picks sample k's h, normal (seed, stream + 1, k d + i) is its xi. */
static inline void exact_grbm_samples(const float *th, int d, int n, int count, uint64_t seed,
                                      uint64_t stream, float *z, float *mean, float *xi)
{
    const float *mu = th, *ls = th + d, *W = th + 2 * d, *b = th + 2 * d + d * n;
    const unsigned long states = 1ul << n;
    double *cdf = (double *)calloc(states, sizeof(double)); /* [2^n] */
    double mx = -INFINITY;
    for (unsigned long h = 0; h < states; h++) {
        double c = 0.0;
        for (int j = 0; j < n; j++)
            if (h >> j & 1ul) c += b[j];
        for (int i = 0; i < d; i++) {
            double m = mu[i], prec = exp(-2.0 * ls[i]);
            for (int j = 0; j < n; j++)
                if (h >> j & 1ul) m += W[i * n + j];
            c += 0.5 * prec * (m * m - (double)mu[i] * mu[i]);
        }
        cdf[h] = c;
        if (c > mx) mx = c;
    }
    double total = 0.0;
    for (unsigned long h = 0; h < states; h++) total += cdf[h] = exp(cdf[h] - mx);
    double run = 0.0; /* cdf[h] <- P(state <= h) */
    for (unsigned long h = 0; h < states; h++) cdf[h] = run += cdf[h] / total;
    for (int k = 0; k < count; k++) {
        double u = evae_uniform_at(seed, stream, (uint64_t)k);
        unsigned long h = 0;
        while (h + 1 < states && cdf[h] < u) h++;
        for (int i = 0; i < d; i++) {
            double m = mu[i];
            for (int j = 0; j < n; j++)
                if (h >> j & 1ul) m += W[i * n + j];
            float e = evae_normal_at(seed, stream + 1, (uint64_t)k * d + i);
            size_t at = (size_t)k * d + i;
            /* z as the reparameterization computes it, mean + exp(logvar / 2) eps */
            z[at] = (float)m + expf(0.5f * (2.0f * ls[i])) * e;
            if (mean) mean[at] = (float)m;
            if (xi) xi[at] = e;
        }
    }
    free(cdf);
}

#endif
