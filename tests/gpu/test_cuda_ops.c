/* Every CUDA backend op except the GRBM's (test_cuda_grbm.c) against the CPU backend on the same
 * inputs: memory, gemm, reductions, random fills, the VAE's elementwise ops, Adam, convolutions.
 * Sizes are odd on purpose (not multiples of any block size); outputs are poisoned with NaN
 * before each CUDA op so an element it fails to write fails the comparison.
 *
 * Tolerances. UR = 2^-24 is float's unit roundoff. CPU and CUDA evaluate the same formulas in a
 * different order (sums) or with different roundings (fused multiply-add on the GPU, libm vs CUDA
 * math functions, which the CUDA guide bounds at 1-2 ulp for expf, logf, log1pf, sinf, cosf). A
 * sum of L float terms computed in any order is within L UR sum|terms| of the exact sum, so two
 * orders differ by at most 2 L UR sum|terms|; each tolerance below is of that form, with the
 * term magnitudes computed in double on the host. Elementwise ops with no rounding difference
 * are compared bit for bit. Exits 77 (skipped) without a CUDA device. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef EVAE_HAVE_CUDA
#include "check.h"
#include "cuda_testing.h"
#include "evae/backend/backend.h"
#include "evae/math/philox.h"
#include "gpu/gpu_compare.h"

static void test_device_facts(void)
{
    const char *what = cu->describe(cu);
    CHECK(what && strstr(what, "cuBLAS") && strstr(what, "sm_"), "describe() = '%s'",
          what ? what : "(null)");
    printf("device: %s\n", what ? what : "(null)");
    /* evae/math/philox.h is cuRAND's PHILOX4_32_10: same words for the same (seed, stream, offset) */
    long bad = evae_cuda_philox_mismatches(cu, TEST_SEED, 12345, (size_t)1 << 16);
    CHECK(bad == 0, "%ld Philox words differ from cuRAND's", bad);
    bad = evae_cuda_philox_mismatches(cu, UINT64_MAX, evae_stream(EVAE_STREAM_SAMPLER, 77), 4099);
    CHECK(bad == 0, "%ld Philox words differ from cuRAND's (large seed and stream)", bad);
}

static void test_memory(void)
{
    const size_t n = 1037;
    float *zero = cu->alloc(cu, n * sizeof(float));
    float *h = get(cu, zero, n);
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero += h[i] != 0.0f;
    CHECK(nonzero == 0, "alloc: %zu of %zu floats not zero", nonzero, n);
    free(h);
    float *src = host_normal(n, 1, 1.0f, 0.0f);
    float *a = put(cu, src, n), *b = poisoned(n);
    cu->copy(cu, b, a, n * sizeof(float));
    cu->sync(cu);
    h = get(cu, b, n);
    expect_equal("upload + copy + download", h, src, n);
    free(h);

    /* zero: floats [off, off + len) of a filled buffer become 0, the others keep their values */
    const size_t off = 100, len = 537;
    float *want = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) want[i] = i >= off && i < off + len ? 0.0f : src[i];
    float *zc = put(cpu, src, n), *zg = put(cu, src, n);
    cpu->zero(cpu, zc + off, len * sizeof(float));
    cu->zero(cu, zg + off, len * sizeof(float));
    cu->zero(cu, zg, 0); /* nothing to do */
    h = get(cpu, zc, n);
    expect_equal("zero (cpu)", h, want, n);
    free(h);
    h = get(cu, zg, n);
    expect_equal("zero", h, want, n);
    free(h), free(want);
    cpu->free(cpu, zc), cu->free(cu, zg);
    free(src);
    cu->free(cu, a);
    cu->free(cu, b);
    cu->free(cu, zero);
}

/* gemm: each C element is a dot product of k terms plus beta C; two orders differ by at most
 * 2 (k + 2) UR (|alpha| sum_l |op(A)_il op(B)_lj| + |beta C_ij|). cuBLAS runs in FP32 (no TF32). */
static void test_gemm_case(int ta, int tb, int m, int n, int k, float alpha, float beta)
{
    size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
    float *A = host_normal(na, 10, 1.0f, 0.0f), *B = host_normal(nb, 11, 1.0f, 0.0f);
    float *C = host_normal(nc, 12, 1.0f, 0.0f);
    double *tol = xmalloc(nc * sizeof(double));
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int l = 0; l < k; l++) {
                double a = ta ? A[(size_t)l * m + i] : A[(size_t)i * k + l];
                double b = tb ? B[(size_t)j * k + l] : B[(size_t)l * n + j];
                s += fabs(a * b);
            }
            double c = beta != 0.0f ? fabs((double)beta * C[(size_t)i * n + j]) : 0.0;
            tol[(size_t)i * n + j] = 2.0 * (k + 2) * UR * (fabs(alpha) * s + c);
        }
    float *Ac = put(cpu, A, na), *Bc = put(cpu, B, nb), *Cc = cpu->alloc(cpu, nc * sizeof(float));
    if (beta != 0.0f) cpu->upload(cpu, Cc, C, nc * sizeof(float));
    float *Ag = put(cu, A, na), *Bg = put(cu, B, nb);
    float *Cg = beta != 0.0f ? put(cu, C, nc) : poisoned(nc); /* beta = 0: C is not read */
    cpu->gemm(cpu, ta, tb, m, n, k, alpha, Ac, Bc, beta, Cc);
    cu->gemm(cu, ta, tb, m, n, k, alpha, Ag, Bg, beta, Cg);
    float *got = get(cu, Cg, nc);
    char what[96];
    snprintf(what, sizeof what, "gemm ta=%d tb=%d m=%d n=%d k=%d beta=%g", ta, tb, m, n, k, beta);
    expect_close(what, got, Cc, nc, tol, 0, 0);
    free(got);
    free(tol);
    free(A), free(B), free(C);
    cpu->free(cpu, Ac), cpu->free(cpu, Bc), cpu->free(cpu, Cc);
    cu->free(cu, Ag), cu->free(cu, Bg), cu->free(cu, Cg);
}

