/* Exact quantities of a small Gaussian-Bernoulli RBM, computed by enumerating all 2^n hidden
 * states in double precision (tests and AIS checks; n up to EVAE_GRBM_EXACT_MAX_N).
 *
 * With D = diag(1/sigma^2) and |x|_D^2 = x^T D x, the marginal of z is the mixture over h in
 * {0,1}^n of N(mu + W h, diag sigma^2) with weights proportional to exp(c_h),
 *   c_h = b^T h + 0.5 |mu + W h|_D^2 - 0.5 |mu|_D^2,
 * and log Z = (d/2) ln 2pi + sum_i ln sigma_i + logsumexp_h c_h (docs/DESIGN.md section 1.7).
 * theta is host memory laid out as evae/math/grbm.h describes. */
#ifndef EVAE_GRBM_EXACT_H
#define EVAE_GRBM_EXACT_H

#define EVAE_GRBM_EXACT_MAX_N 24

/* *log_z = ln of the integral of exp(-E(z)) dz. Returns 0, or non-zero with a message when n is
 * out of range. */
int evae_grbm_exact_log_z(const float *theta, int d, int n, double *log_z);

/* Exact mean[d] and covariance cov[d,d] (row-major) of z under the GRBM. Returns 0, or non-zero
 * with a message when n is out of range. */
int evae_grbm_exact_moments(const float *theta, int d, int n, double *mean, double *cov);

#endif
