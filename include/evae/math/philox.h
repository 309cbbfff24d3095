/* Counter-based random numbers: Philox4x32-10 (Salmon et al. 2011, the generator behind cuRAND's
 * PHILOX4_32_10). Draw i of stream s under seed k is a pure function of (k, s, i), so
 *  - the CPU and CUDA backends produce the same bits for the same (seed, stream, index), and
 *  - a run's random state is just its step counter, which makes resume exact. */
#ifndef EVAE_PHILOX_H
#define EVAE_PHILOX_H

#include <stddef.h>
#include <stdint.h>
#include "evae/math/hd.h"
#ifndef __CUDACC__
#include <math.h>
#endif

typedef struct { uint32_t v[4]; } evae_u32x4;

EVAE_HD uint32_t evae_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* Ten rounds of Philox4x32 on counter ctr with key (k0, k1). */
EVAE_HD evae_u32x4 evae_philox4x32_10(evae_u32x4 ctr, uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = evae_mulhilo32(0xD2511F53u, ctr.v[0], &hi0);
        uint32_t lo1 = evae_mulhilo32(0xCD9E8D57u, ctr.v[2], &hi1);
        evae_u32x4 next = {{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
        ctr = next;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return ctr;
}

/* Four 32-bit words for block `block` of stream `stream` under `seed`. */
EVAE_HD evae_u32x4 evae_philox_block(uint64_t seed, uint64_t stream, uint64_t block)
{
    evae_u32x4 ctr = {{(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                       (uint32_t)(stream >> 32)}};
    return evae_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* Uniform in the open interval (0, 1) from 24 random bits: never 0, so log() is safe. */
EVAE_HD float evae_u01(uint32_t x)
{
    return ((float)(x >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

/* Element i of the uniform(0,1) sequence of (seed, stream). */
EVAE_HD float evae_uniform_at(uint64_t seed, uint64_t stream, uint64_t i)
{
    evae_u32x4 r = evae_philox_block(seed, stream, i >> 2);
    return evae_u01(r.v[i & 3]);
}

/* Box-Muller: two uniform words to two standard normals (cos and sin branches). */
EVAE_HD void evae_box_muller(uint32_t w1, uint32_t w2, float *n_cos, float *n_sin)
{
    float rad = sqrtf(-2.0f * logf(evae_u01(w1)));
    float ang = 6.28318530717958647692f * evae_u01(w2);
    *n_cos = rad * cosf(ang);
    *n_sin = rad * sinf(ang);
}

/* Element i of the standard normal sequence of (seed, stream): Box-Muller on words (0,1) of the
 * block for lanes 0 and 1 and on words (2,3) for lanes 2 and 3. */
EVAE_HD float evae_normal_at(uint64_t seed, uint64_t stream, uint64_t i)
{
    evae_u32x4 r = evae_philox_block(seed, stream, i >> 2);
    int pair = (int)(i & 3) >> 1;
    float c, s;
    evae_box_muller(r.v[2 * pair], r.v[2 * pair + 1], &c, &s);
    return (i & 1) ? s : c;
}

#ifndef __CUDACC__
/* Host fills, one Philox block per four outputs (the per-element functions above recompute the
 * block for each of its four lanes): out[k] = evae_uniform_at / evae_normal_at(seed, stream,
 * start + k) for k < count, bit for bit. */
static inline void evae_fill_uniform(float *out, size_t count, uint64_t seed, uint64_t stream,
                                     uint64_t start)
{
    size_t k = 0;
    while (k < count) {
        uint64_t idx = start + k;
        evae_u32x4 r = evae_philox_block(seed, stream, idx >> 2);
        for (int lane = (int)(idx & 3); lane < 4 && k < count; lane++)
            out[k++] = evae_u01(r.v[lane]);
    }
}

static inline void evae_fill_normal(float *out, size_t count, uint64_t seed, uint64_t stream,
                                    uint64_t start)
{
    size_t k = 0;
    while (k < count) {
        uint64_t idx = start + k;
        evae_u32x4 r = evae_philox_block(seed, stream, idx >> 2);
        float val[4];
        evae_box_muller(r.v[0], r.v[1], &val[0], &val[1]);
        evae_box_muller(r.v[2], r.v[3], &val[2], &val[3]);
        for (int lane = (int)(idx & 3); lane < 4 && k < count; lane++) out[k++] = val[lane];
    }
}
#endif

/* Named streams keep the draws of different purposes apart; the step counter is mixed in by the
 * caller (stream = purpose << 48 | step). */
enum evae_stream_purpose {
    EVAE_STREAM_BINARIZE = 1, /* input noise: binarization (MNIST) or dequantization (CIFAR) */
    EVAE_STREAM_REPARAM = 2,
    EVAE_STREAM_PROJECTIONS = 3,
    EVAE_STREAM_SHUFFLE = 4,
    EVAE_STREAM_SAMPLER = 5,
    EVAE_STREAM_INIT = 6,
    EVAE_STREAM_EVAL = 7,
    /* the prior objectives' own draws (evae/model/prior_fit.h); step = the global step unless
     * noted. Only one objective runs in a training run, but each keeps its own purpose. */
    EVAE_STREAM_DSM_NOISE = 8,  /* denoising score matching's eps [B, d] of z~ = z + s_n eps */
    EVAE_STREAM_PCD_START = 9,  /* the persistent chains' start, N(mu, sigma^2) [C, d] (step 0) */
    EVAE_STREAM_PCD_CHAINS = 10, /* the persistent chains' sampler draws (Gibbs or Langevin) */
    EVAE_STREAM_NCE_NOISE = 11, /* NCE's noise samples eps [ratio B, d] of y = m + s eps */
    EVAE_STREAM_HONEST = 12, /* the trainer's AIS of log Z for the held-out ELBO (evae/eval/honest.h) */
};

EVAE_HD uint64_t evae_stream(enum evae_stream_purpose purpose, uint64_t step)
{
    return ((uint64_t)purpose << 48) | (step & 0xFFFFFFFFFFFFull);
}

#endif
