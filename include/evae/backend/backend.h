/* The backend interface: a table of operations over buffers that live where the backend computes
 * (host memory for "cpu", device memory for "cuda"). The trainer, the samplers and the evaluator
 * call only these; they never include CUDA headers. The CPU backend (src/backend/cpu/) is the
 * specification: every op exists there first and every CUDA op is tested against it.
 *
 * Conventions: row-major, packed matrices; shapes are given as [rows, cols] in the comments.
 * Random draws are named by (seed, stream) and are identical on every backend (evae/math/philox.h).
 * A GRBM's parameters theta live in one buffer laid out as evae/math/grbm.h describes. */
#ifndef EVAE_BACKEND_H
#define EVAE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* Geometry of one 2-D convolution (cross-correlation, as in cuDNN and PyTorch). */
typedef struct evae_conv_shape {
    int N, C, H, W; /* input: batch, channels, height, width */
    int K, R, S;    /* filters: output channels, filter height, filter width */
    int stride, pad;
} evae_conv_shape;

static inline int evae_conv_P(const evae_conv_shape *s) { return (s->H + 2 * s->pad - s->R) / s->stride + 1; }
static inline int evae_conv_Q(const evae_conv_shape *s) { return (s->W + 2 * s->pad - s->S) / s->stride + 1; }

typedef struct evae_backend evae_backend;

/* Every op takes the table it was read from as its first argument (be->op(be, ...)), so that an
 * op reaches its backend's state through be->ctx: no backend keeps its state in a global. */
struct evae_backend {
    const char *name; /* "cpu" or "cuda" */
    void *ctx;        /* the backend's state (CUDA: device, stream, handles, scratch); CPU: NULL */

    /* ---- memory ---- */
    /* zero-filled; aborts with a message when out of memory */
    void *(*alloc)(const evae_backend *be, size_t bytes);
    void (*free)(const evae_backend *be, void *p);
    void (*upload)(const evae_backend *be, void *dst, const void *host_src, size_t bytes);
    void (*download)(const evae_backend *be, void *host_dst, const void *src, size_t bytes);
    void (*copy)(const evae_backend *be, void *dst, const void *src, size_t bytes);
    /* dst[bytes] = 0 in backend memory (queued like copy, no host buffer) */
    void (*zero)(const evae_backend *be, void *dst, size_t bytes);
    void (*sync)(const evae_backend *be); /* wait for queued work (no-op on the CPU) */
    /* the device and library versions, for manifests */
    const char *(*describe)(const evae_backend *be);
    /* the algorithms the backend chose at run time, for manifests: one line per choice, "" when
     * none yet (CUDA: cuDNN's per convolution shape; CPU: none). Valid until the next call. */
    const char *(*algorithms)(const evae_backend *be);

    /* ---- dense algebra ----
     * C[m,n] = alpha * op(A) op(B) + beta * C, op(A) is [m,k] (A stored [k,m] when trans_a),
     * op(B) is [k,n] (B stored [n,k] when trans_b). */
    void (*gemm)(const evae_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float *A, const float *B, float beta, float *C);
    /* out[cols] = beta * out + sum over rows of x[rows, cols] (bias gradients) */
    void (*col_sum)(const evae_backend *be, float *out, const float *x, int rows, int cols,
                    float beta);
    /* y[n] = a * x + y */
    void (*axpy)(const evae_backend *be, float *y, const float *x, size_t n, float a);
    /* x[n] *= a (a rank's share of a mean over the whole batch) */
    void (*scale)(const evae_backend *be, float *x, size_t n, float a);
    /* sum of x[n], in double, returned to the host (synchronizes) */
    double (*sum)(const evae_backend *be, const float *x, size_t n);
    /* acc[n] += (double)a[n] - (double)b[n]: a running sum of float differences, kept in double
     * where the backend computes (AIS's per-chain log weights, read once at the end) */
    void (*accumulate_diff)(const evae_backend *be, double *acc, const float *a, const float *b,
                            size_t n);

