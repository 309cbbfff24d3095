/* A profiling backend: a backend whose every op is timed and then runs the wrapped backend's op,
 * so that a real training step, driven through the unchanged trainer code (model, objective,
 * network), yields where its time goes, op by op, with the matrix products and convolutions split
 * by shape. Its ctx is a prof_state: the wrapped backend and the counters.
 *
 * On a GPU each op is followed by a synchronization (the interval then covers the op's kernels),
 * which exposes launch latency that an unsynchronized epoch hides: the breakdown shows shares,
 * the epoch benchmark itself runs without it. */
#ifndef EVAE_BENCH_PROFILE_H
#define EVAE_BENCH_PROFILE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/backend/backend.h"
#include "evae/util.h"

/* The timed ops: X(op, return type, (parameters after be), (arguments after be)). gemm and the
 * convolutions are written out below: they also record their shape. */
#define PROF_PLAIN_OPS(X)                                                                          \
    X(upload, void, (void *dst, const void *src, size_t bytes), (dst, src, bytes))                 \
    X(download, void, (void *dst, const void *src, size_t bytes), (dst, src, bytes))               \
    X(copy, void, (void *dst, const void *src, size_t bytes), (dst, src, bytes))                   \
    X(zero, void, (void *dst, size_t bytes), (dst, bytes))                                         \
    X(col_sum, void, (float *out, const float *x, int rows, int cols, float beta),                 \
      (out, x, rows, cols, beta))                                                                  \
    X(axpy, void, (float *y, const float *x, size_t n, float a), (y, x, n, a))                     \
    X(sum, double, (const float *x, size_t n), (x, n))                                             \
    X(accumulate_diff, void, (double *acc, const float *a, const float *b, size_t n),              \
      (acc, a, b, n))                                                                              \
    X(scale, void, (float *x, size_t n, float a), (x, n, a))                                       \
    X(rand_uniform, void, (float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t start),  \
      (out, n, seed, stream, start))                                                               \
    X(rand_normal, void, (float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t start),   \
      (out, n, seed, stream, start))                                                               \
    X(rand_rademacher, void,                                                                       \
      (float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t start),                      \
      (out, n, seed, stream, start))                                                               \
    X(gather_rows, void, (float *out, const float *table, const int *idx, int B, int D),           \
      (out, table, idx, B, D))                                                                     \
    X(bias_act, void, (float *y, const float *b, int rows, int cols, int relu),                    \
      (y, b, rows, cols, relu))                                                                    \
    X(relu_backward, void, (float *dy, const float *y, size_t n), (dy, y, n))                      \
    X(binarize, void, (float *x, const float *p, const float *u, size_t n), (x, p, u, n))          \
    X(logit_dequantize, void, (float *y, const float *x, const float *u, size_t n, float alpha),   \
      (y, x, u, n, alpha))                                                                         \
    X(reparam, void, (float *z, const float *enc, const float *eps, int B, int d),                 \
      (z, enc, eps, B, d))                                                                         \
    X(bernoulli_ll, void,                                                                          \
      (float *ll, float *dl, const float *logits, const float *x, int B, int D, float scale),      \
      (ll, dl, logits, x, B, D, scale))                                                            \
    X(gauss_posterior, void,                                                                       \
      (float *ent, float *denc, const float *enc, const float *eps, const float *dz, int B,        \
       int d, float ent_grad),                                                                     \
      (ent, denc, enc, eps, dz, B, d, ent_grad))                                                   \
    X(adam, void,                                                                                  \
      (float *p, float *m, float *v, const float *g, size_t n, float lr, float b1, float b2,       \
       float eps, long t),                                                                         \
      (p, m, v, g, n, lr, b1, b2, eps, t))                                                         \
    X(grbm_energy, void,                                                                           \
      (const float *theta, int d, int n, float beta, const float *z, int B, float *E,              \
       float *dEdz),                                                                               \
      (theta, d, n, beta, z, B, E, dEdz))                                                          \
    X(grbm_ssm, void,                                                                              \
      (const float *theta, int d, int n, const float *z, int B, const float *v, int M, int vr,     \
       float *J, float *grad),                                                                     \
      (theta, d, n, z, B, v, M, vr, J, grad))                                                      \
    X(grbm_dsm, void,                                                                              \
      (const float *theta, int d, int n, const float *z, int B, const float *offset, float *J,     \
       float *grad),                                                                               \
      (theta, d, n, z, B, offset, J, grad))                                                        \
    X(grbm_param_grad, void,                                                                       \
      (const float *theta, int d, int n, const float *z, int B, const float *w, float beta,        \
       float *grad),                                                                               \
      (theta, d, n, z, B, w, beta, grad))                                                          \
    X(grbm_langevin, void,                                                                         \
      (const float *theta, int d, int n, float *z, int B, int steps, float eta, uint64_t seed,     \
       uint64_t stream),                                                                           \
      (theta, d, n, z, B, steps, eta, seed, stream))                                               \
    X(grbm_gibbs, void,                                                                            \
      (const float *theta, int d, int n, float *z, int B, int steps, float beta, uint64_t seed,    \
       uint64_t stream),                                                                           \
      (theta, d, n, z, B, steps, beta, seed, stream))                                              \
    X(channel_bias_act, void, (float *y, const float *b, int N, int C, int HW, int relu),          \
      (y, b, N, C, HW, relu))                                                                      \
    X(channel_sum, void, (float *out, const float *x, int N, int C, int HW, float beta),           \
      (out, x, N, C, HW, beta))                                                                    \
    X(laplace_ll, void,                                                                            \
      (float *ll, float *dmean, const float *mean, const float *y, int B, int D, float scale,      \
       float grad_scale),                                                                          \
      (ll, dmean, mean, y, B, D, scale, grad_scale))