static void test_gemm(void)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            test_gemm_case(ta, tb, 37, 53, 29, 0.7f, 0.3f);
            test_gemm_case(ta, tb, 65, 33, 130, 1.0f, 0.0f);
        }
    test_gemm_case(0, 0, 1, 1, 1, 2.0f, -1.0f);
    test_gemm_case(1, 0, 5, 1, 300, 1.0f, 0.0f);
    test_gemm_case(0, 1, 300, 257, 129, -0.5f, 1.0f);
}

/* col_sum: the CPU adds rows in order in float (error <= rows UR sum|x|); the CUDA kernel adds
 * runs of at most ceil(rows/8) rows per thread, then 8 warps' sums, then at most ceil(rows/64)
 * slices (error <= (rows/8 + 8 + rows/64 + 1) UR sum|x|). tol = sum of both bounds. */
static void test_col_sum_case(int rows, int cols, float beta)
{
    size_t nx = (size_t)rows * cols;
    float *x = host_normal(nx, 20, 1.0f, 0.3f), *out0 = host_normal((size_t)cols, 21, 1.0f, 0.0f);
    double *tol = xmalloc((size_t)cols * sizeof(double));
    double L = rows + (rows + 7) / 8 + 8 + (rows + 63) / 64 + 2;
    for (int j = 0; j < cols; j++) {
        double s = beta != 0.0f ? fabs((double)beta * out0[j]) : 0.0;
        for (int r = 0; r < rows; r++) s += fabs((double)x[(size_t)r * cols + j]);
        tol[j] = L * UR * s;
    }
    float *xc = put(cpu, x, nx), *oc = cpu->alloc(cpu, (size_t)cols * sizeof(float));
    if (beta != 0.0f) cpu->upload(cpu, oc, out0, (size_t)cols * sizeof(float));
    float *xg = put(cu, x, nx);
    float *og = beta != 0.0f ? put(cu, out0, (size_t)cols) : poisoned((size_t)cols);
    cpu->col_sum(cpu, oc, xc, rows, cols, beta);
    cu->col_sum(cu, og, xg, rows, cols, beta);
    float *got = get(cu, og, (size_t)cols);
    char what[80];
    snprintf(what, sizeof what, "col_sum rows=%d cols=%d beta=%g", rows, cols, beta);
    expect_close(what, got, oc, (size_t)cols, tol, 0, 0);
    free(got), free(tol), free(x), free(out0);
    cpu->free(cpu, xc), cpu->free(cpu, oc), cu->free(cu, xg), cu->free(cu, og);
}

static void test_reductions(void)
{
    test_col_sum_case(1000, 45, 0.0f);
    test_col_sum_case(3, 70, 0.5f);
    test_col_sum_case(700, 1, 1.0f);
    test_col_sum_case(4099, 513, 0.0f);

    /* sum: both accumulate the floats in double, so they differ only by double rounding in a
     * different order: <= 2 n DBL_EPSILON sum|x|. */
    const size_t n = 1000003;
    float *x = host_normal(n, 22, 1.0f, 0.5f);
    double abs_sum = 0.0;
    for (size_t i = 0; i < n; i++) abs_sum += fabs((double)x[i]);
    float *xc = put(cpu, x, n), *xg = put(cu, x, n);
    double want = cpu->sum(cpu, xc, n), got = cu->sum(cu, xg, n);
    CHECK_CLOSE(got, want, 2.0 * n * DBL_EPSILON * abs_sum, 0.0, "sum of 1000003 floats");
    CHECK(cu->sum(cu, xg, 1) == (double)x[0], "sum of one float");

    /* axpy: y + a x with one or two roundings (FMA on the GPU): <= 2 UR (|a x| + |y|) + UR |y'| */
    float *y = host_normal(n, 23, 1.0f, 0.0f);
    float *yc = put(cpu, y, n), *yg = put(cu, y, n);
    cpu->axpy(cpu, yc, xc, n, -0.37f);
    cu->axpy(cu, yg, xg, n, -0.37f);
    float *got_y = get(cu, yg, n);
    double *tol = xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        tol[i] = 3.0 * UR * (fabs(-0.37 * x[i]) + fabs((double)y[i]) + fabs((double)yc[i]));
    expect_close("axpy", got_y, yc, n, tol, 0, 0);
    free(tol), free(got_y), free(y), free(x);
    cpu->free(cpu, xc), cpu->free(cpu, yc), cu->free(cu, xg), cu->free(cu, yg);
}

/* Random fills. Uniforms and Rademacher signs are exact (24 random bits scaled by a power of
 * two); normals go through logf, sqrtf, sinf/cosf, which differ between libm and CUDA by at
 * most 2 ulp each: within 8 ulp = 16 UR of |x| (plus 1e-30 for exact zeros). */
