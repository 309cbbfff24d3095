/* Calibrated Laplace decoder (Rybkin et al. 2021, "calibrated decoder"): one scale b shared by
 * every dimension, set in closed form to the maximizer of the Laplace log-likelihood
 *   sum_j [-|y_j - mean_j|/b - ln(2b)],  i.e.  b = mean_j |y_j - mean_j|.
 * The per-example likelihood and its gradient are the backend's laplace_ll (evae/backend/backend.h).
 * At evaluation b is the number saved with the model, never refitted on test data
 * (docs/DESIGN.md s.2.3). */
#ifndef EVAE_LAPLACE_H
#define EVAE_LAPLACE_H

#include <stddef.h>

/* Smallest scale returned. Without a floor a perfect fit (or no data) gives b = 0, where
 * ln(2b) = -inf and 1/b in the gradient is infinite. On the MAF-preprocessed CIFAR-10 data
 * (evae/data/logit.h) each y carries dequantization noise spread over an interval at least
 * (1 - 2 alpha)/256 / max s(1-s) = 0.014 wide in logit space; a decoder that got every 8-bit
 * pixel right but not the noise still has mean |y - mean| >= a quarter of that, 0.0035. So the
 * floor, 1e-3, stays below any realistic fit and only keeps degenerate cases finite (the
 * gradient 1/b is then at most 1e3 per element). */
#define EVAE_LAPLACE_SCALE_FLOOR 1e-3

/* b = max(l1_sum / count, EVAE_LAPLACE_SCALE_FLOOR), with l1_sum = sum |y - mean| over count
 * elements (count = 0 gives the floor). A device trainer gets l1_sum without an extra op from
 * laplace_ll at scale 1: sum_b ll_b = -l1_sum - count ln 2. */
double evae_laplace_scale_from_l1(double l1_sum, size_t count);

#endif
