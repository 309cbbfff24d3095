/* The MAF preprocessing of 8-bit images (Papamakarios et al. 2018; paper s.4.2; docs/DESIGN.md
 * s.2.4) and the change of variables that turns a density over its output back into bits per
 * dimension of the 8-bit data:
 *   u = (x + noise)/256      dequantized pixel in [0,1), noise ~ U[0,1) (given, for determinism)
 *   s = alpha + (1 - 2 alpha) u,   y = logit(s) = ln s - ln(1 - s)      (the VAE models y)
 *   ln p(u) = ln p(y) + ln|dy/du| = ln p(y) + D ln(1 - 2 alpha) - sum_i [ln s_i + ln(1 - s_i)]
 *   bits/dim = -ln p(u) / (D ln 2) + 8
 * The +8 is log2 256: p(u) is a density on [0,1]^D, the data's dequantized density on [0,256)^D
 * is p(u)/256^D, and its negative log2 per dimension bounds the 8-bit data's bits/dim.
 * Plain C over host arrays: the evaluator sums per-example log-likelihoods on the host. */
#ifndef EVAE_LOGIT_H
#define EVAE_LOGIT_H

#include <stddef.h>

/* alpha of the MAF CIFAR-10 preprocessing: keeps s in [0.05, 0.95], so |y| <= 2.95 */
#define EVAE_LOGIT_ALPHA 0.05f

/* y[n] = logit(alpha + (1 - 2 alpha) (x + noise)/256); x[n] pixel values 0..255 (as floats),
 * noise[n] in [0,1). */
void evae_logit_dequantize(float *y, const float *x, const float *noise, size_t n, float alpha);

/* u[n] = (sigmoid(y) - alpha)/(1 - 2 alpha) clipped to [0,1]: the inverse of the transform, for
 * image grids (decoder means may leave the data's range, hence the clip). */
void evae_logit_to_unit(float *u, const float *y, size_t n, float alpha);

/* log_det[B] = ln|det dy/du| of each example y[B,D]: D ln(1 - 2 alpha) - sum_i [ln s_i +
 * ln(1 - s_i)] with s = sigmoid(y), in double. ln p(u) = ln p(y) + log_det. */
void evae_logit_log_det(double *log_det, const float *y, int B, int D, float alpha);

/* Bits per dimension of the 8-bit data from ln p(u) (nats) of one example or the mean over a
 * data set: -ln_p_u / (D ln 2) + 8. */
double evae_bits_per_dim(double ln_p_u, int D);

#endif