static void test_random(void)
{
    const size_t n = 100003;
    uint64_t seeds[] = {0, 1, TEST_SEED, UINT64_MAX};
    uint64_t streams[] = {0, 7, evae_stream(EVAE_STREAM_REPARAM, 123456789), UINT64_MAX};
    float *c = cpu->alloc(cpu, n * sizeof(float));
    for (int s = 0; s < 4; s++) {
        float *g = poisoned(n);
        char what[96];
        cpu->rand_uniform(cpu, c, n, seeds[s], streams[s]);
        cu->rand_uniform(cu, g, n, seeds[s], streams[s]);
        float *h = get(cu, g, n);
        snprintf(what, sizeof what, "rand_uniform seed %d", s);
        expect_equal(what, h, c, n);
        free(h);

        cpu->rand_rademacher(cpu, c, n, seeds[s], streams[s]);
        cu->rand_rademacher(cu, g, n, seeds[s], streams[s]);
        h = get(cu, g, n);
        snprintf(what, sizeof what, "rand_rademacher seed %d", s);
        expect_equal(what, h, c, n);
        free(h);

        cpu->rand_normal(cpu, c, n, seeds[s], streams[s]);
        cu->rand_normal(cu, g, n, seeds[s], streams[s]);
        h = get(cu, g, n);
        snprintf(what, sizeof what, "rand_normal seed %d", s);
        expect_close(what, h, c, n, NULL, 1e-30, 16.0 * UR);
        free(h);
        cu->free(cu, g);
    }
    cpu->free(cpu, c);
}

/* Elementwise ops without rounding differences: bit for bit, NaN included (bias_act lets NaN
 * through; relu_backward zeroes where !(y > 0)). */
static void test_exact_elementwise(void)
{
    /* gather_rows */
    const int T = 50, D = 37, B = 23;
    float *table = host_normal((size_t)T * D, 30, 1.0f, 0.0f);
    int idx[23];
    for (int b = 0; b < B; b++) idx[b] = (int)(evae_uniform_at(TEST_SEED, 31, (uint64_t)b) * T);
    idx[0] = T - 1, idx[1] = 0;
    float *tc = put(cpu, table, (size_t)T * D), *tg = put(cu, table, (size_t)T * D);
    int *ic = cpu->alloc(cpu, sizeof idx), *ig = cu->alloc(cu, sizeof idx);
    cpu->upload(cpu, ic, idx, sizeof idx);
    cu->upload(cu, ig, idx, sizeof idx);
    float *oc = cpu->alloc(cpu, (size_t)B * D * sizeof(float)), *og = poisoned((size_t)B * D);
    cpu->gather_rows(cpu, oc, tc, ic, B, D);
    cu->gather_rows(cu, og, tg, ig, B, D);
    float *h = get(cu, og, (size_t)B * D);
    expect_equal("gather_rows", h, oc, (size_t)B * D);
    free(h), free(table);
    cpu->free(cpu, tc), cpu->free(cpu, ic), cpu->free(cpu, oc), cu->free(cu, tg), cu->free(cu, ig);
    cu->free(cu, og);

    /* bias_act, relu off and on, with a NaN and values that land exactly on 0 */
    const int rows = 37, cols = 130;
    const size_t ny = (size_t)rows * cols;
    for (int relu = 0; relu < 2; relu++) {
        float *y = host_normal(ny, 32, 1.0f, 0.0f), *b = host_normal((size_t)cols, 33, 1.0f, 0.0f);
        y[5] = NAN;
        y[cols + 3] = -b[3];
        float *yc = put(cpu, y, ny), *bc = put(cpu, b, (size_t)cols);
        float *yg = put(cu, y, ny), *bg = put(cu, b, (size_t)cols);
        cpu->bias_act(cpu, yc, bc, rows, cols, relu);
        cu->bias_act(cu, yg, bg, rows, cols, relu);
        h = get(cu, yg, ny);
        expect_equal(relu ? "bias_act relu" : "bias_act", h, yc, ny);
        free(h), free(y), free(b);
        cpu->free(cpu, yc), cpu->free(cpu, bc), cu->free(cu, yg), cu->free(cu, bg);
    }

    /* relu_backward with zeros, negatives and a NaN in y */
    const size_t n = 10007;
    float *dy = host_normal(n, 34, 1.0f, 0.0f), *y = host_normal(n, 35, 1.0f, 0.0f);
    y[0] = 0.0f, y[1] = -0.0f, y[2] = NAN;
    float *dyc = put(cpu, dy, n), *yc = put(cpu, y, n), *dyg = put(cu, dy, n), *yg = put(cu, y, n);
    cpu->relu_backward(cpu, dyc, yc, n);
    cu->relu_backward(cu, dyg, yg, n);
    h = get(cu, dyg, n);
    expect_equal("relu_backward", h, dyc, n);
    free(h), free(dy), free(y);
    cpu->free(cpu, dyc), cpu->free(cpu, yc), cu->free(cu, dyg), cu->free(cu, yg);

    /* binarize, with u == p ties */
    float *p = host_uniform(n, 36, 0.0f, 1.0f), *u = host_uniform(n, 37, 0.0f, 1.0f);
    u[0] = p[0], u[9] = p[9];
    float *pc = put(cpu, p, n), *uc = put(cpu, u, n), *pg = put(cu, p, n), *ug = put(cu, u, n);
    float *xc = cpu->alloc(cpu, n * sizeof(float)), *xg = poisoned(n);
    cpu->binarize(cpu, xc, pc, uc, n);
    cu->binarize(cu, xg, pg, ug, n);
    h = get(cu, xg, n);
    expect_equal("binarize", h, xc, n);
    free(h), free(p), free(u);
    cpu->free(cpu, pc), cpu->free(cpu, uc), cpu->free(cpu, xc), cu->free(cu, pg), cu->free(cu, ug);
    cu->free(cu, xg);

    /* channel_bias_act, relu off and on */
    const int N = 3, C = 5, HW = 37;
    const size_t nc = (size_t)N * C * HW;
    for (int relu = 0; relu < 2; relu++) {
        float *t = host_normal(nc, 38, 1.0f, 0.0f), *b = host_normal((size_t)C, 39, 1.0f, 0.0f);
        float *tc2 = put(cpu, t, nc), *bc = put(cpu, b, (size_t)C);
        float *tg2 = put(cu, t, nc), *bg = put(cu, b, (size_t)C);
        cpu->channel_bias_act(cpu, tc2, bc, N, C, HW, relu);
        cu->channel_bias_act(cu, tg2, bg, N, C, HW, relu);
        h = get(cu, tg2, nc);
        expect_equal(relu ? "channel_bias_act relu" : "channel_bias_act", h, tc2, nc);
        free(h), free(t), free(b);
        cpu->free(cpu, tc2), cpu->free(cpu, bc), cu->free(cu, tg2), cu->free(cu, bg);
    }
}

