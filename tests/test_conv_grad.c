/* CPU convolutions (src/backend/cpu/conv.c) against an independent double-precision reference.
 *
 * For each geometry, two layers:
 *  - conv layer      y = conv(x, w) + b[K]           L = sum(G .* y), G[N,K,P,Q] random
 *      forward        cpu_conv_forward                 vs a direct 7-loop gather in double
 *      dL/dx          cpu->conv_backward_data(cpu, G, w)     vs central differences of L in double
 *      dL/dw          cpu->conv_backward_filter(cpu, x, G)   vs central differences
 *      dL/db          cpu->channel_sum(cpu, G)               vs central differences
 *  - transposed conv o = convT(a, w) + c[C]          L = sum(G .* o), a[N,K,P,Q], G[N,C,H,W]
 *      forward        cpu->conv_backward_data(cpu, a, w)     vs a direct scatter loop in double
 *      dL/da          cpu->conv_forward(cpu, G, w)
 *      dL/dw          cpu->conv_backward_filter(cpu, G, a)
 *      dL/dc          cpu->channel_sum(cpu, G)
 * The reference loss is its own code (gather for the conv, scatter for the transposed conv),
 * sharing nothing with the im2col/sgemm path under test.
 *
 * Tolerances. Every entry checked is a float sum of M products of numbers in [-1, 1]. Its
 * partial sums have size ~ sqrt(M)/3 and each of the M additions rounds by up to u = 2^-24 of
 * that, so the accumulated error spreads like M u / 3. TOL(M) = 4 M u is twelve such spreads
 * (the worst seen here is about a quarter of it, printed at the end), and for the largest M in
 * this file (11520) it is still 3e-3, far below one misplaced term (~1/4): indexing slips fail
 * by orders of magnitude. The loss is linear in every input, so the central difference has no
 * truncation error; its double rounding (~1e-16 |L| / h) is negligible. */
#include "check.h"
#include "evae/backend/backend.h"
#include "evae/math/philox.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

static const evae_backend *cpu; /* the specification, called through its table */

#define TOL(M) ((double)(M) * 2.0 * FLT_EPSILON) /* 4 M u, see above */
#define FD_STEP 1e-3
#define FD_SUBSET 12 /* entries checked per tensor when checking all would be slow */

static uint64_t rng_index = 0;

/* uniform in (-1, 1) from a fixed Philox stream: reproducible runs */
static float rand_pm1(void) { return 2.0f * evae_uniform_at(12345, 7, rng_index++) - 1.0f; }

static float *rand_tensor(size_t n)
{
    float *t = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) t[i] = rand_pm1();
    return t;
}

static double *to_double(const float *t, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = t[i];
    return d;
}

/* ---- the double-precision reference ---- */

/* y[N,K,P,Q] = x[N,C,H,W] (*) w[K,C,R,S], gathered output by output */
static void ref_conv(const evae_conv_shape *s, const double *x, const double *w, double *y)
{
    const int P = evae_conv_P(s), Q = evae_conv_Q(s);
    for (int n = 0; n < s->N; n++)
        for (int k = 0; k < s->K; k++)
            for (int p = 0; p < P; p++)
                for (int q = 0; q < Q; q++) {
                    double acc = 0.0;
                    for (int c = 0; c < s->C; c++)
                        for (int r = 0; r < s->R; r++)
                            for (int f = 0; f < s->S; f++) {
                                int h = p * s->stride - s->pad + r, v = q * s->stride - s->pad + f;
                                if (h < 0 || h >= s->H || v < 0 || v >= s->W) continue;
                                acc += x[((n * s->C + c) * s->H + h) * s->W + v] *
                                       w[((k * s->C + c) * s->R + r) * s->S + f];
                            }
                    y[((n * s->K + k) * P + p) * Q + q] = acc;
                }
}

/* o[N,C,H,W] = transposed conv of a[N,K,P,Q] with w[K,C,R,S]: every input scatters its
 * filter-weighted copy onto the output positions it would have been computed from */
