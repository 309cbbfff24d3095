/* An independent double-precision reference of the GRBM energy and score (docs/DESIGN.md
 * sections 1.2-1.3), written out plainly for the CPU gradient tests (theta in double, laid out
 * as evae/math/grbm.h describes), and the central differences those tests take of it. */
#ifndef EVAE_TESTS_GRBM_REFERENCE_H
#define EVAE_TESTS_GRBM_REFERENCE_H

#include <math.h>
#include <stdio.h>

#include "check.h"
#include "evae/math/grbm.h"

typedef struct {
    int d, n;
} dims;

static inline double ref_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static inline double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* a[n] = W^T (z / sigma^2) + b */
static inline void ref_pre(const double *th, dims m, const double *z, double *a)
{
    const double *ls = th + m.d, *W = th + 2 * m.d, *b = th + 2 * m.d + m.d * m.n;
    for (int j = 0; j < m.n; j++) {
        a[j] = b[j];
        for (int i = 0; i < m.d; i++) a[j] += W[i * m.n + j] * z[i] * exp(-2.0 * ls[i]);
    }
}

static inline double ref_energy(const double *th, dims m, double beta, const double *z)
{
    const double *mu = th, *ls = th + m.d;
    double a[64], e = 0.0;
    for (int i = 0; i < m.d; i++) {
        double t = (z[i] - mu[i]) / exp(ls[i]);
        e += 0.5 * t * t;
    }
    ref_pre(th, m, z, a);
    for (int j = 0; j < m.n; j++) e -= ref_softplus(beta * a[j]);
    return e;
}

/* s = -(z - mu)/sigma^2 + W sigmoid(a) / sigma^2 */
static inline void ref_score(const double *th, dims m, const double *z, double *s)
{
    const double *mu = th, *ls = th + m.d, *W = th + 2 * m.d;
    double a[64];
    ref_pre(th, m, z, a);
    for (int i = 0; i < m.d; i++) {
        double wp = 0.0;
        for (int j = 0; j < m.n; j++) wp += W[i * m.n + j] * ref_sigmoid(a[j]);
        s[i] = (-(z[i] - mu[i]) + wp) * exp(-2.0 * ls[i]);
    }
}

/* Central differences of f over every parameter, in double: fd[P] */
typedef double (*theta_fn)(const double *th, void *ctx);
static inline void fd_theta(double *thd, size_t P, theta_fn f, void *ctx, double *fd)
{
    for (size_t p = 0; p < P; p++) {
        const double h = 1e-5;
        double keep = thd[p];
        thd[p] = keep + h;
        double lp = f(thd, ctx);
        thd[p] = keep - h;
        double lm = f(thd, ctx);
        thd[p] = keep;
        fd[p] = (lp - lm) / (2 * h);
    }
}

/* The float gradient against the double differences, block by block (mu, log_sigma, W, b), each
 * relative to its block's largest entry. tol: see the callers. */
static inline void check_blocks(dims m, const float *grad, const double *fd, double tol, const char *what)
{
    size_t P = evae_grbm_size(m.d, m.n);
    const size_t start[5] = {0, (size_t)m.d, 2 * (size_t)m.d, 2 * (size_t)m.d + m.d * m.n, P};
    const char *names[4] = {"mu", "log_sigma", "W", "b"};
    char msg[160];
    for (int blk = 0; blk < 4; blk++) {
        double scale = 1.0;
        for (size_t p = start[blk]; p < start[blk + 1]; p++) scale = fmax(scale, fabs(fd[p]));
        for (size_t p = start[blk]; p < start[blk + 1]; p++) {
            snprintf(msg, sizeof msg, "%s d%s[%zu] d=%d n=%d", what, names[blk], p - start[blk],
                     m.d, m.n);
            CHECK_CLOSE(grad[p], fd[p], tol * scale, tol, msg);
        }
    }
}

#endif
