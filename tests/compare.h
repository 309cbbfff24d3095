/* Helpers of the tests that compare a backend with the CPU backend (the specification): inputs
 * drawn on the host and copied to both, outputs poisoned with NaN before the op so an element
 * it fails to write is caught, and element-wise comparisons of a result against the CPU's. */
#ifndef EVAE_TESTS_COMPARE_H
#define EVAE_TESTS_COMPARE_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "evae/backend/backend.h"
#include "evae/math/philox.h"

/* unit roundoff of float: every float operation is exact up to a factor (1 + e), |e| <= U */
#define UR ((double)FLT_EPSILON / 2.0)

static const uint64_t TEST_SEED = 0x5eed0fc0dafULL;

static inline void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of host memory\n");
        exit(1);
    }
    return p;
}

/* h[n] = shift + scale * N(0,1) from test stream `stream` */
static inline float *host_normal(size_t n, uint64_t stream, float scale, float shift)
{
    float *h = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = shift + scale * evae_normal_at(TEST_SEED, stream, i);
    return h;
}

/* h[n] uniform in (lo, hi) */
static inline float *host_uniform(size_t n, uint64_t stream, float lo, float hi)
{
    float *h = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = lo + (hi - lo) * evae_uniform_at(TEST_SEED, stream, i);
    return h;
}

/* a buffer of backend be holding host[n] */
static inline float *put(const evae_backend *be, const float *host, size_t n)
{
    float *d = be->alloc(be, n * sizeof(float));
    be->upload(be, d, host, n * sizeof(float));
    return d;
}

/* a buffer of backend be holding n NaNs: an output element the op does not write stays NaN */
static inline float *poisoned_on(const evae_backend *be, size_t n)
{
    float *h = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    float *d = put(be, h, n);
    free(h);
    return d;
}

/* host copy of a backend buffer */
static inline float *get(const evae_backend *be, const float *dev, size_t n)
{
    float *h = xmalloc(n * sizeof(float));
    be->download(be, h, dev, n * sizeof(float));
    return h;
}

/* |got_k - want_k| <= tol_k with tol_k = tol[k] when tol is given, else atol + rtol |want_k|.
 * NaN in got fails (an unwritten or broken element); so does NaN in want (a broken test). One
 * CHECK per array, naming the count of bad elements and the worst one. */
static inline void expect_close(const char *what, const float *got, const float *want, size_t n,
                         const double *tol, double atol, double rtol)
{
    size_t bad = 0, worst = 0;
    double worst_ratio = -1.0;
    for (size_t k = 0; k < n; k++) {
        double g = got[k], w = want[k];
        double t = tol ? tol[k] : atol + rtol * fabs(w);
        double diff = fabs(g - w);
        double ratio = (g == g && w == w) ? diff / (t > 0 ? t : DBL_MIN) : INFINITY;
        if (!(diff <= t) || g != g || w != w) bad++;
        if (ratio > worst_ratio) worst_ratio = ratio, worst = k;
    }
    if (n == 0) return;
    CHECK(bad == 0, "%s: %zu of %zu elements off; worst [%zu] got %.9g want %.9g tol %.3g", what,
          bad, n, worst, (double)got[worst], (double)want[worst],
          tol ? tol[worst] : atol + rtol * fabs((double)want[worst]));
}

/* bitwise equal, NaN matching NaN */
static inline void expect_equal(const char *what, const float *got, const float *want, size_t n)
{
    size_t bad = 0, first = 0;
    for (size_t k = 0; k < n; k++) {
        int same = memcmp(&got[k], &want[k], sizeof(float)) == 0 ||
                   (got[k] != got[k] && want[k] != want[k]);
        if (!same && bad++ == 0) first = k;
    }
    CHECK(bad == 0, "%s: %zu of %zu elements differ; first [%zu] got %.9g want %.9g", what, bad, n,
          first, n ? (double)got[first] : 0.0, n ? (double)want[first] : 0.0);
}

/* No element of got[n] is NaN (outputs poisoned before the op were all written). */
static inline void expect_written(const char *what, const float *got, size_t n)
{
    size_t bad = 0;
    for (size_t k = 0; k < n; k++) bad += got[k] != got[k];
    CHECK(bad == 0, "%s: %zu of %zu elements not written (NaN)", what, bad, n);
}

#endif