static void ref_conv_transposed(const evae_conv_shape *s, const double *a, const double *w,
                                double *o)
{
    const int P = evae_conv_P(s), Q = evae_conv_Q(s);
    memset(o, 0, (size_t)s->N * s->C * s->H * s->W * sizeof(double));
    for (int n = 0; n < s->N; n++)
        for (int k = 0; k < s->K; k++)
            for (int p = 0; p < P; p++)
                for (int q = 0; q < Q; q++) {
                    double av = a[((n * s->K + k) * P + p) * Q + q];
                    for (int c = 0; c < s->C; c++)
                        for (int r = 0; r < s->R; r++)
                            for (int f = 0; f < s->S; f++) {
                                int h = p * s->stride - s->pad + r, v = q * s->stride - s->pad + f;
                                if (h < 0 || h >= s->H || v < 0 || v >= s->W) continue;
                                o[((n * s->C + c) * s->H + h) * s->W + v] +=
                                    av * w[((k * s->C + c) * s->R + r) * s->S + f];
                            }
                }
}

/* One layer under test in double: input in[], weights w[], bias b[], loss weights G[]. */
typedef struct problem {
    evae_conv_shape s;
    int transposed;
    double *in, *w, *b, *G;
    double *out; /* scratch for the layer output */
    size_t out_img, out_ch_len; /* per-image output size; positions per output channel */
    int out_ch;
} problem;

static double problem_loss(const problem *pb)
{
    if (pb->transposed)
        ref_conv_transposed(&pb->s, pb->in, pb->w, pb->out);
    else
        ref_conv(&pb->s, pb->in, pb->w, pb->out);
    double L = 0.0;
    size_t i = 0;
    for (int n = 0; n < pb->s.N; n++)
        for (int c = 0; c < pb->out_ch; c++)
            for (size_t j = 0; j < pb->out_ch_len; j++, i++) L += pb->G[i] * (pb->out[i] + pb->b[c]);
    return L;
}

/* Compare got[n] with central differences of the loss in v[n] (one of pb's arrays): all
 * entries, or FD_SUBSET spread over the tensor. Returns max |got - fd| / tol. */
static double check_fd(problem *pb, double *v, size_t n, const float *got, double tol, int all,
                       const char *what)
{
    double worst = 0.0;
    size_t count = all || n < FD_SUBSET ? n : FD_SUBSET;
    for (size_t t = 0; t < count; t++) {
        size_t i = count == n ? t : (size_t)(evae_uniform_at(99, 3, rng_index++) * n) % n;
        double saved = v[i];
        v[i] = saved + FD_STEP;
        double lp = problem_loss(pb);
        v[i] = saved - FD_STEP;
        double lm = problem_loss(pb);
        v[i] = saved;
        double fd = (lp - lm) / (2.0 * FD_STEP);
        char label[160];
        snprintf(label, sizeof label, "%s[%zu]", what, i);
        CHECK_CLOSE(got[i], fd, tol, 0.0, label);
        double e = fabs(got[i] - fd) / tol;
        if (e > worst) worst = e;
    }
    return worst;
}

typedef struct geometry {
    const char *name;
    evae_conv_shape s;
    int fd_all; /* finite-difference every entry (small cases) */
} geometry;

static double worst_ratio = 0.0;
static void note(double r)
{
    if (r > worst_ratio) worst_ratio = r;
}

