/* The CPU backend's operations, one group per file of src/backend/cpu/, each file the twin of the
 * same-named file of kernels/ (the CUDA backend) holding the same ops. Each has the signature of
 * the matching evae_backend entry (evae/backend/backend.h), which documents shapes and
 * semantics; cpu_backend.c puts them in the table. Outside the backend, call them through the
 * table (evae_cpu_backend()). */
#ifndef EVAE_CPU_OPS_H
#define EVAE_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "evae/backend/backend.h"

/* cpu_backend.c: the table, memory, and the matrix product (which the GRBM ops also use) */
void cpu_gemm(const evae_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *A, const float *B, float beta, float *C);

/* elementwise.c */
void cpu_axpy(const evae_backend *be, float *y, const float *x, size_t n, float a);
void cpu_scale(const evae_backend *be, float *x, size_t n, float a);
void cpu_gather_rows(const evae_backend *be, float *out, const float *table, const int *idx, int B,
                     int D);
void cpu_bias_act(const evae_backend *be, float *y, const float *b, int rows, int cols, int relu);
void cpu_channel_bias_act(const evae_backend *be, float *y, const float *b, int N, int C, int HW,
                          int relu);
void cpu_relu_backward(const evae_backend *be, float *dy, const float *y, size_t n);
void cpu_binarize(const evae_backend *be, float *x, const float *p, const float *u, size_t n);
void cpu_logit_dequantize(const evae_backend *be, float *y, const float *x, const float *u,
                          size_t n, float alpha);
void cpu_reparam(const evae_backend *be, float *z, const float *enc, const float *eps, int B,
                 int d);
void cpu_bernoulli_ll(const evae_backend *be, float *ll, float *dlogits, const float *logits,
                      const float *x, int B, int D, float scale);
void cpu_gauss_posterior(const evae_backend *be, float *ent, float *denc, const float *enc,
                         const float *eps, const float *dz, int B, int d, float ent_grad);
void cpu_laplace_ll(const evae_backend *be, float *ll, float *dmean, const float *mean,
                    const float *y, int B, int D, float scale, float grad_scale);

/* reduce.c */
void cpu_col_sum(const evae_backend *be, float *out, const float *x, int rows, int cols,
                 float beta);
void cpu_channel_sum(const evae_backend *be, float *out, const float *x, int N, int C, int HW,
                     float beta);
double cpu_sum(const evae_backend *be, const float *x, size_t n);
void cpu_accumulate_diff(const evae_backend *be, double *acc, const float *a, const float *b,
                         size_t n);

/* random.c */
void cpu_rand_uniform(const evae_backend *be, float *out, size_t n, uint64_t seed, uint64_t stream,
                      uint64_t start);
void cpu_rand_normal(const evae_backend *be, float *out, size_t n, uint64_t seed, uint64_t stream,
                     uint64_t start);
void cpu_rand_rademacher(const evae_backend *be, float *out, size_t n, uint64_t seed,
                         uint64_t stream, uint64_t start);

/* adam.c */
void cpu_adam(const evae_backend *be, float *p, float *m, float *v, const float *g, size_t n,
              float lr, float beta1, float beta2, float eps, long t);

/* grbm_energy.c */
void cpu_grbm_energy(const evae_backend *be, const float *theta, int d, int n, float beta,
                     const float *z, int B, float *E, float *dEdz);
/* grbm_ssm.c */
void cpu_grbm_ssm(const evae_backend *be, const float *theta, int d, int n, const float *z, int B,
                  const float *v, int M, int variance_reduced, float *J, float *grad);
void cpu_grbm_dsm(const evae_backend *be, const float *theta, int d, int n, const float *z, int B,
                  const float *offset, float *J, float *grad);
/* grbm_param_grad.c */
void cpu_grbm_param_grad(const evae_backend *be, const float *theta, int d, int n, const float *z,
                         int B, const float *w, float beta, float *grad);
/* grbm_chains.c */
void cpu_grbm_langevin(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                       int steps, float eta, uint64_t seed, uint64_t stream);
void cpu_grbm_gibbs(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                    int steps, float beta, uint64_t seed, uint64_t stream);

/* conv.c: convolutions through im2col + sgemm */
void cpu_conv_forward(const evae_backend *be, const evae_conv_shape *s, const float *x,
                      const float *w, float *y);
void cpu_conv_backward_data(const evae_backend *be, const evae_conv_shape *s, const float *dy,
                            const float *w, float *dx);
void cpu_conv_backward_filter(const evae_backend *be, const evae_conv_shape *s, const float *x,
                              const float *dy, float *dw, float beta);

#endif
