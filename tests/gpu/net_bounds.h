/* How far the CUDA backend's float32 passes through a whole network may lie from the CPU
 * backend's, for the GPU tests that compare models at the paper's sizes (test_cuda_train).
 * Include after compare.h.
 *
 * Rounding model (Higham & Mary, "A new approach to probabilistic rounding error analysis",
 * SIAM J. Sci. Comput. 41(5), 2019): every rounding is x(1 + delta) with the deltas independent,
 * of mean zero and |delta| <= UR. To first order a computed value v then differs from the exact
 * one by sum_k c_k delta_k, c_k its sensitivity to rounding k, and by Hoeffding's inequality
 * |sum_k c_k delta_k| <= lambda UR sqrt(V) with probability at least 1 - 2 exp(-lambda^2 / 2),
 * V = sum_k c_k^2, the value's "rounding variance" (here in units of UR^2). CPU and CUDA round
 * independently, so their results differ by at most nb_tol(V) = lambda UR sqrt(2 V). With
 * lambda = 10 a bound fails by chance with probability 4e-22 per element (below 1e-15 over the
 * 3.7 million gradient entries of a CIFAR-10 step).
 *
 * Variances through a network. The errors of one example's units share roundings (every unit of
 * a layer reads all of the layer below), so per-unit variances cannot simply be added in
 * quadrature; what propagates is a bound Lam on the largest eigenvalue of the covariance of the
 * example's error vector (sum_k c_k c_k^T). Different examples share no rounding (each output
 * row of a product depends on its own row), so their errors are independent. A layer y = M x
 * (x W, a convolution, its adjoint) with L-term sums, reading an error of covariance <= Lam I:
 *   unit k:   V_k = Lam |m_k|^2 + L (sum_i |m_ki x_i| + |b_k|)^2      (m_k: row k of M)
 *   example:  Lam' = ||M||_2^2 Lam + max_k L (sum_i |m_ki x_i| + |b_k|)^2
 * (the new roundings are independent per unit: a diagonal covariance; L (sum|terms|)^2 bounds a
 * sum's own rounding variance, its at most L roundings each scaled by a partial sum, as in the
 * worst-case bound L UR sum|terms|). ReLU multiplies by 0 or 1, which raises neither bound.
 * ||M||_2^2 comes from 100 power steps on M^T M from a random start, divided by 0.8: by
 * Kuczynski and Wozniakowski (SIAM J. Matrix Anal. Appl. 13(4), 1992, Thm 4.1(a)) the estimate
 * falls below 0.8 ||M||^2 with probability at most 0.824 sqrt(n) 0.8^99.5 < 3e-8 here. A weight
 * gradient dW_ij = sum_b x_bi g_bj sums independent examples: V = sum_b x_bi^2 V_bj +
 * B (sum_b |x_bi g_bj|)^2.
 * Worst-case propagation (sum |w_i| |dx_i|, as if every error took the sign that hurts) grows
 * wider than the gradient itself a few layers down (the CIFAR-10 decoder's first layer, five
 * layers below the output, got a bound below a third of its gradient in 13% of its entries).
 *
 * The componentwise form holds for the GEMM-like algorithms cuBLAS and cuDNN run here; cuDNN's
 * FFT and Winograd algorithms, whose error is bounded normwise, need stride 1, which none of the
 * models' convolutions has (test_cuda_train checks the manifest for them).
 *
 * The products here (of squares and absolute values) are computed with the CPU backend's own ops
 * (OpenBLAS, im2col) on host buffers; they are sums of non-negative terms, so their own float
 * error is at most L UR <= 2% for the lengths here; NB_SLACK = 1.05 covers it. */
#ifndef EVAE_TESTS_NET_BOUNDS_H
#define EVAE_TESTS_NET_BOUNDS_H

#include <math.h>
#include <string.h>

#include "compare.h"
#include "evae/backend/backend.h"
#include "evae/math/philox.h"
#include "evae/model/network.h"

#define NB_LAMBDA 10.0
#define NB_SLACK 1.05

/* the bound on the CPU-CUDA difference of a value of rounding variance V (units of UR^2) */
static inline double nb_tol(double V) { return NB_LAMBDA * UR * sqrt(2.0 * V); }

/* One example's errors: V [B, units] each unit's variance, Lam [B] the covariance's largest
 * eigenvalue, both in units of UR^2. */
typedef struct nb_err {
    float *V;
    double *Lam;
} nb_err;