/* logit_dequantize: s = alpha + gain (x + u) rounds up to 3 times (or fused), so |ds| <= 3 UR s;
 * y = ln s - ln(1 - s) moves by ds / (s (1 - s)), and logf, log1pf add 1-2 ulp each:
 * tol = 2 UR (3 / (1 - s) + 2 (|ln s| + |ln(1 - s)|) + |y|), doubled for the two sides. */
static void test_logit_dequantize(void)
{
    const size_t n = 30011;
    const float alpha = 0.05f;
    float *x = host_uniform(n, 40, 0.0f, 256.0f), *u = host_uniform(n, 41, 0.0f, 1.0f);
    for (size_t i = 0; i < n; i++) x[i] = floorf(x[i]) > 255.0f ? 255.0f : floorf(x[i]);
    x[0] = 0.0f, x[1] = 255.0f;
    double *tol = xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        double s = alpha + (1.0 - 2.0 * alpha) / 256.0 * ((double)x[i] + u[i]);
        double y = log(s) - log1p(-s);
        tol[i] = 4.0 * UR * (3.0 / (1.0 - s) + 2.0 * (fabs(log(s)) + fabs(log1p(-s))) + fabs(y));
    }
    float *xc = put(cpu, x, n), *uc = put(cpu, u, n), *xg = put(cu, x, n), *ug = put(cu, u, n);
    float *yc = cpu->alloc(cpu, n * sizeof(float)), *yg = poisoned(n);
    cpu->logit_dequantize(cpu, yc, xc, uc, n, alpha);
    cu->logit_dequantize(cu, yg, xg, ug, n, alpha);
    float *h = get(cu, yg, n);
    expect_close("logit_dequantize", h, yc, n, tol, 0, 0);
    free(h), free(tol), free(x), free(u);
    cpu->free(cpu, xc), cpu->free(cpu, uc), cpu->free(cpu, yc), cu->free(cu, xg), cu->free(cu, ug);
    cu->free(cu, yg);
}

/* reparam: mean + expf(lv/2) eps: expf (<= 2 ulp), one product, one sum (maybe fused):
 * tol = 2 UR (|mean| + 4 |e eps| + |z|) for each side, doubled. */
static void test_reparam(void)
{
    const int B = 37, d = 67;
    const size_t nz = (size_t)B * d;
    float *enc = host_normal(2 * nz, 50, 1.0f, 0.0f), *eps = host_normal(nz, 51, 1.0f, 0.0f);
    double *tol = xmalloc(nz * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int i = 0; i < d; i++) {
            double mean = enc[(size_t)b * 2 * d + i], lv = enc[(size_t)b * 2 * d + d + i];
            double e = exp(0.5 * lv) * eps[(size_t)b * d + i];
            tol[(size_t)b * d + i] = 4.0 * UR * (fabs(mean) + 4.0 * fabs(e) + fabs(mean + e));
        }
    float *ec = put(cpu, enc, 2 * nz), *nc = put(cpu, eps, nz);
    float *eg = put(cu, enc, 2 * nz), *ng = put(cu, eps, nz);
    float *zc = cpu->alloc(cpu, nz * sizeof(float)), *zg = poisoned(nz);
    cpu->reparam(cpu, zc, ec, nc, B, d);
    cu->reparam(cu, zg, eg, ng, B, d);
    float *h = get(cu, zg, nz);
    expect_close("reparam", h, zc, nz, tol, 0, 0);
    free(h), free(tol), free(enc), free(eps);
    cpu->free(cpu, ec), cpu->free(cpu, nc), cpu->free(cpu, zc), cu->free(cu, eg), cu->free(cu, ng);
    cu->free(cu, zg);
}

/* bernoulli_ll: each term x l - softplus(l) carries <= 6 ulp (expf, log1pf, three roundings) of
 * |x l| + softplus(l); the rows are summed in double on both sides: tol = 2 * 12 UR sum of those.
 * dlogits = scale (x - sigmoid(l)) with |x|, sigmoid <= 1: <= 6 UR |scale| per side. */
