/* A profiling backend: a copy of a backend's op table whose every op is timed, so that a real
 * training step, driven through the unchanged trainer code (model, objective, network), yields
 * where its time goes, op by op, with the matrix products and convolutions split by shape.
 *
 * On a GPU each op is followed by a synchronization (the interval then covers the op's kernels),
 * which exposes launch latency that an unsynchronized epoch hides: the breakdown shows shares,
 * the epoch benchmark itself runs without it. The backend table has no context pointer, so the
 * state is one static per program (benchmarks are single-threaded). */
#ifndef EVAE_BENCH_PROFILE_H
#define EVAE_BENCH_PROFILE_H

#include <stdio.h>
#include <string.h>

#include "evae/backend/backend.h"
#include "evae/util.h"

enum prof_op {
    P_UPLOAD, P_DOWNLOAD, P_COPY, P_GEMM, P_COL_SUM, P_AXPY, P_SUM, P_RAND_UNIFORM, P_RAND_NORMAL,
    P_RAND_RADEMACHER, P_GATHER_ROWS, P_BIAS_ACT, P_RELU_BACKWARD, P_BINARIZE, P_LOGIT_DEQUANTIZE,
    P_REPARAM, P_BERNOULLI_LL, P_GAUSS_POSTERIOR, P_ADAM, P_GRBM_ENERGY, P_GRBM_SSM,
    P_GRBM_LANGEVIN, P_GRBM_GIBBS, P_CONV_FORWARD, P_CONV_BACKWARD_DATA, P_CONV_BACKWARD_FILTER,
    P_CHANNEL_BIAS_ACT, P_CHANNEL_SUM, P_LAPLACE_LL, P_COUNT
};

static const char *const prof_op_names[P_COUNT] = {
    "upload", "download", "copy", "gemm", "col_sum", "axpy", "sum", "rand_uniform", "rand_normal",
    "rand_rademacher", "gather_rows", "bias_act", "relu_backward", "binarize", "logit_dequantize",
    "reparam", "bernoulli_ll", "gauss_posterior", "adam", "grbm_energy", "grbm_ssm",
    "grbm_langevin", "grbm_gibbs", "conv_forward", "conv_backward_data", "conv_backward_filter",
    "channel_bias_act", "channel_sum", "laplace_ll"};

/* one matrix-product or convolution shape */
typedef struct prof_shape {
    int op;           /* P_GEMM or a P_CONV_* */
    int key[7];       /* gemm: ta, tb, m, n, k; conv: N, C, H, W, K, R, stride */
    double seconds, flops;
    long calls;
} prof_shape;

#define PROF_MAX_SHAPES 96

static struct prof_state {
    const evae_backend *inner;
    evae_backend table;
    int sync;                  /* synchronize around each op (GPU) */
    double seconds[P_COUNT];
    long calls[P_COUNT];
    prof_shape shapes[PROF_MAX_SHAPES];
    int n_shapes;
} prof;

static inline double prof_begin(void)
{
    if (prof.sync) prof.inner->sync();
    return evae_now();
}

static inline double prof_end(int op, double t0)
{
    if (prof.sync) prof.inner->sync();
    double dt = evae_now() - t0;
    prof.seconds[op] += dt;
    prof.calls[op]++;
    return dt;
}

static inline void prof_add_shape(int op, const int key[7], double dt, double flops)
{
    for (int i = 0; i < prof.n_shapes; i++) {
        prof_shape *s = &prof.shapes[i];
        if (s->op == op && memcmp(s->key, key, sizeof s->key) == 0) {
            s->seconds += dt;
            s->flops += flops;
            s->calls++;
            return;
        }
    }
    if (prof.n_shapes == PROF_MAX_SHAPES) return;
    prof_shape *s = &prof.shapes[prof.n_shapes++];
    s->op = op;
    memcpy(s->key, key, sizeof s->key);
    s->seconds = dt;
    s->flops = flops;
    s->calls = 1;
}

