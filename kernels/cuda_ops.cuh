/* The CUDA backend's operations, one group per file of kernels/, each file the twin of the
 * same-named file of src/backend/cpu/ holding the same ops (src/backend/cpu/cpu_ops.h lists them
 * in the same order). Each entry has the signature of the matching evae_backend entry
 * (evae/backend/backend.h documents shapes and semantics), checks its arguments
 * (cuda_context.cuh) and hands them to a launcher static to its file; cuda_backend.cu puts the
 * entries in the table. All buffers are device pointers; all work goes on the stream of be's
 * context. */
#ifndef EVAE_CUDA_OPS_CUH
#define EVAE_CUDA_OPS_CUH

#include <stddef.h>
#include <stdint.h>

#include "cuda_context.cuh"

/* cuda_backend.cu: the table, memory, the matrix product (which the GRBM ops also use), and the
 * facts for manifests. cuda_fill_table: the table of every entry on context c. */
void cuda_fill_table(evae_backend *t, cuda_context *c);
void cuda_gemm(const evae_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
               const float *A, const float *B, float beta, float *C);

/* elementwise.cu */
void cuda_axpy(const evae_backend *be, float *y, const float *x, size_t n, float a);
void cuda_scale(const evae_backend *be, float *x, size_t n, float a);
void cuda_gather_rows(const evae_backend *be, float *out, const float *table, const int *idx, int B,
                      int D);
void cuda_bias_act(const evae_backend *be, float *y, const float *b, int rows, int cols, int relu);
void cuda_channel_bias_act(const evae_backend *be, float *y, const float *b, int N, int C, int HW,
                           int relu);
void cuda_relu_backward(const evae_backend *be, float *dy, const float *y, size_t n);
void cuda_binarize(const evae_backend *be, float *x, const float *p, const float *u, size_t n);
void cuda_logit_dequantize(const evae_backend *be, float *y, const float *x, const float *u,
                           size_t n, float alpha);
void cuda_reparam(const evae_backend *be, float *z, const float *enc, const float *eps, int B,
                  int d);
void cuda_bernoulli_ll(const evae_backend *be, float *ll, float *dlogits, const float *logits,
                       const float *x, int B, int D, float scale);
void cuda_gauss_posterior(const evae_backend *be, float *ent, float *denc, const float *enc,
                          const float *eps, const float *dz, int B, int d, float ent_grad);
void cuda_laplace_ll(const evae_backend *be, float *ll, float *dmean, const float *mean,
                     const float *y, int B, int D, float scale, float grad_scale);

/* reduce.cu */
void cuda_col_sum(const evae_backend *be, float *out, const float *x, int rows, int cols,
                  float beta);
void cuda_channel_sum(const evae_backend *be, float *out, const float *x, int N, int C, int HW,
                      float beta);
double cuda_sum(const evae_backend *be, const float *x, size_t n);
void cuda_accumulate_diff(const evae_backend *be, double *acc, const float *a, const float *b,
                          size_t n);
/* col_sum's launcher, for ops that already hold the scratch buffer: its partial sums go to
 * ws[col_sum_workspace_floats(c, rows, cols)] (0 floats: ws may be NULL). No argument checks. */
size_t col_sum_workspace_floats(cuda_context *c, int rows, int cols);
void col_sum_launch(cuda_context *c, float *out, const float *x, int rows, int cols, float beta,
                    float *ws);

/* random.cu */
void cuda_rand_uniform(const evae_backend *be, float *out, size_t n, uint64_t seed,
                       uint64_t stream, uint64_t start);
void cuda_rand_normal(const evae_backend *be, float *out, size_t n, uint64_t seed, uint64_t stream,
                      uint64_t start);
void cuda_rand_rademacher(const evae_backend *be, float *out, size_t n, uint64_t seed,
                          uint64_t stream, uint64_t start);

/* adam.cu */
void cuda_adam(const evae_backend *be, float *p, float *m, float *v, const float *g, size_t n,
               float lr, float beta1, float beta2, float eps, long t);

/* grbm_energy.cu */
void cuda_grbm_energy(const evae_backend *be, const float *theta, int d, int n, float beta,
                      const float *z, int B, float *E, float *dEdz);
/* grbm_ssm.cu */
void cuda_grbm_ssm(const evae_backend *be, const float *theta, int d, int n, const float *z, int B,
                   const float *v, int M, int variance_reduced, float *J, float *grad);
void cuda_grbm_dsm(const evae_backend *be, const float *theta, int d, int n, const float *z, int B,
                   const float *offset, float *J, float *grad);
/* grbm_param_grad.cu */
void cuda_grbm_param_grad(const evae_backend *be, const float *theta, int d, int n, const float *z,
                          int B, const float *w, float beta, float *grad);
/* grbm_chains.cu */
void cuda_grbm_langevin(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                        int steps, float eta, uint64_t seed, uint64_t stream);
void cuda_grbm_gibbs(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                     int steps, float beta, uint64_t seed, uint64_t stream);

/* conv.cu: cuDNN convolutions, and the algorithms cuDNN chose (the table's algorithms()) */
void cuda_conv_forward(const evae_backend *be, const evae_conv_shape *s, const float *x,
                       const float *w, float *y);
void cuda_conv_backward_data(const evae_backend *be, const evae_conv_shape *s, const float *dy,
                             const float *w, float *dx);
void cuda_conv_backward_filter(const evae_backend *be, const evae_conv_shape *s, const float *x,
                               const float *dy, float *dw, float beta);
const char *cuda_algorithms(const evae_backend *be);

#endif
