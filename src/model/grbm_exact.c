/* Exact log Z and moments of a small GRBM by enumerating the hidden states (evae/model/grbm_exact.h).
 * Hidden states are visited in Gray-code order, so each step adds or removes one column of W
 * from m_h = mu + W h: O(d) per state instead of O(d n). */
#include "evae/model/grbm_exact.h"

#include <math.h>
#include <stdlib.h>

#include "evae/math/grbm.h"
#include "evae/util.h"

/* Walks h over {0,1}^n; m[d] = mu + W h and bh = b^T h follow it. */
typedef struct {
    const float *theta;
    int d, n;
    double *prec; /* prec[d] = 1/sigma^2 */
    double *m;    /* m[d] = mu + W h */
    double bh;
    double half_mu_norm; /* 0.5 |mu|_D^2 */
    unsigned long k, count;
    unsigned long h;
} hidden_walk;

static int walk_begin(hidden_walk *w, const float *theta, int d, int n)
{
    if (n < 0 || n > EVAE_GRBM_EXACT_MAX_N || d <= 0) {
        evae_error("grbm_exact: d = %d, n = %d out of range (need d > 0, 0 <= n <= %d)", d, n,
                   EVAE_GRBM_EXACT_MAX_N);
        return 1;
    }
    w->theta = theta;
    w->d = d;
    w->n = n;
    w->prec = evae_xcalloc((size_t)d, sizeof(double));
    w->m = evae_xcalloc((size_t)d, sizeof(double));
    const float *mu = theta + evae_grbm_mu(d, n), *ls = theta + evae_grbm_log_sigma(d, n);
    w->half_mu_norm = 0.0;
    for (int i = 0; i < d; i++) {
        w->prec[i] = exp(-2.0 * (double)ls[i]);
        w->m[i] = mu[i];
        w->half_mu_norm += 0.5 * w->prec[i] * (double)mu[i] * mu[i];
    }
    w->bh = 0.0;
    w->k = 0;
    w->h = 0;
    w->count = 1ul << n;
    return 0;
}

/* c_h = b^T h + 0.5 |m_h|_D^2 - 0.5 |mu|_D^2 for the current h */
static double walk_log_weight(const hidden_walk *w)
{
    double q = 0.0;
    for (int i = 0; i < w->d; i++) q += 0.5 * w->prec[i] * w->m[i] * w->m[i];
    return w->bh + q - w->half_mu_norm;
}

/* Moves to the next Gray-code state; returns 0 when all states have been visited. */
static int walk_next(hidden_walk *w)
{
    if (++w->k >= w->count) return 0;
    int j = 0; /* the bit that flips between Gray codes k-1 and k: the lowest set bit of k */
    while (!((w->k >> j) & 1ul)) j++;
    w->h ^= 1ul << j;
    double sign = (w->h >> j) & 1ul ? 1.0 : -1.0;
    const float *W = w->theta + evae_grbm_W(w->d, w->n), *b = w->theta + evae_grbm_b(w->d, w->n);
    for (int i = 0; i < w->d; i++) w->m[i] += sign * W[(size_t)i * w->n + j];
    w->bh += sign * b[j];
    return 1;
}

static void walk_end(hidden_walk *w)
{
    free(w->prec);
    free(w->m);
}

/* Restarts the walk at h = 0 (recomputing m exactly, so no drift carries over). */
static void walk_restart(hidden_walk *w)
{
    walk_end(w);
    walk_begin(w, w->theta, w->d, w->n);
}

/* max_h c_h and ln sum_h exp(c_h - max) */
static void log_weights_lse(hidden_walk *w, double *max_c, double *lse)
{
    double mx = -INFINITY;
    do {
        double c = walk_log_weight(w);
        if (c > mx) mx = c;
    } while (walk_next(w));
    walk_restart(w);
    double s = 0.0;
    do s += exp(walk_log_weight(w) - mx);
    while (walk_next(w));
    walk_restart(w);
    *max_c = mx;
    *lse = log(s);
}

int evae_grbm_exact_log_z(const float *theta, int d, int n, double *log_z)
{
    hidden_walk w;
    if (walk_begin(&w, theta, d, n)) return 1;
    double mx, lse;
    log_weights_lse(&w, &mx, &lse);
    const float *ls = theta + evae_grbm_log_sigma(d, n);
    double base = 0.5 * d * log(2.0 * 3.14159265358979323846);
    for (int i = 0; i < d; i++) base += ls[i];
    *log_z = base + mx + lse;
    walk_end(&w);
    return 0;
}

int evae_grbm_exact_moments(const float *theta, int d, int n, double *mean, double *cov)
{
    hidden_walk w;
    if (walk_begin(&w, theta, d, n)) return 1;
    double mx, lse;
    log_weights_lse(&w, &mx, &lse);
    const double shift = mx + lse; /* pi_h = exp(c_h - shift) */
    for (int i = 0; i < d; i++) mean[i] = 0.0;
    do {
        double pi = exp(walk_log_weight(&w) - shift);
        for (int i = 0; i < d; i++) mean[i] += pi * w.m[i];
    } while (walk_next(&w));
    walk_restart(&w);
    /* cov = diag(sigma^2) + sum_h pi_h (m_h - mean)(m_h - mean)^T: centered, so nothing cancels */
    for (int i = 0; i < d; i++)
        for (int k = 0; k < d; k++) cov[(size_t)i * d + k] = i == k ? 1.0 / w.prec[i] : 0.0;
    do {
        double pi = exp(walk_log_weight(&w) - shift);
        for (int i = 0; i < d; i++)
            for (int k = 0; k < d; k++)
                cov[(size_t)i * d + k] += pi * (w.m[i] - mean[i]) * (w.m[k] - mean[k]);
    } while (walk_next(&w));
    walk_end(&w);
    return 0;
}