static inline nb_err nb_err_new(int B, size_t units)
{
    nb_err e = {xmalloc((size_t)B * units * sizeof(float)), xmalloc((size_t)B * sizeof(double))};
    memset(e.V, 0, (size_t)B * units * sizeof(float));
    memset(e.Lam, 0, (size_t)B * sizeof(double));
    return e;
}

static inline void nb_err_free(nb_err *e)
{
    free(e->V), free(e->Lam);
    e->V = NULL, e->Lam = NULL;
}

/* out[n] = |x|^p (p = 1 or 2), malloc'd */
static inline float *nb_pow(const float *x, size_t n, int p)
{
    float *out = xmalloc(n * sizeof(float));
    for (size_t k = 0; k < n; k++) out[k] = p == 2 ? x[k] * x[k] : fabsf(x[k]);
    return out;
}

static inline evae_conv_shape nb_shape(const evae_layer *L, int B)
{
    evae_conv_shape s = L->conv;
    s.N = B;
    return s;
}

/* y[B, out] = the layer's map of a [B, in] with weights w (x W, the convolution, or the
 * transposed convolution); adjoint: x[B, in] from g [B, out]. Through the CPU backend. */
static inline void nb_map(const evae_layer *L, int B, int adjoint, const float *a, const float *w,
                          float *y)
{
    const evae_backend *ref = evae_cpu_backend();
    const evae_conv_shape s = nb_shape(L, B);
    const int conv = L->kind == EVAE_CONV, deconv = L->kind == EVAE_DECONV;
    if (L->kind == EVAE_LINEAR)
        ref->gemm(ref, 0, adjoint, B, adjoint ? L->in_dim : L->out_dim,
                  adjoint ? L->out_dim : L->in_dim, 1.0f, a, w, 0.0f, y);
    else if ((conv && !adjoint) || (deconv && adjoint))
        ref->conv_forward(ref, &s, a, w, y);
    else
        ref->conv_backward_data(ref, &s, a, w, y);
}

/* the number of terms of each output of the map (or its adjoint) */
static inline double nb_len(const evae_layer *L, int adjoint)
{
    const evae_conv_shape *s = &L->conv;
    if (L->kind == EVAE_LINEAR) return adjoint ? L->out_dim : L->in_dim;
    const int input_side = (L->kind == EVAE_CONV) == !adjoint; /* sums over C, else over K */
    return (double)(input_side ? s->C : s->K) * s->R * s->S;
}

/* An upper bound on ||M||_2^2 of the layer's map for one example (see the top). */
static inline double nb_norm_sq(const evae_layer *L, const float *params)
{
    const size_t n = (size_t)L->in_dim;
    float *v = xmalloc(n * sizeof(float)), *y = xmalloc((size_t)L->out_dim * sizeof(float));
    float *u = xmalloc(n * sizeof(float));
    for (size_t k = 0; k < n; k++) v[k] = evae_normal_at(TEST_SEED, 900 + L->w_off, k);
    double theta = 0.0;
    for (int it = 0; it < 100; it++) {
        double vv = 0.0;
        for (size_t k = 0; k < n; k++) vv += (double)v[k] * v[k];
        for (size_t k = 0; k < n; k++) v[k] = (float)(v[k] / sqrt(vv));
        nb_map(L, 1, 0, v, params + L->w_off, y); /* u = M^T M v */
        nb_map(L, 1, 1, y, params + L->w_off, u);
        theta = 0.0;
        for (size_t k = 0; k < n; k++) theta += (double)v[k] * u[k]; /* Rayleigh quotient */
        memcpy(v, u, n * sizeof(float));
    }
    free(v), free(y), free(u);
    return NB_SLACK * theta / 0.8;
}

/* One layer's step of the error bounds, forward (adjoint = 0: x [B, in] the layer's input, out
 * [B, out]) or backward (adjoint = 1: x the gradient into the layer's output after ReLU, out
 * [B, in]): from `in` (the error reading x, Lam only) to `out` (V and Lam), with the terms'
 * sizes |x| |W| (+ |b| forward, bias NULL backward). */
