/* Gaussian-Bernoulli RBM prior: layout of its parameter buffer.
 *   theta = [ mu (d) | log_sigma (d) | W (d x n, row-major: W[i*n + j]) | b (n) ]
 * sigma = exp(log_sigma) keeps the scale positive. The per-element formulas (energy, score,
 * Hessian-vector products, samplers) are in evae/math/grbm_math.h, shared by CPU and CUDA. */
#ifndef EVAE_GRBM_H
#define EVAE_GRBM_H

#include <stddef.h>

static inline size_t evae_grbm_size(int d, int n) { return 2 * (size_t)d + (size_t)d * n + n; }
static inline size_t evae_grbm_mu(int d, int n) { (void)d; (void)n; return 0; }
static inline size_t evae_grbm_log_sigma(int d, int n) { (void)n; return (size_t)d; }
static inline size_t evae_grbm_W(int d, int n) { (void)n; return 2 * (size_t)d; }
static inline size_t evae_grbm_b(int d, int n) { return 2 * (size_t)d + (size_t)d * n; }

#endif