static inline void p_upload(void *dst, const void *src, size_t bytes)
{
    double t0 = prof_begin();
    prof.inner->upload(dst, src, bytes);
    prof_end(P_UPLOAD, t0);
}
static inline void p_download(void *dst, const void *src, size_t bytes)
{
    double t0 = prof_begin();
    prof.inner->download(dst, src, bytes);
    prof_end(P_DOWNLOAD, t0);
}
static inline void p_copy(void *dst, const void *src, size_t bytes)
{
    double t0 = prof_begin();
    prof.inner->copy(dst, src, bytes);
    prof_end(P_COPY, t0);
}
static inline void p_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A,
                   const float *B, float beta, float *C)
{
    double t0 = prof_begin();
    prof.inner->gemm(ta, tb, m, n, k, alpha, A, B, beta, C);
    double dt = prof_end(P_GEMM, t0);
    int key[7] = {ta, tb, m, n, k, 0, 0};
    prof_add_shape(P_GEMM, key, dt, 2.0 * m * n * k);
}
static inline void p_col_sum(float *out, const float *x, int rows, int cols, float beta)
{
    double t0 = prof_begin();
    prof.inner->col_sum(out, x, rows, cols, beta);
    prof_end(P_COL_SUM, t0);
}
static inline void p_axpy(float *y, const float *x, size_t n, float a)
{
    double t0 = prof_begin();
    prof.inner->axpy(y, x, n, a);
    prof_end(P_AXPY, t0);
}
static inline double p_sum(const float *x, size_t n)
{
    double t0 = prof_begin();
    double r = prof.inner->sum(x, n);
    prof_end(P_SUM, t0);
    return r;
}
static inline void p_rand_uniform(float *out, size_t n, uint64_t seed, uint64_t stream)
{
    double t0 = prof_begin();
    prof.inner->rand_uniform(out, n, seed, stream);
    prof_end(P_RAND_UNIFORM, t0);
}
static inline void p_rand_normal(float *out, size_t n, uint64_t seed, uint64_t stream)
{
    double t0 = prof_begin();
    prof.inner->rand_normal(out, n, seed, stream);
    prof_end(P_RAND_NORMAL, t0);
}
static inline void p_rand_rademacher(float *out, size_t n, uint64_t seed, uint64_t stream)
{
    double t0 = prof_begin();
    prof.inner->rand_rademacher(out, n, seed, stream);
    prof_end(P_RAND_RADEMACHER, t0);
}
static inline void p_gather_rows(float *out, const float *table, const int *idx, int B, int D)
{
    double t0 = prof_begin();
    prof.inner->gather_rows(out, table, idx, B, D);
    prof_end(P_GATHER_ROWS, t0);
}
static inline void p_bias_act(float *y, const float *b, int rows, int cols, int relu)
{
    double t0 = prof_begin();
    prof.inner->bias_act(y, b, rows, cols, relu);
    prof_end(P_BIAS_ACT, t0);
}
static inline void p_relu_backward(float *dy, const float *y, size_t n)
{
    double t0 = prof_begin();
    prof.inner->relu_backward(dy, y, n);
    prof_end(P_RELU_BACKWARD, t0);
}
static inline void p_binarize(float *x, const float *p, const float *u, size_t n)
{
    double t0 = prof_begin();
    prof.inner->binarize(x, p, u, n);
    prof_end(P_BINARIZE, t0);
}
static inline void p_logit_dequantize(float *y, const float *x, const float *u, size_t n, float alpha)
{
    double t0 = prof_begin();
    prof.inner->logit_dequantize(y, x, u, n, alpha);
    prof_end(P_LOGIT_DEQUANTIZE, t0);
}
static inline void p_reparam(float *z, const float *enc, const float *eps, int B, int d)
{
    double t0 = prof_begin();
    prof.inner->reparam(z, enc, eps, B, d);
    prof_end(P_REPARAM, t0);
}
static inline void p_bernoulli_ll(float *ll, float *dl, const float *logits, const float *x, int B, int D,
                           float scale)
{
    double t0 = prof_begin();
    prof.inner->bernoulli_ll(ll, dl, logits, x, B, D, scale);
    prof_end(P_BERNOULLI_LL, t0);
}
static inline void p_gauss_posterior(float *ent, float *denc, const float *enc, const float *eps,
                              const float *dz, int B, int d, float ent_grad)
{
    double t0 = prof_begin();
    prof.inner->gauss_posterior(ent, denc, enc, eps, dz, B, d, ent_grad);
    prof_end(P_GAUSS_POSTERIOR, t0);
}
static inline void p_adam(float *p, float *m, float *v, const float *g, size_t n, float lr, float b1,
                   float b2, float eps, long t)
{
    double t0 = prof_begin();
    prof.inner->adam(p, m, v, g, n, lr, b1, b2, eps, t);
    prof_end(P_ADAM, t0);
}
static inline void p_grbm_energy(const float *theta, int d, int n, float beta, const float *z, int B,
                          float *E, float *dEdz)
{
    double t0 = prof_begin();
    prof.inner->grbm_energy(theta, d, n, beta, z, B, E, dEdz);
    prof_end(P_GRBM_ENERGY, t0);
}
static inline void p_grbm_ssm(const float *theta, int d, int n, const float *z, int B, const float *v,
                       int M, int vr, float *J, float *grad)
{
    double t0 = prof_begin();
    prof.inner->grbm_ssm(theta, d, n, z, B, v, M, vr, J, grad);
    prof_end(P_GRBM_SSM, t0);
}
static inline void p_grbm_langevin(const float *theta, int d, int n, float *z, int B, int steps,
                            float eta, uint64_t seed, uint64_t stream)
{
    double t0 = prof_begin();
    prof.inner->grbm_langevin(theta, d, n, z, B, steps, eta, seed, stream);
    prof_end(P_GRBM_LANGEVIN, t0);
}
static inline void p_grbm_gibbs(const float *theta, int d, int n, float *z, int B, int steps, float beta,
                         uint64_t seed, uint64_t stream)
{
    double t0 = prof_begin();
    prof.inner->grbm_gibbs(theta, d, n, z, B, steps, beta, seed, stream);
    prof_end(P_GRBM_GIBBS, t0);
}
static inline double prof_conv_flops(const evae_conv_shape *s)
{
    return 2.0 * s->N * s->K * evae_conv_P(s) * evae_conv_Q(s) * s->C * s->R * s->S;
}
static inline void prof_conv_shape(int op, const evae_conv_shape *s, double dt)
{
    int key[7] = {s->N, s->C, s->H, s->W, s->K, s->R, s->stride};
    prof_add_shape(op, key, dt, prof_conv_flops(s));
}
static inline void p_conv_forward(const evae_conv_shape *s, const float *x, const float *w, float *y)
{
    double t0 = prof_begin();
    prof.inner->conv_forward(s, x, w, y);
    prof_conv_shape(P_CONV_FORWARD, s, prof_end(P_CONV_FORWARD, t0));
}
static inline void p_conv_backward_data(const evae_conv_shape *s, const float *dy, const float *w,
                                 float *dx)
{
    double t0 = prof_begin();
    prof.inner->conv_backward_data(s, dy, w, dx);
    prof_conv_shape(P_CONV_BACKWARD_DATA, s, prof_end(P_CONV_BACKWARD_DATA, t0));
}
static inline void p_conv_backward_filter(const evae_conv_shape *s, const float *x, const float *dy,
                                   float *dw, float beta)
{
    double t0 = prof_begin();
    prof.inner->conv_backward_filter(s, x, dy, dw, beta);
    prof_conv_shape(P_CONV_BACKWARD_FILTER, s, prof_end(P_CONV_BACKWARD_FILTER, t0));
}
static inline void p_channel_bias_act(float *y, const float *b, int N, int C, int HW, int relu)
{
    double t0 = prof_begin();
    prof.inner->channel_bias_act(y, b, N, C, HW, relu);
    prof_end(P_CHANNEL_BIAS_ACT, t0);
}
static inline void p_channel_sum(float *out, const float *x, int N, int C, int HW, float beta)
{
    double t0 = prof_begin();
    prof.inner->channel_sum(out, x, N, C, HW, beta);
    prof_end(P_CHANNEL_SUM, t0);
}
static inline void p_laplace_ll(float *ll, float *dmean, const float *mean, const float *y, int B, int D,
                         float scale, float grad_scale)
{
    double t0 = prof_begin();
    prof.inner->laplace_ll(ll, dmean, mean, y, B, D, scale, grad_scale);
    prof_end(P_LAPLACE_LL, t0);
}