static inline void nb_step(const evae_layer *L, const float *params, int B, int adjoint,
                           const float *x, const float *bias, const nb_err *in, nb_err *out)
{
    const size_t nin = (size_t)B * (adjoint ? L->out_dim : L->in_dim);
    const size_t nout = (size_t)B * (adjoint ? L->in_dim : L->out_dim);
    const int din = (int)(nin / B), dout = (int)(nout / B);
    const float *W = params + L->w_off;
    float *lam = xmalloc(nin * sizeof(float)), *ax = nb_pow(x, nin, 1);
    float *w2 = nb_pow(W, L->w_len, 2), *aw = nb_pow(W, L->w_len, 1);
    float *carried = xmalloc(nout * sizeof(float)), *terms = xmalloc(nout * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int k = 0; k < din; k++) lam[(size_t)b * din + k] = (float)in->Lam[b];
    nb_map(L, B, adjoint, lam, w2, carried); /* Lam |m_k|^2 */
    nb_map(L, B, adjoint, ax, aw, terms);
    const double len = nb_len(L, adjoint) + (bias ? 1 : 0), norm = nb_norm_sq(L, params);
    const int per = L->out_dim / (int)L->b_len; /* outputs per bias: 1, or P Q per channel */
    for (int b = 0; b < B; b++) {
        double worst = 0.0;
        for (int k = 0; k < dout; k++) {
            size_t i = (size_t)b * dout + k;
            double t = terms[i] + (bias ? fabs((double)bias[k / per]) : 0.0);
            double fresh = NB_SLACK * len * t * t;
            out->V[i] = (float)(NB_SLACK * carried[i] + fresh);
            worst = fmax(worst, fresh);
        }
        out->Lam[b] = norm * in->Lam[b] + worst;
    }
    free(lam), free(ax), free(w2), free(aw), free(carried), free(terms);
}

/* Forward through net (params: the whole host parameter buffer) from the CPU's activations
 * acts[] (host; acts[0] the input [B, in]) with the input's error Lam0 [B] (NULL: the same input
 * on both sides). Returns the output's error, [B, out] units. */
static inline nb_err nb_forward(const evae_network *net, const float *params, float *const *acts,
                                const double *Lam0, int B)
{
    nb_err e = nb_err_new(B, (size_t)net->layers[0].in_dim);
    for (int b = 0; b < B; b++) e.Lam[b] = Lam0 ? Lam0[b] : 0.0;
    for (int l = 0; l < net->n_layers; l++) {
        const evae_layer *L = &net->layers[l];
        nb_err next = nb_err_new(B, (size_t)L->out_dim);
        nb_step(L, params, B, 0, acts[l], params + L->b_off, &e, &next);
        nb_err_free(&e);
        e = next;
    }
    return e;
}

/* Backward through net where both sides hold the same activations acts[] (the CPU's, host) and
 * the gradient into the output is g_top [B, out] (values, host) with error top (NULL: the same on
 * both sides). Writes the rounding variance of each weight and bias gradient into
 * V_par[w_off ...], V_par[b_off ...] (over the whole parameter buffer); with gin non-NULL also
 * returns the gradient into the input [B, in] and its error. Per layer, after the ReLU mask:
 *   dW_ij = sum_b x_bi g_bj:  V = sum_b x_bi^2 V_bj + N (sum_b |x_bi g_bj|)^2
 *   db_j  = sum_b g_bj:       V = sum_b V_bj + N (sum_b |g_bj|)^2
 * (N: the terms, B or B P Q for a convolution) and the input gradient by nb_step. */