/* Conv layer: forward vs the gather reference; gradients vs finite differences. */
static void test_conv_layer(const geometry *g)
{
    const evae_conv_shape *s = &g->s;
    const int P = evae_conv_P(s), Q = evae_conv_Q(s);
    const size_t nx = (size_t)s->N * s->C * s->H * s->W, nw = (size_t)s->K * s->C * s->R * s->S,
                 ny = (size_t)s->N * s->K * P * Q;
    float *x = rand_tensor(nx), *w = rand_tensor(nw), *b = rand_tensor(s->K),
          *G = rand_tensor(ny);
    problem pb = {*s, 0, to_double(x, nx), to_double(w, nw), to_double(b, s->K),
                  to_double(G, ny), malloc(ny * sizeof(double)), (size_t)s->K * P * Q,
                  (size_t)P * Q, s->K};
    char what[160];

    /* forward: y = conv(x, w) + b, through channel_bias_act without ReLU */
    float *y = malloc(ny * sizeof(float));
    cpu->conv_forward(cpu, s, x, w, y);
    cpu->channel_bias_act(cpu, y, b, s->N, s->K, P * Q, 0);
    ref_conv(s, pb.in, pb.w, pb.out);
    double tol_y = TOL(s->C * s->R * s->S + 1);
    for (size_t i = 0; i < ny; i++) {
        double want = pb.out[i] + pb.b[(i / ((size_t)P * Q)) % s->K];
        snprintf(what, sizeof what, "%s conv forward y[%zu]", g->name, i);
        CHECK_CLOSE(y[i], want, tol_y, 0.0, what);
        note(fabs(y[i] - want) / tol_y);
    }

    /* gradients of L = sum(G .* y) */
    float *dx = malloc(nx * sizeof(float)), *dw = malloc(nw * sizeof(float)),
          *db = malloc(s->K * sizeof(float));
    for (size_t i = 0; i < nx; i++) dx[i] = NAN; /* every entry must be written */
    for (size_t i = 0; i < nw; i++) dw[i] = NAN; /* beta = 0 must not read dw */
    for (int i = 0; i < s->K; i++) db[i] = NAN;
    cpu->conv_backward_data(cpu, s, G, w, dx);
    cpu->conv_backward_filter(cpu, s, x, G, dw, 0.0f);
    cpu->channel_sum(cpu, db, G, s->N, s->K, P * Q, 0.0f);
    snprintf(what, sizeof what, "%s conv dx", g->name);
    note(check_fd(&pb, pb.in, nx, dx, TOL(s->K * s->R * s->S), g->fd_all, what));
    snprintf(what, sizeof what, "%s conv dw", g->name);
    note(check_fd(&pb, pb.w, nw, dw, TOL(s->N * P * Q), g->fd_all, what));
    snprintf(what, sizeof what, "%s conv db", g->name);
    note(check_fd(&pb, pb.b, s->K, db, TOL(s->N * P * Q), 1, what));

    /* beta: dw = beta * dw + gradient, db likewise */
    float *dw2 = malloc(nw * sizeof(float)), *db2 = malloc(s->K * sizeof(float));
    for (size_t i = 0; i < nw; i++) dw2[i] = 2.0f * rand_pm1();
    for (int i = 0; i < s->K; i++) db2[i] = 2.0f * rand_pm1();
    float *dw2_before = malloc(nw * sizeof(float)), *db2_before = malloc(s->K * sizeof(float));
    memcpy(dw2_before, dw2, nw * sizeof(float));
    memcpy(db2_before, db2, s->K * sizeof(float));
    cpu->conv_backward_filter(cpu, s, x, G, dw2, 0.5f);
    cpu->channel_sum(cpu, db2, G, s->N, s->K, P * Q, 0.5f);
    for (size_t i = 0; i < nw; i++) {
        snprintf(what, sizeof what, "%s conv dw beta=0.5 [%zu]", g->name, i);
        CHECK_CLOSE(dw2[i], 0.5 * dw2_before[i] + dw[i], TOL(s->N * P * Q), 0.0,
                    what);
    }
    for (int i = 0; i < s->K; i++) {
        snprintf(what, sizeof what, "%s channel_sum beta=0.5 [%d]", g->name, i);
        CHECK_CLOSE(db2[i], 0.5 * db2_before[i] + db[i], TOL(s->N * P * Q), 0.0,
                    what);
    }

    free(dw2); free(db2); free(dw2_before); free(db2_before);
    free(dx); free(dw); free(db); free(y);
    free(pb.in); free(pb.w); free(pb.b); free(pb.G); free(pb.out);
    free(x); free(w); free(b); free(G);
}

/* Transposed conv layer with the same geometry read backwards: input a[N,K,P,Q], output
 * o[N,C,H,W]. */