#define PROF_ENUM(op, ...) P_##op,
enum prof_op {
    PROF_PLAIN_OPS(PROF_ENUM) P_gemm, P_conv_forward, P_conv_backward_data, P_conv_backward_filter,
    P_COUNT
};
#undef PROF_ENUM

#define PROF_NAME(op, ...) #op,
static const char *const prof_op_names[P_COUNT] = {
    PROF_PLAIN_OPS(PROF_NAME) "gemm", "conv_forward", "conv_backward_data",
    "conv_backward_filter"};
#undef PROF_NAME

/* one matrix-product or convolution shape */
typedef struct prof_shape {
    int op;           /* P_gemm or a P_conv_* */
    int key[7];       /* gemm: ta, tb, m, n, k; conv: N, C, H, W, K, R, stride */
    double seconds, flops;
    long calls;
} prof_shape;

#define PROF_MAX_SHAPES 96

/* The profiling backend's ctx. */
typedef struct prof_state {
    evae_backend table;        /* the profiling backend itself; table.ctx points here */
    const evae_backend *inner; /* the backend that does the work */
    int sync;                  /* synchronize around each op (GPU) */
    double seconds[P_COUNT];
    long calls[P_COUNT];
    prof_shape shapes[PROF_MAX_SHAPES];
    int n_shapes;
} prof_state;

static inline prof_state *prof_of(const evae_backend *be) { return (prof_state *)be->ctx; }

static inline double prof_begin(prof_state *p)
{
    if (p->sync) p->inner->sync(p->inner);
    return evae_now();
}

static inline double prof_end(prof_state *p, int op, double t0)
{
    if (p->sync) p->inner->sync(p->inner);
    double dt = evae_now() - t0;
    p->seconds[op] += dt;
    p->calls[op]++;
    return dt;
}

static inline void prof_add_shape(prof_state *p, int op, const int key[7], double dt, double flops)
{
    for (int i = 0; i < p->n_shapes; i++) {
        prof_shape *s = &p->shapes[i];
        if (s->op == op && memcmp(s->key, key, sizeof s->key) == 0) {
            s->seconds += dt;
            s->flops += flops;
            s->calls++;
            return;
        }
    }
    if (p->n_shapes == PROF_MAX_SHAPES) return;
    prof_shape *s = &p->shapes[p->n_shapes++];
    s->op = op;
    memcpy(s->key, key, sizeof s->key);
    s->seconds = dt;
    s->flops = flops;
    s->calls = 1;
}

/* p_<op>: time the wrapped backend's op */
#define PROF_WRAP(op, ret, params, args)                                                           \
    static inline ret p_##op(const evae_backend *be, PROF_UNPAREN params)                          \
    {                                                                                              \
        prof_state *ps = prof_of(be);                                                              \
        double t0 = prof_begin(ps);                                                                \
        PROF_RETURN_##ret(ps->inner->op(ps->inner, PROF_UNPAREN args), prof_end(ps, P_##op, t0));  \
    }