    /* ---- random ----
     * out[k] = draw start + k of (seed, stream) for k < n: a fill from `start` is the slice of the
     * fill from 0 that begins there, so a rank that computes examples [a, b) of a batch draws
     * exactly the numbers those examples get in the whole batch. */
    /* uniform in (0,1) */
    void (*rand_uniform)(const evae_backend *be, float *out, size_t n, uint64_t seed,
                         uint64_t stream, uint64_t start);
    /* standard normal */
    void (*rand_normal)(const evae_backend *be, float *out, size_t n, uint64_t seed,
                        uint64_t stream, uint64_t start);
    /* +1 or -1 with probability 1/2 each: element i is +1 when uniform i of the stream < 0.5 */
    void (*rand_rademacher)(const evae_backend *be, float *out, size_t n, uint64_t seed,
                            uint64_t stream, uint64_t start);

    /* ---- VAE elementwise ---- */
    /* out[B, D] = table[idx[b], :] for b < B; idx[B] lives in backend memory (batch gathering
     * from a data set kept resident where the backend computes) */
    void (*gather_rows)(const evae_backend *be, float *out, const float *table, const int *idx,
                        int B, int D);
    /* y[rows, cols] = act(y + b[cols]); act = ReLU when relu != 0, identity otherwise */
    void (*bias_act)(const evae_backend *be, float *y, const float *b, int rows, int cols,
                     int relu);
    /* dy[n] *= (y[n] > 0): ReLU backward through its output y */
    void (*relu_backward)(const evae_backend *be, float *dy, const float *y, size_t n);
    /* x[n] = (u[n] < p[n]) ? 1 : 0: dynamic binarization of intensities p in [0,1] */
    void (*binarize)(const evae_backend *be, float *x, const float *p, const float *u, size_t n);
    /* y[n] = logit(alpha + (1 - 2 alpha)(x + u)/256): dequantization and the logit transform of
     * 8-bit pixel values x[n] (0..255 as floats) with uniform noise u[n] (evae/data/logit.h) */
    void (*logit_dequantize)(const evae_backend *be, float *y, const float *x, const float *u,
                             size_t n, float alpha);
    /* enc[B, 2d] holds [mean | log-variance]; z[B,d] = mean + exp(logvar/2) * eps[B,d] */
    void (*reparam)(const evae_backend *be, float *z, const float *enc, const float *eps, int B,
                    int d);
    /* Bernoulli decoder: ll[B] = sum_j ln p(x_j | logit_j);
     * dlogits[B,D] = scale * d(ll_b)/d(logit) = scale * (x - sigmoid(logit)) (NULL to skip) */
    void (*bernoulli_ll)(const evae_backend *be, float *ll, float *dlogits, const float *logits,
                         const float *x, int B, int D, float scale);
    /* Gaussian posterior terms: ent[B] = analytic entropy 0.5 * sum_i (1 + ln 2pi + logvar_i)
     * (NULL to skip). Backward through z = mean + exp(logvar/2) eps and through the entropy:
     * given dz[B,d] = dL/dz and ent_grad = dL/d(ent_b) (the same for every b), writes
     * denc[B,2d] = [dz | dz * 0.5 exp(logvar/2) eps + 0.5 ent_grad] (denc NULL to skip). */
    void (*gauss_posterior)(const evae_backend *be, float *ent, float *denc, const float *enc,
                            const float *eps, const float *dz, int B, int d, float ent_grad);
    /* Adam step t (1-based) on p[n] with gradient g of the loss to minimize. */
    void (*adam)(const evae_backend *be, float *p, float *m, float *v, const float *g, size_t n,
                 float lr, float beta1, float beta2, float eps, long t);