static void test_transposed_layer(const geometry *g)
{
    const evae_conv_shape *s = &g->s;
    const int P = evae_conv_P(s), Q = evae_conv_Q(s), HW = s->H * s->W;
    const size_t na = (size_t)s->N * s->K * P * Q, nw = (size_t)s->K * s->C * s->R * s->S,
                 no = (size_t)s->N * s->C * HW;
    float *a = rand_tensor(na), *w = rand_tensor(nw), *c = rand_tensor(s->C),
          *G = rand_tensor(no);
    problem pb = {*s, 1, to_double(a, na), to_double(w, nw), to_double(c, s->C),
                  to_double(G, no), malloc(no * sizeof(double)), (size_t)s->C * HW, (size_t)HW,
                  s->C};
    char what[160];

    /* forward: o = convT(a, w) + c */
    float *o = malloc(no * sizeof(float));
    cpu->conv_backward_data(cpu, s, a, w, o);
    cpu->channel_bias_act(cpu, o, c, s->N, s->C, HW, 0);
    ref_conv_transposed(s, pb.in, pb.w, pb.out);
    double tol_o = TOL(s->K * s->R * s->S + 1);
    for (size_t i = 0; i < no; i++) {
        double want = pb.out[i] + pb.b[(i / (size_t)HW) % s->C];
        snprintf(what, sizeof what, "%s convT forward o[%zu]", g->name, i);
        CHECK_CLOSE(o[i], want, tol_o, 0.0, what);
        note(fabs(o[i] - want) / tol_o);
    }

    /* gradients of L = sum(G .* o) */
    float *da = malloc(na * sizeof(float)), *dw = malloc(nw * sizeof(float)),
          *dc = malloc(s->C * sizeof(float));
    for (size_t i = 0; i < na; i++) da[i] = NAN;
    for (size_t i = 0; i < nw; i++) dw[i] = NAN;
    cpu->conv_forward(cpu, s, G, w, da);
    cpu->conv_backward_filter(cpu, s, G, a, dw, 0.0f);
    cpu->channel_sum(cpu, dc, G, s->N, s->C, HW, 0.0f);
    snprintf(what, sizeof what, "%s convT da", g->name);
    note(check_fd(&pb, pb.in, na, da, TOL(s->C * s->R * s->S), g->fd_all, what));
    snprintf(what, sizeof what, "%s convT dw", g->name);
    note(check_fd(&pb, pb.w, nw, dw, TOL(s->N * P * Q), g->fd_all, what));
    snprintf(what, sizeof what, "%s convT dc", g->name);
    note(check_fd(&pb, pb.b, s->C, dc, TOL(s->N * HW), 1, what));

    free(da); free(dw); free(dc); free(o);
    free(pb.in); free(pb.w); free(pb.b); free(pb.G); free(pb.out);
    free(a); free(w); free(c); free(G);
}

/* channel_bias_act with ReLU: exact (one float add, then max with 0) */
static void test_bias_relu(void)
{
    const int N = 3, C = 4, HW = 10;
    const size_t n = (size_t)N * C * HW;
    float *y = rand_tensor(n), *b = rand_tensor(C), *y0 = malloc(n * sizeof(float));
    memcpy(y0, y, n * sizeof(float));
    cpu->channel_bias_act(cpu, y, b, N, C, HW, 1);
    int bad = 0, zeros = 0;
    for (size_t i = 0; i < n; i++) {
        float v = y0[i] + b[(i / HW) % C];
        float want = v > 0.0f ? v : 0.0f;
        bad += y[i] != want;
        zeros += y[i] == 0.0f;
    }
    CHECK(bad == 0, "channel_bias_act relu: %d entries differ", bad);
    CHECK(zeros > 0 && zeros < (int)n, "relu test data should hit both sides (zeros %d)", zeros);
    free(y); free(b); free(y0);
}

int main(void)
{
    cpu = evae_cpu_backend();
    /* {N, C, H, W, K, R, S, stride, pad} */
    const geometry geoms[] = {
        {"3x3s1p1", {2, 3, 8, 8, 4, 3, 3, 1, 1}, 1},
        {"4x4s2p1 non-square", {3, 2, 8, 6, 5, 4, 4, 2, 1}, 1},
        {"3x3s2p0 unused last row", {2, 3, 8, 9, 2, 3, 3, 2, 0}, 1},
        {"1x1s1p0", {2, 4, 5, 5, 3, 1, 1, 1, 0}, 1},
        {"2x3s3p2 rect filter", {2, 2, 7, 6, 3, 2, 3, 3, 2}, 1},
        /* the model's geometries: encoder layer 2 and decoder layer 1 (channels cut to keep
         * the double reference fast) */
        {"encoder 4x4s2p1 16x16", {2, 16, 16, 16, 24, 4, 4, 2, 1}, 0},
        {"decoder 4x4s2p1 4x4<-2x2", {3, 32, 4, 4, 32, 4, 4, 2, 1}, 0},
        /* one image's im2col is 144 x 2304 floats: the batch runs in several chunks */
        {"chunked 3x3s1p1 48x48", {5, 16, 48, 48, 2, 3, 3, 1, 1}, 0},
    };
    for (size_t i = 0; i < sizeof geoms / sizeof geoms[0]; i++) {
        test_conv_layer(&geoms[i]);
        test_transposed_layer(&geoms[i]);
    }
    test_bias_relu();
    printf("worst |error| / tolerance: %.3g\n", worst_ratio);
    return check_report("test_conv_grad");
}