static void test_bernoulli_ll(void)
{
    const int B = 37, D = 785;
    const size_t n = (size_t)B * D;
    const float scale = -0.125f;
    float *l = host_normal(n, 60, 3.0f, 0.0f), *p = host_uniform(n, 61, 0.0f, 1.0f);
    float *x = xmalloc(n * sizeof(float));
    for (size_t k = 0; k < n; k++) x[k] = p[k] < 0.3f ? 1.0f : 0.0f;
    l[0] = 0.0f, l[1] = 80.0f, l[2] = -80.0f; /* softplus's branches and its saturation */
    double tol_ll[37];
    for (int b = 0; b < B; b++) {
        double s = 0.0;
        for (int j = 0; j < D; j++) {
            double lj = l[(size_t)b * D + j];
            s += fabs(x[(size_t)b * D + j] * lj) + (lj > 0 ? lj : 0) + log1p(exp(-fabs(lj)));
        }
        tol_ll[b] = 24.0 * UR * s;
    }
    float *lc = put(cpu, l, n), *xc = put(cpu, x, n), *lg = put(cu, l, n), *xg = put(cu, x, n);
    float *llc = cpu->alloc(cpu, (size_t)B * sizeof(float)),
        *dc = cpu->alloc(cpu, n * sizeof(float));
    float *llg = poisoned((size_t)B), *dg = poisoned(n);
    cpu->bernoulli_ll(cpu, llc, dc, lc, xc, B, D, scale);
    cu->bernoulli_ll(cu, llg, dg, lg, xg, B, D, scale);
    float *h = get(cu, llg, (size_t)B), *hd = get(cu, dg, n);
    expect_close("bernoulli_ll ll", h, llc, (size_t)B, tol_ll, 0, 0);
    expect_close("bernoulli_ll dlogits", hd, dc, n, NULL, 12.0 * UR * fabs(scale), 0);
    free(h), free(hd);
    /* without dlogits */
    cu->free(cu, llg);
    llg = poisoned((size_t)B);
    cu->bernoulli_ll(cu, llg, NULL, lg, xg, B, D, scale);
    h = get(cu, llg, (size_t)B);
    expect_close("bernoulli_ll ll only", h, llc, (size_t)B, tol_ll, 0, 0);
    free(h), free(l), free(p), free(x);
    cpu->free(cpu, lc), cpu->free(cpu, xc), cpu->free(cpu, llc), cpu->free(cpu, dc);
    cu->free(cu, lg), cu->free(cu, xg), cu->free(cu, llg), cu->free(cu, dg);
}

/* gauss_posterior: the entropy terms 1.4189 + 0.5 lv are the same floats on both sides (0.5 lv
 * is exact), summed in double: tol = 2 UR |ent| + 2 d DBL_EPSILON sum|terms|. denc's logvar half:
 * expf and four roundings per side: tol = 2 * 6 UR (|g e eps / 2| + |ent_grad / 2|); its mean
 * half is a copy of dz (exact). */
static void test_gauss_posterior(void)
{
    const int B = 29, d = 67;
    const size_t nz = (size_t)B * d;
    const float ent_grad = -0.75f;
    float *enc = host_normal(2 * nz, 70, 1.0f, 0.0f), *eps = host_normal(nz, 71, 1.0f, 0.0f);
    float *dz = host_normal(nz, 72, 1.0f, 0.0f);
    double tol_ent[29], *tol_d = xmalloc(2 * nz * sizeof(double));
    for (int b = 0; b < B; b++) {
        double s = 0.0, a = 0.0;
        for (int i = 0; i < d; i++) {
            size_t k = (size_t)b * d + i;
            double lv = enc[(size_t)b * 2 * d + d + i];
            double t = 1.4189385332046727 + 0.5 * lv;
            s += t, a += fabs(t);
            tol_d[(size_t)b * 2 * d + i] = 0.0;
            tol_d[(size_t)b * 2 * d + d + i] =
                12.0 * UR * (fabs(0.5 * dz[k] * exp(0.5 * lv) * eps[k]) + fabs(0.5 * ent_grad));
        }
        tol_ent[b] = 2.0 * UR * fabs(s) + 2.0 * d * DBL_EPSILON * a;
    }
    float *ec = put(cpu, enc, 2 * nz), *nc = put(cpu, eps, nz), *zc = put(cpu, dz, nz);
    float *eg = put(cu, enc, 2 * nz), *ng = put(cu, eps, nz), *zg = put(cu, dz, nz);
    float *entc = cpu->alloc(cpu, (size_t)B * sizeof(float)),
        *dc = cpu->alloc(cpu, 2 * nz * sizeof(float));
    cpu->gauss_posterior(cpu, entc, dc, ec, nc, zc, B, d, ent_grad);
    for (int variant = 0; variant < 3; variant++) { /* both outputs, entropy only, denc only */
        float *entg = poisoned((size_t)B), *dg = poisoned(2 * nz);
        cu->gauss_posterior(cu, variant == 2 ? NULL : entg, variant == 1 ? NULL : dg, eg, ng, zg, B,
                            d, ent_grad);
        if (variant != 2) {
            float *h = get(cu, entg, (size_t)B);
            expect_close("gauss_posterior ent", h, entc, (size_t)B, tol_ent, 0, 0);
            free(h);
        }
        if (variant != 1) {
            float *h = get(cu, dg, 2 * nz);
            expect_close("gauss_posterior denc", h, dc, 2 * nz, tol_d, 0, 0);
            free(h);
        }
        cu->free(cu, entg), cu->free(cu, dg);
    }
    free(enc), free(eps), free(dz), free(tol_d);
    cpu->free(cpu, ec), cpu->free(cpu, nc), cpu->free(cpu, zc), cpu->free(cpu, entc);
    cpu->free(cpu, dc);
    cu->free(cu, eg), cu->free(cu, ng), cu->free(cu, zg);
}

/* Adam, 5 steps with fresh gradients each step, both backends from the same start.
 * m and v: each step rounds 3 times and scales the old error by beta < 1, so after t steps
 * |dm| <= 2 * 3 t UR max|g| and |dv| <= 2 * 3 t UR max g^2 (both sides).
 * p: each step rounds p (UR |p|) and the update lr mhat / (sqrt(vhat) + eps), whose size is at
 * most lr (1 - beta1) / sqrt(1 - beta2) = 3.2 lr (Kingma & Ba s.2.1) and whose relative error
 * stays below 100 UR for these gradients; so |dp| <= 2 t UR (|p| + 3.2 lr * 100). */
