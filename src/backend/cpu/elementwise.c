/* Elementwise and per-row VAE ops on the CPU (the twin of kernels/elementwise.cu). Per-element
 * formulas come from evae/math/vae_math.h, which the CUDA kernels share; per-row sums
 * (log-likelihoods, entropies) accumulate in double. Loops split by element or by row across
 * threads (cpu_parallel.h), so a row's sum is one thread's, in order. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_parallel.h"
#include "evae/math/vae_math.h"

void cpu_axpy(const evae_backend *be, float *y, const float *x, size_t n, float a)
{
#pragma omp parallel for schedule(static) if (cpu_par_worth(n))
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

void cpu_scale(const evae_backend *be, float *x, size_t n, float a)
{
    for (size_t i = 0; i < n; i++) x[i] *= a;
}

void cpu_gather_rows(const evae_backend *be, float *out, const float *table, const int *idx, int B,
                     int D)
{
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)B * D))
    for (int b = 0; b < B; b++)
        memcpy(out + (size_t)b * D, table + (size_t)idx[b] * D, (size_t)D * sizeof(float));
}

void cpu_bias_act(const evae_backend *be, float *y, const float *b, int rows, int cols, int relu)
{
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)rows * cols))
    for (int r = 0; r < rows; r++) {
        float *row = y + (size_t)r * cols;
        if (relu) /* written so that NaN propagates (fmaxf would hide it) */
            for (int j = 0; j < cols; j++) row[j] = row[j] + b[j] < 0.0f ? 0.0f : row[j] + b[j];
        else
            for (int j = 0; j < cols; j++) row[j] += b[j];
    }
}

void cpu_channel_bias_act(const evae_backend *be, float *y, const float *b, int N, int C, int HW,
                          int relu)
{
#pragma omp parallel for collapse(2) schedule(static) if (cpu_par_worth((size_t)N * C * HW))
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            float *row = y + ((size_t)n * C + c) * HW; /* [HW] */
            const float bc = b[c];
            if (relu)
                for (int i = 0; i < HW; i++) {
                    float v = row[i] + bc;
                    row[i] = v < 0.0f ? 0.0f : v; /* NaN propagates */
                }
            else
                for (int i = 0; i < HW; i++) row[i] += bc;
        }
}

void cpu_relu_backward(const evae_backend *be, float *dy, const float *y, size_t n)
{
    /* a select, not a conditional store, so it vectorizes; NaN in y gives 0 as before */
#pragma omp parallel for schedule(static) if (cpu_par_worth(n))
    for (size_t i = 0; i < n; i++) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void cpu_binarize(const evae_backend *be, float *x, const float *p, const float *u, size_t n)
{
#pragma omp parallel for schedule(static) if (cpu_par_worth(n))
    for (size_t i = 0; i < n; i++) x[i] = u[i] < p[i] ? 1.0f : 0.0f;
}

void cpu_logit_dequantize(const evae_backend *be, float *y, const float *x, const float *u,
                          size_t n, float alpha)
{
    const float gain = (1.0f - 2.0f * alpha) / 256.0f;
#pragma omp parallel for schedule(static) if (cpu_par_worth(n))
    for (size_t i = 0; i < n; i++) y[i] = evae_logit_dequantize_elem(x[i], u[i], alpha, gain);
}

void cpu_reparam(const evae_backend *be, float *z, const float *enc, const float *eps, int B, int d)
{
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)B * d))
    for (int b = 0; b < B; b++) {
        const float *mean = enc + (size_t)b * 2 * d, *logvar = mean + d;
        for (int i = 0; i < d; i++)
            z[(size_t)b * d + i] = mean[i] + expf(0.5f * logvar[i]) * eps[(size_t)b * d + i];
    }
}

void cpu_bernoulli_ll(const evae_backend *be, float *ll, float *dlogits, const float *logits,
                      const float *x, int B, int D, float scale)
{
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)B * D))
    for (int b = 0; b < B; b++) {
        const float *l = logits + (size_t)b * D, *xb = x + (size_t)b * D;
        double s = 0.0;
        if (dlogits) {
            float *g = dlogits + (size_t)b * D;
            for (int j = 0; j < D; j++) {
                s += evae_bernoulli_logp_grad(xb[j], l[j], &g[j]);
                g[j] *= scale;
            }
        } else {
            for (int j = 0; j < D; j++) s += evae_bernoulli_logpf(xb[j], l[j]);
        }
        ll[b] = (float)s;
    }
}

void cpu_gauss_posterior(const evae_backend *be, float *ent, float *denc, const float *enc,
                         const float *eps, const float *dz, int B, int d, float ent_grad)
{
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)B * d))
    for (int b = 0; b < B; b++) {
        const float *logvar = enc + (size_t)b * 2 * d + d;
        if (ent) {
            double s = 0.0;
            for (int i = 0; i < d; i++) s += EVAE_HALF_1_PLUS_LN_2PI + 0.5f * logvar[i];
            ent[b] = (float)s;
        }
        if (denc) {
            float *dmean = denc + (size_t)b * 2 * d, *dlogvar = dmean + d;
            for (int i = 0; i < d; i++) {
                float g = dz[(size_t)b * d + i];
                dmean[i] = g;
                dlogvar[i] = g * 0.5f * expf(0.5f * logvar[i]) * eps[(size_t)b * d + i] +
                             0.5f * ent_grad;
            }
        }
    }
}

void cpu_laplace_ll(const evae_backend *be, float *ll, float *dmean, const float *mean,
                    const float *y, int B, int D, float scale, float grad_scale)
{
    const float inv_scale = 1.0f / scale;
    const double log_norm = (double)D * log(2.0 * (double)scale); /* D ln(2 scale) */
    const float g = grad_scale * inv_scale;
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)B * D))
    for (int b = 0; b < B; b++) {
        const float *m = mean + (size_t)b * D; /* [D] */
        const float *t = y + (size_t)b * D;    /* [D] */
        double l1 = 0.0;
        for (int j = 0; j < D; j++) l1 += fabsf(t[j] - m[j]);
        if (ll) ll[b] = (float)(-l1 * inv_scale - log_norm);
        if (dmean) {
            float *dm = dmean + (size_t)b * D; /* [D] */
            /* d/dmean of -|y - mean|/scale = sign(y - mean)/scale; 0 at the kink */
            for (int j = 0; j < D; j++) {
                float e = t[j] - m[j];
                dm[j] = e > 0.0f ? g : (e < 0.0f ? -g : 0.0f);
            }
        }
    }
}
