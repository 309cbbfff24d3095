/* Per-element formulas of the VAE's layers and of Adam, shared by the CPU backend and the CUDA
 * kernels (EVAE_HD: plain C and device code alike). */
#ifndef EVAE_VAE_MATH_H
#define EVAE_VAE_MATH_H

#include "evae/math/hd.h"
#include "evae/math/logistic.h"
#ifndef __CUDACC__
#include <math.h>
#endif

/* ln Bernoulli(x | sigmoid(l)) = x l - softplus(l), for x in {0, 1} */
EVAE_HD float evae_bernoulli_logpf(float x, float l) { return x * l - evae_softplusf(l); }

/* ln Bernoulli(x | sigmoid(l)) and its gradient x - sigmoid(l), sharing one exp: the same values
 * as evae_bernoulli_logpf and x - evae_sigmoidf(l), bit for bit */
EVAE_HD float evae_bernoulli_logp_grad(float x, float l, float *grad)
{
    float e = expf(-fabsf(l));
    float sig = l >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    *grad = x - sig;
    return x * l - (fmaxf(l, 0.0f) + log1pf(e));
}

/* The MAF preprocessing of one 8-bit pixel x (0..255) with dequantization noise u in [0,1):
 * y = logit(s), s = alpha + gain (x + u), gain = (1 - 2 alpha)/256 (evae/data/logit.h) */
EVAE_HD float evae_logit_dequantize_elem(float x, float u, float alpha, float gain)
{
    float s = alpha + gain * (x + u); /* in [alpha, 1 - alpha] */
    return logf(s) - log1pf(-s);
}

/* 0.5 (1 + ln 2pi): the entropy of N(0,1) per dimension, before the log-variance term */
#define EVAE_HALF_1_PLUS_LN_2PI 1.4189385332046727f

/* One Adam update of parameter p with gradient g (Kingma & Ba, bias-corrected step sizes:
 * bc1 = 1 - beta1^t, bc2 = 1 - beta2^t computed once per step by the caller). */
EVAE_HD void evae_adam_elem(float *p, float *m, float *v, float g, float lr, float beta1,
                            float beta2, float eps, float bc1, float bc2)
{
    float mi = beta1 * *m + (1.0f - beta1) * g;
    float vi = beta2 * *v + (1.0f - beta2) * g * g;
    *m = mi;
    *v = vi;
    *p -= lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
}

#endif