/* The timed table wrapping `inner` (counters cleared). */
static inline const evae_backend *prof_backend(const evae_backend *inner, int sync)
{
    memset(&prof, 0, sizeof prof);
    prof.inner = inner;
    prof.sync = sync;
    prof.table = *inner; /* alloc, free, sync, describe pass through */
    evae_backend *t = &prof.table;
    t->upload = p_upload;
    t->download = p_download;
    t->copy = p_copy;
    t->gemm = p_gemm;
    t->col_sum = p_col_sum;
    t->axpy = p_axpy;
    t->sum = p_sum;
    t->rand_uniform = p_rand_uniform;
    t->rand_normal = p_rand_normal;
    t->rand_rademacher = p_rand_rademacher;
    t->gather_rows = p_gather_rows;
    t->bias_act = p_bias_act;
    t->relu_backward = p_relu_backward;
    t->binarize = p_binarize;
    t->logit_dequantize = p_logit_dequantize;
    t->reparam = p_reparam;
    t->bernoulli_ll = p_bernoulli_ll;
    t->gauss_posterior = p_gauss_posterior;
    t->adam = p_adam;
    t->grbm_energy = p_grbm_energy;
    t->grbm_ssm = p_grbm_ssm;
    t->grbm_langevin = p_grbm_langevin;
    t->grbm_gibbs = p_grbm_gibbs;
    t->conv_forward = p_conv_forward;
    t->conv_backward_data = p_conv_backward_data;
    t->conv_backward_filter = p_conv_backward_filter;
    t->channel_bias_act = p_channel_bias_act;
    t->channel_sum = p_channel_sum;
    t->laplace_ll = p_laplace_ll;
    return t;
}

/* Clears the counters, keeping the wrapped table. */
static inline void prof_reset(void)
{
    memset(prof.seconds, 0, sizeof prof.seconds);
    memset(prof.calls, 0, sizeof prof.calls);
    memset(prof.shapes, 0, sizeof prof.shapes);
    prof.n_shapes = 0;
}

#endif
