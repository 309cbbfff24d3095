#include "evae/data/logit.h"

#include <math.h>

#include "evae/math/vae_math.h"

void evae_logit_dequantize(float *y, const float *x, const float *noise, size_t n, float alpha)
{
    const float gain = (1.0f - 2.0f * alpha) / 256.0f;
    for (size_t i = 0; i < n; i++) y[i] = evae_logit_dequantize_elem(x[i], noise[i], alpha, gain);
}

void evae_logit_to_unit(float *u, const float *y, size_t n, float alpha)
{
    const float inv = 1.0f / (1.0f - 2.0f * alpha);
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-y[i]));
        float v = (s - alpha) * inv;
        u[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
    }
}

void evae_logit_log_det(double *log_det, const float *y, int B, int D, float alpha)
{
    const double base = (double)D * log(1.0 - 2.0 * (double)alpha);
    for (int b = 0; b < B; b++) {
        const float *yb = y + (size_t)b * D; /* [D] */
        double acc = base;
        /* -ln s - ln(1 - s) = softplus(-y) + softplus(y) = |y| + 2 ln(1 + e^-|y|): no
         * cancellation, unlike going through s */
        for (int i = 0; i < D; i++) {
            double a = fabs((double)yb[i]);
            acc += a + 2.0 * log1p(exp(-a));
        }
        log_det[b] = acc;
    }
}

double evae_bits_per_dim(double ln_p_u, int D) { return -ln_p_u / ((double)D * log(2.0)) + 8.0; }
