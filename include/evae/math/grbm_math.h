/* Per-element math of the Gaussian-Bernoulli RBM prior (docs/DESIGN.md s.1), shared by the CPU
 * backend (src/backend/cpu/grbm_*.c) and the CUDA kernels, so both run the very same formulas.
 * Everything here compiles as plain C11 and as CUDA device code: no compound literals, no VLAs.
 *
 * Notation (per example): sigma = exp(log_sigma), D = diag(1/sigma^2), r = z - mu,
 *   a = W^T (D z) + b                    hidden pre-activations [n]
 *   E_beta(z) = 0.5 sum_i D_i r_i^2 - sum_j softplus(beta a_j)
 *   dE_beta/dz_i = D_i (r_i - beta (W sigmoid(beta a))_i)
 *   score s = -dE_1/dz,  v^T (grad s) v = -sum_i D_i v_i^2 + sum_j sigmoid'(a_j) u_j^2,
 *   u = W^T (D v).
 * beta scales the coupling (W and b) of the joint energy; beta = 1 is the model itself and
 * beta = 0 leaves N(mu, sigma^2) times 2^n (softplus(0) = ln 2 per hidden unit). */
#ifndef EVAE_GRBM_MATH_H
#define EVAE_GRBM_MATH_H

#include <stdint.h>
#include "evae/math/hd.h"
#include "evae/math/logistic.h" /* evae_softplusf, evae_sigmoidf */
#ifndef __CUDACC__
#include <math.h>
#endif

/* D_i = 1/sigma_i^2 = exp(-2 log_sigma_i) */
EVAE_HD float evae_grbm_precision(float log_sigma) { return expf(-2.0f * log_sigma); }

/* One visible unit's share of the quadratic energy: 0.5 D (z - mu)^2. */
EVAE_HD float evae_grbm_quad_term(float z, float mu, float prec)
{
    float r = z - mu;
    return 0.5f * prec * r * r;
}

/* dE_beta/dz_i given wp_i = (W sigmoid(beta a))_i. */
EVAE_HD float evae_grbm_dEdz(float z, float mu, float prec, float beta, float wp)
{
    return prec * ((z - mu) - beta * wp);
}

/* The energy's gradient with respect to the parameters, per example (the prior objectives'
 * grbm_param_grad). With r = z - mu, x_i = D_i z_i, p = sigmoid(a) and wp_i = (W p)_i:
 *   dE/dmu_i        = -D_i r_i
 *   dE/dlog_sigma_i = -D_i r_i^2 + 2 x_i wp_i   (D = exp(-2 log_sigma) enters both terms)
 *   dE/dW_ij        = -x_i p_j,    dE/db_j = -p_j   (products over the batch, in the ops) */
EVAE_HD float evae_grbm_dE_dmu(float z, float mu, float prec) { return -prec * (z - mu); }
EVAE_HD float evae_grbm_dE_dlog_sigma(float z, float mu, float prec, float wp)
{
    float r = z - mu;
    return prec * (2.0f * z * wp - r * r);
}

/* The hidden unit's share of the SSM Hessian term and its adjoint.
 * Given a_j and u2 = mean over projections of u_mj^2 (with u = W^T D v):
 *   returns q u2 with q = sigmoid'(a) = p (1 - p);
 *   *q_out = q (the weight of u in d/du: d(q u^2)/du = 2 q u);
 *   *ga_out = d(q u2)/da = q (1 - 2p) u2. */
EVAE_HD float evae_grbm_ssm_hidden(float a, float u2, float *q_out, float *ga_out)
{
    float p = evae_sigmoidf(a);
    float q = p * (1.0f - p);
    *q_out = q;
    *ga_out = q * (1.0f - 2.0f * p) * u2;
    return q * u2;
}

/* One Langevin update of one coordinate: z - eta dE/dz + sqrt(2 eta) xi. */
EVAE_HD float evae_grbm_langevin_update(float z, float dEdz, float eta, float xi)
{
    return z - eta * dEdz + sqrtf(2.0f * eta) * xi;
}

/* Block Gibbs at inverse temperature beta: h_j = 1 with probability sigmoid(beta a_j), decided by
 * the uniform draw uu in (0,1); z_i = mu_i + beta (W h)_i + sigma_i xi. */
EVAE_HD float evae_grbm_gibbs_h(float a, float beta, float uu)
{
    return uu < evae_sigmoidf(beta * a) ? 1.0f : 0.0f;
}
EVAE_HD float evae_grbm_gibbs_z(float mu, float log_sigma, float beta, float wh, float xi)
{
    return mu + beta * wh + expf(log_sigma) * xi;
}

/* ---- where the samplers' random draws come from (identical on every backend) ----
 * A call with B chains of d visible and n hidden units uses the caller's (seed, stream) and, for
 * step t = 0 .. steps-1 of that call, chain c, unit i / j:
 *   Langevin noise xi   = evae_normal_at (seed, stream, t*B*d + c*d + i)
 *   Gibbs h uniform     = evae_uniform_at(seed, stream, t*S + c*n + j)
 *   Gibbs z noise       = evae_normal_at (seed, stream, t*S + Nu + c*d + i)
 * with Nu = B*n rounded up to a multiple of 4 and S = Nu + (B*d rounded up to a multiple of 4),
 * so uniform and normal draws never share a Philox block (4 words per block). Two calls with the
 * same (seed, stream) repeat their draws: callers advance the stream between calls. */
EVAE_HD uint64_t evae_grbm_round4(uint64_t x) { return (x + 3u) & ~(uint64_t)3u; }

EVAE_HD uint64_t evae_grbm_langevin_index(uint64_t t, int B, int d, int c, int i)
{
    return t * (uint64_t)B * (uint64_t)d + (uint64_t)c * (uint64_t)d + (uint64_t)i;
}

EVAE_HD uint64_t evae_grbm_gibbs_stride(int B, int d, int n)
{
    return evae_grbm_round4((uint64_t)B * (uint64_t)n) +
           evae_grbm_round4((uint64_t)B * (uint64_t)d);
}

EVAE_HD uint64_t evae_grbm_gibbs_h_index(uint64_t t, int B, int d, int n, int c, int j)
{
    return t * evae_grbm_gibbs_stride(B, d, n) + (uint64_t)c * (uint64_t)n + (uint64_t)j;
}

EVAE_HD uint64_t evae_grbm_gibbs_z_index(uint64_t t, int B, int d, int n, int c, int i)
{
    return t * evae_grbm_gibbs_stride(B, d, n) + evae_grbm_round4((uint64_t)B * (uint64_t)n) +
           (uint64_t)c * (uint64_t)d + (uint64_t)i;
}

#endif
