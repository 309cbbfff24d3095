/* The CUDA backend's operations, one group per file of kernels/. Each has the signature of the
 * matching evae_backend entry (evae/backend/backend.h documents shapes and semantics); cuda_backend.cu
 * puts them in the table. All buffers are device pointers; all work goes on cuda_ctx.stream. */
#ifndef EVAE_CUDA_OPS_CUH
#define EVAE_CUDA_OPS_CUH

#include <stddef.h>
#include <stdint.h>

/* backend.h is a C header without linkage guards */
extern "C" {
#include "evae/backend/backend.h"
}

/* reduce.cu */
void cuda_col_sum(float *out, const float *x, int rows, int cols, float beta);
/* col_sum with caller-provided workspace ws[ws_floats] for its partial sums (for ops that
 * already hold the scratch buffer); cuda_col_sum_ws_floats says how much it can use. */
size_t cuda_col_sum_ws_floats(int rows, int cols);
void cuda_col_sum_ws(float *out, const float *x, int rows, int cols, float beta, float *ws);
double cuda_sum(const float *x, size_t n);
void cuda_channel_sum(float *out, const float *x, int N, int C, int HW, float beta);

/* random.cu */
void cuda_rand_uniform(float *out, size_t n, uint64_t seed, uint64_t stream);
void cuda_rand_normal(float *out, size_t n, uint64_t seed, uint64_t stream);
void cuda_rand_rademacher(float *out, size_t n, uint64_t seed, uint64_t stream);

/* elementwise.cu */
void cuda_axpy(float *y, const float *x, size_t n, float a);
void cuda_gather_rows(float *out, const float *table, const int *idx, int B, int D);
void cuda_bias_act(float *y, const float *b, int rows, int cols, int relu);
void cuda_relu_backward(float *dy, const float *y, size_t n);
void cuda_binarize(float *x, const float *p, const float *u, size_t n);
void cuda_logit_dequantize(float *y, const float *x, const float *u, size_t n, float alpha);
void cuda_reparam(float *z, const float *enc, const float *eps, int B, int d);
void cuda_bernoulli_ll(float *ll, float *dlogits, const float *logits, const float *x, int B,
                       int D, float scale);
void cuda_gauss_posterior(float *ent, float *denc, const float *enc, const float *eps,
                          const float *dz, int B, int d, float ent_grad);
void cuda_channel_bias_act(float *y, const float *b, int N, int C, int HW, int relu);
void cuda_laplace_ll(float *ll, float *dmean, const float *mean, const float *y, int B, int D,
                     float scale, float grad_scale);

/* adam.cu */
void cuda_adam(float *p, float *m, float *v, const float *g, size_t n, float lr, float beta1,
               float beta2, float eps, long t);

/* grbm_energy.cu */
void cuda_grbm_energy(const float *theta, int d, int n, float beta, const float *z, int B,
                      float *E, float *dEdz);
/* grbm_ssm.cu */
void cuda_grbm_ssm(const float *theta, int d, int n, const float *z, int B, const float *v,
                   int M, int variance_reduced, float *J, float *grad);
/* grbm_chains.cu */
void cuda_grbm_langevin(const float *theta, int d, int n, float *z, int B, int steps, float eta,
                        uint64_t seed, uint64_t stream);
void cuda_grbm_gibbs(const float *theta, int d, int n, float *z, int B, int steps, float beta,
                     uint64_t seed, uint64_t stream);

/* conv_cudnn.cu */
void cuda_conv_forward(const evae_conv_shape *s, const float *x, const float *w, float *y);
void cuda_conv_backward_data(const evae_conv_shape *s, const float *dy, const float *w,
                             float *dx);
void cuda_conv_backward_filter(const evae_conv_shape *s, const float *x, const float *dy,
                               float *dw, float beta);

#endif