    /* ---- GRBM prior (evae/math/grbm.h) ---- theta: [grbm_size(d, n)] */
    /* E[B] = E_beta(z) and dEdz[B,d] = dE_beta/dz (either may be NULL) for z[B,d]; beta scales
     * the coupling (W and b) as in AIS, beta = 1 is the model itself. */
    void (*grbm_energy)(const evae_backend *be, const float *theta, int d, int n, float beta,
                        const float *z, int B, float *E, float *dEdz);
    /* Sliced score matching: J[B] per-example loss, grad[theta] = d mean_b(J_b) / d theta
     * (overwritten). v[B, M, d] are the projections; variance_reduced picks the form. */
    void (*grbm_ssm)(const evae_backend *be, const float *theta, int d, int n, const float *z,
                     int B, const float *v, int M, int variance_reduced, float *J, float *grad);
    /* Denoising score matching's loss: J[B] with J_b = 0.5 |s(z_b) + offset_b|^2, s = -dE/dz,
     * and grad[theta] = d mean_b(J_b) / d theta (overwritten); offset[B,d]. The variance-reduced
     * SSM's 0.5 |s|^2 term with the offset added (one implementation for both ops). */
    void (*grbm_dsm)(const evae_backend *be, const float *theta, int d, int n, const float *z,
                     int B, const float *offset, float *J, float *grad);
    /* The energy's parameter gradient over a weighted batch:
     * grad[theta] = beta * grad + sum_b w_b dE/dtheta(z_b) for z[B,d] and weights w[B] (w NULL:
     * every w_b = 1/B); with beta = 0, grad is overwritten without being read. */
    void (*grbm_param_grad)(const evae_backend *be, const float *theta, int d, int n,
                            const float *z, int B, const float *w, float beta, float *grad);
    /* steps of Langevin z <- z - eta dE/dz + sqrt(2 eta) noise on chains z[B,d] (in place) */
    void (*grbm_langevin)(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                          int steps, float eta, uint64_t seed, uint64_t stream);
    /* steps of block Gibbs at inverse temperature beta on chains z[B,d] (in place):
     * h ~ Bern(sigmoid(beta a(z))), z ~ N(mu + beta W h, sigma^2) */
    void (*grbm_gibbs)(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                       int steps, float beta, uint64_t seed, uint64_t stream);

    /* ---- convolutions (CIFAR-10 model), NCHW ----
     * input x[N,C,H,W], filter w[K,C,R,S], output y[N,K,P,Q] with P = (H + 2 pad - R)/stride + 1.
     * A transposed convolution is conv_backward_data forward and conv_forward backward. */
    void (*conv_forward)(const evae_backend *be, const struct evae_conv_shape *s, const float *x,
                         const float *w, float *y);
    void (*conv_backward_data)(const evae_backend *be, const struct evae_conv_shape *s,
                               const float *dy, const float *w, float *dx);
    /* dw[K,C,R,S] = beta * dw + gradient */
    void (*conv_backward_filter)(const evae_backend *be, const struct evae_conv_shape *s,
                                 const float *x, const float *dy, float *dw, float beta);
    /* y[N,C,HW] = act(y + b[C]) */
    void (*channel_bias_act)(const evae_backend *be, float *y, const float *b, int N, int C, int HW,
                             int relu);
    /* out[C] = beta * out + sum over N and HW of x[N,C,HW] */
    void (*channel_sum)(const evae_backend *be, float *out, const float *x, int N, int C, int HW,
                        float beta);
    /* Laplace decoder with one scale: ll[B] = sum_j -|y - mean|/scale - ln(2 scale);
     * dmean[B,D] = grad_scale * d ll_b / d mean (NULL to skip) */
    void (*laplace_ll)(const evae_backend *be, float *ll, float *dmean, const float *mean,
                       const float *y, int B, int D, float scale, float grad_scale);
};

/* The CPU backend, always present. */
const evae_backend *evae_cpu_backend(void);

/* The CUDA backend when built with CUDA and a device is present; NULL otherwise, with the reason
 * in *why (static string). */
const evae_backend *evae_cuda_backend(const char **why);

/* Makes device `ordinal` modulo the device count the one evae_cuda_backend will use (a rank of a
 * data-parallel run takes the GPU of its local rank). Call before the first evae_cuda_backend;
 * without a device or CUDA it does nothing. Returns the device chosen, -1 when there is none. */
int evae_cuda_use_device(int ordinal);

#endif