static void test_adam(void)
{
    const size_t n = 10007;
    const int steps = 5;
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    float *p = host_normal(n, 80, 1.0f, 0.0f);
    float *pc = put(cpu, p, n), *pg = put(cu, p, n);
    float *mc = cpu->alloc(cpu, n * sizeof(float)), *vc = cpu->alloc(cpu, n * sizeof(float));
    float *mg = cu->alloc(cu, n * sizeof(float)), *vg = cu->alloc(cu, n * sizeof(float));
    double *gmax = xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) gmax[i] = 0.0;
    for (long t = 1; t <= steps; t++) {
        float *g = host_normal(n, 80 + (uint64_t)t, 1.0f, 0.0f);
        g[0] = 0.0f; /* a parameter that never moves */
        for (size_t i = 0; i < n; i++) gmax[i] = fmax(gmax[i], fabs((double)g[i]));
        float *gc = put(cpu, g, n), *gg = put(cu, g, n);
        cpu->adam(cpu, pc, mc, vc, gc, n, lr, b1, b2, eps, t);
        cu->adam(cu, pg, mg, vg, gg, n, lr, b1, b2, eps, t);
        free(g);
        cpu->free(cpu, gc), cu->free(cu, gg);
    }
    double *tol_p = xmalloc(n * sizeof(double)), *tol_m = xmalloc(n * sizeof(double));
    double *tol_v = xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        tol_m[i] = 6.0 * steps * UR * gmax[i];
        tol_v[i] = 6.0 * steps * UR * gmax[i] * gmax[i];
        tol_p[i] = 2.0 * steps * UR * (fabs((double)pc[i]) + 3.2 * lr * 100.0);
    }
    float *h = get(cu, pg, n);
    expect_close("adam p", h, pc, n, tol_p, 0, 0);
    free(h);
    h = get(cu, mg, n);
    expect_close("adam m", h, mc, n, tol_m, 0, 0);
    free(h);
    h = get(cu, vg, n);
    expect_close("adam v", h, vc, n, tol_v, 0, 0);
    free(h);
    free(p), free(gmax), free(tol_p), free(tol_m), free(tol_v);
    cpu->free(cpu, pc), cpu->free(cpu, mc), cpu->free(cpu, vc), cu->free(cu, pg), cu->free(cu, mg);
    cu->free(cu, vg);
}

/* channel_sum: the CPU sums in double (error UR |sum|); the CUDA kernel in float: per-thread runs
 * of at most ceil(N HW / 256) terms, an 8-level block tree and at most ceil(N HW / 4096) slice
 * partials. tol = (that length + 2) UR (sum|x| + |beta out|). */
static void test_channel_sum_case(int N, int C, int HW, float beta)
{
    const size_t nx = (size_t)N * C * HW;
    float *x = host_normal(nx, 90, 1.0f, 0.2f), *out0 = host_normal((size_t)C, 91, 1.0f, 0.0f);
    double L = (N * HW + 255) / 256 + 8 + (N * HW + 4095) / 4096 + 2;
    double tol[64];
    for (int c = 0; c < C; c++) {
        double s = beta != 0.0f ? fabs((double)beta * out0[c]) : 0.0;
        for (int k = 0; k < N; k++)
            for (int i = 0; i < HW; i++) s += fabs((double)x[((size_t)k * C + c) * HW + i]);
        tol[c] = L * UR * s;
    }
    float *xc = put(cpu, x, nx), *oc = cpu->alloc(cpu, (size_t)C * sizeof(float));
    if (beta != 0.0f) cpu->upload(cpu, oc, out0, (size_t)C * sizeof(float));
    float *xg = put(cu, x, nx), *og = beta != 0.0f ? put(cu, out0, (size_t)C) : poisoned((size_t)C);
    cpu->channel_sum(cpu, oc, xc, N, C, HW, beta);
    cu->channel_sum(cu, og, xg, N, C, HW, beta);
    float *h = get(cu, og, (size_t)C);
    char what[80];
    snprintf(what, sizeof what, "channel_sum N=%d C=%d HW=%d beta=%g", N, C, HW, beta);
    expect_close(what, h, oc, (size_t)C, tol, 0, 0);
    free(h), free(x), free(out0);
    cpu->free(cpu, xc), cpu->free(cpu, oc), cu->free(cu, xg), cu->free(cu, og);
}

/* laplace_ll: |y - mean| are the same floats on both sides, summed in double, then one float
 * rounding: tol = 2 UR (|ll| + l1 / scale + |D ln 2 scale|). dmean is exact (+-g or 0 at ties). */
