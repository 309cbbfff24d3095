/* The CPU backend's operations, one group per file of src/backend/cpu/. Each has the signature of the
 * matching evae_backend entry (evae/backend/backend.h), which documents shapes and semantics; tests may
 * call these directly. */
#ifndef EVAE_CPU_OPS_H
#define EVAE_CPU_OPS_H

#include "evae/backend/backend.h"

/* src/backend/cpu/grbm_cpu.c: GRBM energy, score matching, samplers */
void cpu_grbm_energy(const evae_backend *be, const float *theta, int d, int n, float beta,
                     const float *z, int B, float *E, float *dEdz);
void cpu_grbm_ssm(const evae_backend *be, const float *theta, int d, int n, const float *z, int B,
                  const float *v, int M, int variance_reduced, float *J, float *grad);
void cpu_grbm_langevin(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                       int steps, float eta, uint64_t seed, uint64_t stream);
void cpu_grbm_gibbs(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                    int steps, float beta, uint64_t seed, uint64_t stream);

/* src/backend/cpu/conv_cpu.c: convolutions (im2col + sgemm), channel bias, Laplace likelihood */
void cpu_conv_forward(const evae_backend *be, const evae_conv_shape *s, const float *x,
                      const float *w, float *y);
void cpu_conv_backward_data(const evae_backend *be, const evae_conv_shape *s, const float *dy,
                            const float *w, float *dx);
void cpu_conv_backward_filter(const evae_backend *be, const evae_conv_shape *s, const float *x,
                              const float *dy, float *dw, float beta);
void cpu_channel_bias_act(const evae_backend *be, float *y, const float *b, int N, int C, int HW,
                          int relu);
void cpu_channel_sum(const evae_backend *be, float *out, const float *x, int N, int C, int HW,
                     float beta);
void cpu_laplace_ll(const evae_backend *be, float *ll, float *dmean, const float *mean,
                    const float *y, int B, int D, float scale, float grad_scale);

#endif