static inline void nb_backward(const evae_network *net, const float *params, float *const *acts,
                               const float *g_top, const nb_err *top, int B, float *V_par,
                               float **gin, nb_err *ein)
{
    const evae_backend *ref = evae_cpu_backend();
    const size_t n_top = (size_t)B * net->layers[net->n_layers - 1].out_dim;
    float *g = xmalloc(n_top * sizeof(float));
    memcpy(g, g_top, n_top * sizeof(float));
    nb_err e = nb_err_new(B, n_top / B);
    if (top) {
        memcpy(e.V, top->V, n_top * sizeof(float));
        memcpy(e.Lam, top->Lam, (size_t)B * sizeof(double));
    }
    for (int l = net->n_layers - 1; l >= 0; l--) {
        const evae_layer *L = &net->layers[l];
        const float *x = acts[l], *y = acts[l + 1];
        const evae_conv_shape s = nb_shape(L, B);
        const size_t nout = (size_t)B * L->out_dim, nin = (size_t)B * L->in_dim;
        if (L->relu)
            for (size_t k = 0; k < nout; k++)
                if (!(y[k] > 0.0f)) g[k] = 0.0f, e.V[k] = 0.0f;
        const int hw = L->out_dim / (int)L->b_len;
        const int linear = L->kind == EVAE_LINEAR;
        const double nw = linear ? B : (double)B * evae_conv_P(&s) * evae_conv_Q(&s);
        const double nb = linear ? B : (double)B * hw;
        float *x2 = nb_pow(x, nin, 2), *ax = nb_pow(x, nin, 1), *ag = nb_pow(g, nout, 1);
        float *cw = xmalloc(L->w_len * sizeof(float)), *tw = xmalloc(L->w_len * sizeof(float));
        float *cb = xmalloc(L->b_len * sizeof(float)), *tb = xmalloc(L->b_len * sizeof(float));
        if (L->kind == EVAE_LINEAR) {
            ref->gemm(ref, 1, 0, L->in_dim, L->out_dim, B, 1.0f, x2, e.V, 0.0f, cw);
            ref->gemm(ref, 1, 0, L->in_dim, L->out_dim, B, 1.0f, ax, ag, 0.0f, tw);
            ref->col_sum(ref, cb, e.V, B, L->out_dim, 0.0f);
            ref->col_sum(ref, tb, ag, B, L->out_dim, 0.0f);
        } else if (L->kind == EVAE_CONV) {
            ref->conv_backward_filter(ref, &s, x2, e.V, cw, 0.0f);
            ref->conv_backward_filter(ref, &s, ax, ag, tw, 0.0f);
            ref->channel_sum(ref, cb, e.V, B, s.K, hw, 0.0f);
            ref->channel_sum(ref, tb, ag, B, s.K, hw, 0.0f);
        } else { /* the underlying convolution maps this layer's output to its input */
            ref->conv_backward_filter(ref, &s, e.V, x2, cw, 0.0f);
            ref->conv_backward_filter(ref, &s, ag, ax, tw, 0.0f);
            ref->channel_sum(ref, cb, e.V, B, s.C, hw, 0.0f);
            ref->channel_sum(ref, tb, ag, B, s.C, hw, 0.0f);
        }
        for (size_t k = 0; k < L->w_len; k++)
            V_par[L->w_off + k] = (float)(NB_SLACK * (cw[k] + nw * (double)tw[k] * tw[k]));
        for (size_t k = 0; k < L->b_len; k++)
            V_par[L->b_off + k] = (float)(NB_SLACK * (cb[k] + nb * (double)tb[k] * tb[k]));
        free(x2), free(ax), free(ag), free(cw), free(tw), free(cb), free(tb);
        if (l == 0 && !gin) break;
        float *gx = xmalloc(nin * sizeof(float));
        nb_err ex = nb_err_new(B, (size_t)L->in_dim);
        nb_map(L, B, 1, g, params + L->w_off, gx);
        nb_step(L, params, B, 1, g, NULL, &e, &ex);
        free(g), nb_err_free(&e);
        g = gx, e = ex;
    }
    if (gin) {
        *gin = g, *ein = e;
    } else {
        free(g), nb_err_free(&e);
    }
}

/* The rounding variance of a linear functional of a network's output, exactly to first order in
 * the model above (no eigenvalue bound): adj [R, out] the functional's weights on each row's
 * output, carried back through the network's linearization at acts[] (its ReLU masks); every
 * layer's fresh roundings (L + 1) (|x| |W| + |b|)^2 per unit enter with the square of the
 * adjoint there. V[R] += that variance; returns the adjoint at the input [R, in] (malloc'd), so a
 * caller can carry the functional on into what produced the input. */
static inline float *nb_functional(const evae_network *net, const float *params,
                                   float *const *acts, const float *adj, int R, double *V)
{
    const size_t n_top = (size_t)R * net->layers[net->n_layers - 1].out_dim;
    float *a = xmalloc(n_top * sizeof(float));
    memcpy(a, adj, n_top * sizeof(float));
    for (int l = net->n_layers - 1; l >= 0; l--) {
        const evae_layer *L = &net->layers[l];
        const size_t nin = (size_t)R * L->in_dim, nout = (size_t)R * L->out_dim;
        if (L->relu)
            for (size_t k = 0; k < nout; k++)
                if (!(acts[l + 1][k] > 0.0f)) a[k] = 0.0f;
        float *ax = nb_pow(acts[l], nin, 1), *aw = nb_pow(params + L->w_off, L->w_len, 1);
        float *terms = xmalloc(nout * sizeof(float));
        nb_map(L, R, 0, ax, aw, terms);
        const double len = nb_len(L, 0) + 1;
        const int per = L->out_dim / (int)L->b_len;
        for (int r = 0; r < R; r++) {
            double v = 0.0;
            for (int k = 0; k < L->out_dim; k++) {
                size_t i = (size_t)r * L->out_dim + k;
                double t = terms[i] + fabs((double)params[L->b_off + k / per]);
                v += (double)a[i] * a[i] * len * t * t;
            }
            V[r] += NB_SLACK * v;
        }
        float *ain = xmalloc(nin * sizeof(float));
        nb_map(L, R, 1, a, params + L->w_off, ain);
        free(ax), free(aw), free(terms), free(a);
        a = ain;
    }
    return a;
}

#endif