static void test_laplace_ll(void)
{
    const int B = 13, D = 3073;
    const size_t n = (size_t)B * D;
    const float scale = 0.37f, grad_scale = -0.5f;
    float *mean = host_normal(n, 100, 1.0f, 0.0f), *y = host_normal(n, 101, 0.3f, 0.0f);
    for (size_t k = 0; k < n; k++) y[k] = k % 97 == 0 ? mean[k] : y[k] + mean[k];
    double tol[13];
    for (int b = 0; b < B; b++) {
        double l1 = 0.0;
        for (int j = 0; j < D; j++) l1 += fabs((double)y[(size_t)b * D + j] - mean[(size_t)b * D + j]);
        double norm = D * log(2.0 * scale);
        tol[b] = 4.0 * UR * (fabs(-l1 / scale - norm) + l1 / scale + fabs(norm));
    }
    float *mc = put(cpu, mean, n), *yc = put(cpu, y, n), *mg = put(cu, mean, n), *yg = put(cu, y, n);
    float *llc = cpu->alloc(cpu, (size_t)B * sizeof(float)),
        *dc = cpu->alloc(cpu, n * sizeof(float));
    float *llg = poisoned((size_t)B), *dg = poisoned(n);
    cpu->laplace_ll(cpu, llc, dc, mc, yc, B, D, scale, grad_scale);
    cu->laplace_ll(cu, llg, dg, mg, yg, B, D, scale, grad_scale);
    float *h = get(cu, llg, (size_t)B), *hd = get(cu, dg, n);
    expect_close("laplace_ll ll", h, llc, (size_t)B, tol, 0, 0);
    expect_equal("laplace_ll dmean", hd, dc, n);
    free(h), free(hd);
    float *dg2 = poisoned(n);
    cu->laplace_ll(cu, NULL, dg2, mg, yg, B, D, scale, grad_scale);
    hd = get(cu, dg2, n);
    expect_equal("laplace_ll dmean only", hd, dc, n);
    free(hd), free(mean), free(y);
    cpu->free(cpu, mc), cpu->free(cpu, yc), cpu->free(cpu, llc), cpu->free(cpu, dc);
    cu->free(cu, mg), cu->free(cu, yg), cu->free(cu, llg), cu->free(cu, dg), cu->free(cu, dg2);
}

/* Convolutions. Each output of the three passes is a sum of L products (L = C R S forward,
 * K R S / stride^2 at most for the data gradient, N P Q for the filter gradient). cuDNN may pick
 * FFT- or Winograd-based algorithms whose error is bounded relative to the whole tensor rather
 * than each element's own terms, so the bound used is normwise:
 * tol = 4 (L + 2) UR max over the tensor of sum|terms| (+ |beta dw|). */
typedef struct {
    evae_conv_shape s;
    int P, Q;
    size_t nx, nw, ny;
} conv_case;

static conv_case conv_case_of(int N, int C, int H, int W, int K, int R, int S, int stride, int pad)
{
    conv_case c;
    evae_conv_shape s = {N, C, H, W, K, R, S, stride, pad};
    c.s = s;
    c.P = evae_conv_P(&s), c.Q = evae_conv_Q(&s);
    c.nx = (size_t)N * C * H * W, c.nw = (size_t)K * C * R * S, c.ny = (size_t)N * K * c.P * c.Q;
    return c;
}

/* max over outputs of the sums of |terms| of the three passes, in double */
static void conv_magnitudes(const conv_case *c, const float *x, const float *w, const float *dy,
                            double *fwd, double *data, double *filter)
{
    const evae_conv_shape *s = &c->s;
    double *ay = calloc(c->ny, sizeof(double)), *ax = calloc(c->nx, sizeof(double));
    double *aw = calloc(c->nw, sizeof(double));
    for (int n = 0; n < s->N; n++)
        for (int k = 0; k < s->K; k++)
            for (int p = 0; p < c->P; p++)
                for (int q = 0; q < c->Q; q++) {
                    size_t yi = (((size_t)n * s->K + k) * c->P + p) * c->Q + q;
                    for (int ch = 0; ch < s->C; ch++)
                        for (int r = 0; r < s->R; r++)
                            for (int f = 0; f < s->S; f++) {
                                int h = p * s->stride - s->pad + r, wc = q * s->stride - s->pad + f;
                                if (h < 0 || h >= s->H || wc < 0 || wc >= s->W) continue;
                                size_t xi = (((size_t)n * s->C + ch) * s->H + h) * s->W + wc;
                                size_t wi = (((size_t)k * s->C + ch) * s->R + r) * s->S + f;
                                ay[yi] += fabs((double)w[wi] * x[xi]);
                                ax[xi] += fabs((double)w[wi] * dy[yi]);
                                aw[wi] += fabs((double)dy[yi] * x[xi]);
                            }
                }
    *fwd = *data = *filter = 0.0;
    for (size_t i = 0; i < c->ny; i++) *fwd = fmax(*fwd, ay[i]);
    for (size_t i = 0; i < c->nx; i++) *data = fmax(*data, ax[i]);
    for (size_t i = 0; i < c->nw; i++) *filter = fmax(*filter, aw[i]);
    free(ay), free(ax), free(aw);
}