#define PROF_UNPAREN(...) __VA_ARGS__
#define PROF_RETURN_void(call, end) call, (void)end
#define PROF_RETURN_double(call, end)                                                              \
    double r_ = call;                                                                              \
    (void)end;                                                                                     \
    return r_
PROF_PLAIN_OPS(PROF_WRAP)
#undef PROF_WRAP

static inline void p_gemm(const evae_backend *be, int ta, int tb, int m, int n, int k, float alpha,
                          const float *A, const float *B, float beta, float *C)
{
    prof_state *ps = prof_of(be);
    double t0 = prof_begin(ps);
    ps->inner->gemm(ps->inner, ta, tb, m, n, k, alpha, A, B, beta, C);
    double dt = prof_end(ps, P_gemm, t0);
    int key[7] = {ta, tb, m, n, k, 0, 0};
    prof_add_shape(ps, P_gemm, key, dt, 2.0 * m * n * k);
}

static inline void prof_conv_shape(prof_state *ps, int op, const evae_conv_shape *s, double t0)
{
    double dt = prof_end(ps, op, t0);
    int key[7] = {s->N, s->C, s->H, s->W, s->K, s->R, s->stride};
    prof_add_shape(ps, op, key, dt,
                   2.0 * s->N * s->K * evae_conv_P(s) * evae_conv_Q(s) * s->C * s->R * s->S);
}

static inline void p_conv_forward(const evae_backend *be, const evae_conv_shape *s, const float *x,
                                  const float *w, float *y)
{
    prof_state *ps = prof_of(be);
    double t0 = prof_begin(ps);
    ps->inner->conv_forward(ps->inner, s, x, w, y);
    prof_conv_shape(ps, P_conv_forward, s, t0);
}

static inline void p_conv_backward_data(const evae_backend *be, const evae_conv_shape *s,
                                        const float *dy, const float *w, float *dx)
{
    prof_state *ps = prof_of(be);
    double t0 = prof_begin(ps);
    ps->inner->conv_backward_data(ps->inner, s, dy, w, dx);
    prof_conv_shape(ps, P_conv_backward_data, s, t0);
}

static inline void p_conv_backward_filter(const evae_backend *be, const evae_conv_shape *s,
                                          const float *x, const float *dy, float *dw, float beta)
{
    prof_state *ps = prof_of(be);
    double t0 = prof_begin(ps);
    ps->inner->conv_backward_filter(ps->inner, s, x, dy, dw, beta);
    prof_conv_shape(ps, P_conv_backward_filter, s, t0);
}

/* untimed: memory management and the facts for manifests */
static inline void *p_alloc(const evae_backend *be, size_t bytes)
{
    return prof_of(be)->inner->alloc(prof_of(be)->inner, bytes);
}
static inline void p_free(const evae_backend *be, void *ptr)
{
    prof_of(be)->inner->free(prof_of(be)->inner, ptr);
}
static inline void p_sync(const evae_backend *be) { prof_of(be)->inner->sync(prof_of(be)->inner); }
static inline const char *p_describe(const evae_backend *be)
{
    return prof_of(be)->inner->describe(prof_of(be)->inner);
}
static inline const char *p_algorithms(const evae_backend *be)
{
    return prof_of(be)->inner->algorithms(prof_of(be)->inner);
}

/* A profiling backend wrapping `inner`, counters cleared; free with free(). */
static inline prof_state *prof_create(const evae_backend *inner, int sync)
{
    prof_state *p = evae_xcalloc(1, sizeof *p);
    p->inner = inner;
    p->sync = sync;
    evae_backend *t = &p->table;
    t->name = inner->name;
    t->ctx = p;
    t->alloc = p_alloc;
    t->free = p_free;
    t->sync = p_sync;
    t->describe = p_describe;
    t->algorithms = p_algorithms;
    t->gemm = p_gemm;
    t->conv_forward = p_conv_forward;
    t->conv_backward_data = p_conv_backward_data;
    t->conv_backward_filter = p_conv_backward_filter;
#define PROF_SET(op, ...) t->op = p_##op;
    PROF_PLAIN_OPS(PROF_SET)
#undef PROF_SET
    return p;
}

#endif