static void test_conv_case(conv_case c)
{
    const evae_conv_shape *s = &c.s;
    float *x = host_normal(c.nx, 110, 1.0f, 0.0f), *w = host_normal(c.nw, 111, 0.3f, 0.0f);
    float *dy = host_normal(c.ny, 112, 1.0f, 0.0f), *dw0 = host_normal(c.nw, 113, 1.0f, 0.0f);
    double mf, md, mw, dw0_max = 0.0;
    conv_magnitudes(&c, x, w, dy, &mf, &md, &mw);
    for (size_t i = 0; i < c.nw; i++) dw0_max = fmax(dw0_max, fabs((double)dw0[i]));
    const double tol_f = 4.0 * (s->C * s->R * s->S + 2) * UR * mf;
    const double tol_d = 4.0 * (s->K * s->R * s->S + 2) * UR * md;
    const double tol_w = 4.0 * ((double)s->N * c.P * c.Q + 2) * UR * (mw + 0.7 * dw0_max);
    char what[160];
    int len = snprintf(what, sizeof what, "conv N%d C%d H%d W%d K%d R%d S%d st%d pad%d", s->N, s->C,
                       s->H, s->W, s->K, s->R, s->S, s->stride, s->pad);
    char *tail = what + len;
    size_t room = sizeof what - (size_t)len;

    float *xc = put(cpu, x, c.nx), *wc = put(cpu, w, c.nw), *dyc = put(cpu, dy, c.ny);
    float *xg = put(cu, x, c.nx), *wg = put(cu, w, c.nw), *dyg = put(cu, dy, c.ny);
    evae_cuda_set_conv_deterministic(cu, 0); /* first whatever cuDNN's heuristics like best */

    float *yc = cpu->alloc(cpu, c.ny * sizeof(float)), *yg = poisoned(c.ny);
    cpu->conv_forward(cpu, s, xc, wc, yc);
    cu->conv_forward(cu, s, xg, wg, yg);
    float *h = get(cu, yg, c.ny);
    snprintf(tail, room, " forward");
    expect_close(what, h, yc, c.ny, NULL, tol_f, 0);
    free(h);

    float *dxc = cpu->alloc(cpu, c.nx * sizeof(float)), *dxg = poisoned(c.nx);
    cpu->conv_backward_data(cpu, s, dyc, wc, dxc);
    cu->conv_backward_data(cu, s, dyg, wg, dxg);
    h = get(cu, dxg, c.nx);
    snprintf(tail, room, " backward data");
    expect_close(what, h, dxc, c.nx, NULL, tol_d, 0);
    free(h);

    float *dwc = cpu->alloc(cpu, c.nw * sizeof(float)), *dwg = poisoned(c.nw);
    cpu->conv_backward_filter(cpu, s, xc, dyc, dwc, 0.0f);
    cu->conv_backward_filter(cu, s, xg, dyg, dwg, 0.0f);
    h = get(cu, dwg, c.nw);
    snprintf(tail, room, " backward filter beta=0");
    expect_close(what, h, dwc, c.nw, NULL, tol_w, 0);
    free(h);

    cpu->upload(cpu, dwc, dw0, c.nw * sizeof(float));
    cu->upload(cu, dwg, dw0, c.nw * sizeof(float));
    cpu->conv_backward_filter(cpu, s, xc, dyc, dwc, 0.7f);
    cu->conv_backward_filter(cu, s, xg, dyg, dwg, 0.7f);
    h = get(cu, dwg, c.nw);
    snprintf(tail, room, " backward filter beta=0.7");
    expect_close(what, h, dwc, c.nw, NULL, tol_w, 0);
    free(h);

    /* deterministic algorithms (the default): two backward passes agree bit for bit, and with
     * the CPU */
    evae_cuda_set_conv_deterministic(cu, 1);
    float *dxg2 = poisoned(c.nx), *dwg2 = poisoned(c.nw);
    cu->conv_backward_data(cu, s, dyg, wg, dxg);
    cu->conv_backward_data(cu, s, dyg, wg, dxg2);
    cu->conv_backward_filter(cu, s, xg, dyg, dwg, 0.0f);
    cu->conv_backward_filter(cu, s, xg, dyg, dwg2, 0.0f);
    float *a = get(cu, dxg, c.nx), *b = get(cu, dxg2, c.nx);
    snprintf(tail, room, " deterministic backward data repeat");
    expect_equal(what, b, a, c.nx);
    snprintf(tail, room, " deterministic backward data");
    expect_close(what, a, dxc, c.nx, NULL, tol_d, 0);
    free(a), free(b);
    a = get(cu, dwg, c.nw), b = get(cu, dwg2, c.nw);
    snprintf(tail, room, " deterministic backward filter repeat");
    expect_equal(what, b, a, c.nw);
    cpu->conv_backward_filter(cpu, s, xc, dyc, dwc, 0.0f);
    snprintf(tail, room, " deterministic backward filter");
    expect_close(what, a, dwc, c.nw, NULL, tol_w, 0);
    free(a), free(b); /* deterministic stays on: the default */

    free(x), free(w), free(dy), free(dw0);
    cpu->free(cpu, xc), cpu->free(cpu, wc), cpu->free(cpu, dyc), cpu->free(cpu, yc);
    cpu->free(cpu, dxc), cpu->free(cpu, dwc);
    cu->free(cu, xg), cu->free(cu, wg), cu->free(cu, dyg), cu->free(cu, yg), cu->free(cu, dxg);
    cu->free(cu, dwg);
    cu->free(cu, dxg2), cu->free(cu, dwg2);
}

static void test_conv(void)
{
    test_conv_case(conv_case_of(3, 5, 11, 9, 7, 3, 4, 2, 1));    /* everything odd */
    test_conv_case(conv_case_of(2, 4, 7, 6, 3, 2, 3, 1, 0));     /* stride 1, no padding */
    test_conv_case(conv_case_of(4, 3, 32, 32, 32, 4, 4, 2, 1));  /* CIFAR-10 encoder, first */
    test_conv_case(conv_case_of(2, 128, 4, 4, 256, 4, 4, 2, 1)); /* CIFAR-10 encoder, last */
    const char *algos = cu->algorithms(cu);
    CHECK(algos && strstr(algos, "fwd=") && strstr(algos, "bwd_filter="),
          "conv algorithm list: '%s'", algos ? algos : "(null)");
    printf("cuDNN algorithms:\n%s", algos ? algos : "");
}

int main(void)
{
    gpu_test_setup("test_cuda_ops");
    test_device_facts();
    test_memory();
    test_gemm();
    test_reductions();
    test_random();
    test_exact_elementwise();
    test_logit_dequantize();
    test_reparam();
    test_bernoulli_ll();
    test_gauss_posterior();
    test_adam();
    test_channel_sum_case(17, 6, 1000, 0.0f);
    test_channel_sum_case(2, 3, 5, 0.5f);
    test_laplace_ll();
    test_conv();
    return check_report("test_cuda_ops");
}

#else /* built without CUDA */

int main(void)
{
    printf("test_cuda_ops: skipped: built without CUDA\n");
    return 77;
}

#endif
