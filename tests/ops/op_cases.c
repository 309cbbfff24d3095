/* The op kinds and the two case lists of op_cases.h.
 *
 * Tolerances (CUDA against the CPU backend). UR = 2^-24 is float's unit roundoff. CPU and CUDA
 * evaluate the same formulas in a different order (sums) or with different roundings (fused
 * multiply-add on the GPU, libm vs CUDA math functions, which the CUDA guide bounds at 1-2 ulp
 * for expf, logf, log1pf, sinf, cosf). A sum of L float terms computed in any order is within
 * L UR sum|terms| of the exact sum, so two orders differ by at most 2 L UR sum|terms|; each
 * tolerance below is of that form, with the term magnitudes computed in double on the host.
 * Elementwise ops with no rounding difference are compared bit for bit. */
#include "ops/op_cases.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/eval/ais.h"
#include "evae/math/grbm.h"
#include "evae/math/philox.h"
#include "evae/model/grbm_init.h"
#include "evae/model/model.h"
#include "evae/util.h"

#define UR ((double)FLT_EPSILON / 2.0)

/* ------------------------------------------------------------------------------------------ */
/* buffers */

static op_buf in_buf(const char *name, size_t count, op_fill fill, float scale)
{
    op_buf b = {name, count, OP_IN, fill, scale, 0, 0, 0, 0};
    return b;
}

static op_buf out_buf(const char *name, size_t count)
{
    op_buf b = {name, count, OP_OUT, OP_FILL_CUSTOM, 0.0f, 0, 0, 0, 0};
    return b;
}

/* an output that is also read: beta != 0 (BLAS convention), or an in-place op */
static op_buf inout_buf(const char *name, size_t count, op_fill fill, float scale)
{
    op_buf b = {name, count, OP_INOUT, fill, scale, 0, 0, 0, 0};
    return b;
}

/* the output of an op with beta: not read when beta = 0 (then any value may be there) */
static op_buf beta_buf(const char *name, size_t count, float beta)
{
    return beta != 0.0f ? inout_buf(name, count, OP_FILL_NORMAL, 1.0f) : out_buf(name, count);
}

static int want_out(const op_case *c, int which) { return !c->outputs || (c->outputs & which); }

void op_fill_host(int i, const op_buf *b, float *host)
{
    const uint64_t stream = 100 + (uint64_t)i;
    if (b->fill == OP_FILL_NORMAL) {
        evae_fill_normal(host, b->count, OP_SEED, stream, 0);
        if (b->scale != 1.0f)
            for (size_t k = 0; k < b->count; k++) host[k] *= b->scale;
    } else if (b->fill == OP_FILL_UNIFORM) {
        evae_fill_uniform(host, b->count, OP_SEED, stream, 0);
    } else if (b->fill == OP_FILL_ZERO) {
        memset(host, 0, b->count * sizeof(float));
    }
}

/* h[n] = shift + scale N(0,1) from input stream `stream` */
static void fill_normal_shifted(float *h, size_t n, uint64_t stream, float scale, float shift)
{
    evae_fill_normal(h, n, OP_SEED, 200 + stream, 0);
    for (size_t k = 0; k < n; k++) h[k] = shift + scale * h[k];
}

#define F(i) ((float *)buf[i])
#define FIN(i) ((const float *)in[i])
#define FW(i) ((const float *)want[i])

static double zero_flops(const op_case *c) { (void)c; return 0.0; }

/* ------------------------------------------------------------------------------------------ */
/* gemm: A[m,k] (stored [k,m] when ta), B[k,n] (stored [n,k] when tb), C[m,n]; alpha, beta */

static int gemm_buffers(const op_case *c, op_buf *b)
{
    b[0] = in_buf("A", (size_t)c->m * c->k, OP_FILL_NORMAL, 1.0f);
    b[1] = in_buf("B", (size_t)c->k * c->n, OP_FILL_NORMAL, 1.0f);
    b[2] = beta_buf("C", (size_t)c->m * c->n, c->beta);
    return 3;
}

static double gemm_run(const evae_backend *be, const op_case *c, void *const *buf, uint64_t call)
{
    be->gemm(be, c->ta, c->tb, c->m, c->n, c->k, c->alpha, F(0), F(1), c->beta, F(2));
    return 0.0;
}

static double gemm_flops(const op_case *c) { return 2.0 * c->m * c->n * c->k; }

static double gemm_bytes(const op_case *c)
{
    return 4.0 * ((double)c->m * c->k + (double)c->k * c->n + (double)c->m * c->n);
}

/* each C element is a dot product of k terms plus beta C; two orders differ by at most
 * 2 (k + 2) UR (|alpha| sum_l |op(A)_il op(B)_lj| + |beta C_ij|). cuBLAS runs in FP32 (no TF32). */
static int gemm_tolerance(const op_case *c, int i, void *const *in, void *const *want, double *tol)
{
    const float *A = FIN(0), *B = FIN(1), *C = FIN(2);
    for (int r = 0; r < c->m; r++)
        for (int j = 0; j < c->n; j++) {
            double s = 0.0;
            for (int l = 0; l < c->k; l++) {
                double a = c->ta ? A[(size_t)l * c->m + r] : A[(size_t)r * c->k + l];
                double b = c->tb ? B[(size_t)j * c->k + l] : B[(size_t)l * c->n + j];
                s += fabs(a * b);
            }
            double cc = c->beta != 0.0f ? fabs((double)c->beta * C[(size_t)r * c->n + j]) : 0.0;
            tol[(size_t)r * c->n + j] = 2.0 * (c->k + 2) * UR * (fabs(c->alpha) * s + cc);
        }
    return 1;
}

static const op_kind GEMM = {"gemm", gemm_buffers, NULL, gemm_run, gemm_flops, gemm_bytes,
                             gemm_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* col_sum: out[cols] = beta out + sum over rows of x[rows, cols] */

static int col_sum_buffers(const op_case *c, op_buf *b)
{
    b[0] = beta_buf("out", (size_t)c->cols, c->beta);
    b[1] = in_buf("x", (size_t)c->rows * c->cols, OP_FILL_CUSTOM, 0.0f);
    return 2;
}

static void col_sum_init(const op_case *c, int set, void *const *host)
{
    if (host[1]) fill_normal_shifted(host[1], (size_t)c->rows * c->cols, 1, 1.0f, 0.3f);
}

static double col_sum_run(const evae_backend *be, const op_case *c, void *const *buf,
                          uint64_t call)
{
    be->col_sum(be, F(0), F(1), c->rows, c->cols, c->beta);
    return 0.0;
}

static double col_sum_flops(const op_case *c) { return (double)c->rows * c->cols; }

static double col_sum_bytes(const op_case *c)
{
    return 4.0 * ((double)c->rows * c->cols + 2.0 * c->cols);
}

/* the CPU adds rows in order in float (error <= rows UR sum|x|); the CUDA kernel adds runs of at
 * most ceil(rows/8) rows per thread, then 8 warps' sums, then at most ceil(rows/64) slices
 * (error <= (rows/8 + 8 + rows/64 + 1) UR sum|x|). tol = the sum of both bounds. */
static int col_sum_tolerance(const op_case *c, int i, void *const *in, void *const *want,
                             double *tol)
{
    const float *x = FIN(1), *out0 = FIN(0);
    const int rows = c->rows;
    double L = rows + (rows + 7) / 8 + 8 + (rows + 63) / 64 + 2;
    for (int j = 0; j < c->cols; j++) {
        double s = c->beta != 0.0f ? fabs((double)c->beta * out0[j]) : 0.0;
        for (int r = 0; r < rows; r++) s += fabs((double)x[(size_t)r * c->cols + j]);
        tol[j] = L * UR * s;
    }
    return 1;
}

static const op_kind COL_SUM = {"col_sum", col_sum_buffers, col_sum_init, col_sum_run,
                                col_sum_flops, col_sum_bytes, col_sum_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* axpy: y[count] += alpha x */

static int axpy_buffers(const op_case *c, op_buf *b)
{
    b[0] = inout_buf("y", c->count, OP_FILL_NORMAL, 1.0f);
    b[1] = in_buf("x", c->count, OP_FILL_NORMAL, 1.0f);
    return 2;
}

static double axpy_run(const evae_backend *be, const op_case *c, void *const *buf, uint64_t call)
{
    be->axpy(be, F(0), F(1), c->count, c->alpha);
    return 0.0;
}

static double axpy_flops(const op_case *c) { return 2.0 * c->count; }
static double axpy_bytes(const op_case *c) { return 12.0 * c->count; }

/* y + a x with one or two roundings (FMA on the GPU): <= 2 UR (|a x| + |y|) + UR |y'| */
static int axpy_tolerance(const op_case *c, int i, void *const *in, void *const *want, double *tol)
{
    const float *y = FIN(0), *x = FIN(1), *y1 = FW(0);
    for (size_t k = 0; k < c->count; k++)
        tol[k] = 3.0 * UR *
                 (fabs((double)c->alpha * x[k]) + fabs((double)y[k]) + fabs((double)y1[k]));
    return 1;
}

static const op_kind AXPY = {"axpy", axpy_buffers, NULL, axpy_run, axpy_flops, axpy_bytes,
                             axpy_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* scale: x[count] *= alpha */

static int scale_buffers(const op_case *c, op_buf *b)
{
    b[0] = inout_buf("x", c->count, OP_FILL_NORMAL, 1.0f);
    return 1;
}

static double scale_run(const evae_backend *be, const op_case *c, void *const *buf,
                        uint64_t call)
{
    be->scale(be, F(0), c->count, c->alpha);
    return 0.0;
}

static double scale_flops(const op_case *c) { return (double)c->count; }
static double scale_bytes(const op_case *c) { return 8.0 * c->count; }

/* one correctly rounded product on both backends: bit for bit */
static int scale_tolerance(const op_case *c, int i, void *const *in, void *const *want,
                           double *tol)
{
    return 0;
}

static const op_kind SCALE = {"scale", scale_buffers, NULL, scale_run, scale_flops, scale_bytes,
                              scale_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* sum of x[count], to the host */

static int sum_buffers(const op_case *c, op_buf *b)
{
    b[0] = in_buf("x", c->count, OP_FILL_CUSTOM, 0.0f);
    return 1;
}

static void sum_init(const op_case *c, int set, void *const *host)
{
    if (host[0]) fill_normal_shifted(host[0], c->count, 2, 1.0f, 0.5f);
}

static double sum_run(const evae_backend *be, const op_case *c, void *const *buf, uint64_t call)
{
    return be->sum(be, F(0), c->count);
}

static double sum_flops(const op_case *c) { return (double)c->count; }
static double sum_bytes(const op_case *c) { return 4.0 * c->count; }

/* both accumulate the floats in double: they differ only by the double roundings of the
 * count - 1 additions, in a different order: <= 2 (count - 1) DBL_EPSILON sum|x| (0 for one) */
static double sum_scalar_tolerance(const op_case *c, void *const *in, double want)
{
    const float *x = FIN(0);
    double abs_sum = 0.0;
    for (size_t k = 0; k < c->count; k++) abs_sum += fabs((double)x[k]);
    return 2.0 * (double)(c->count - 1) * DBL_EPSILON * abs_sum;
}

static const op_kind SUM = {"sum", sum_buffers, sum_init, sum_run, sum_flops, sum_bytes, NULL,
                            sum_scalar_tolerance};

/* ------------------------------------------------------------------------------------------ */
/* random fills: out[count] = draws start .. start + count - 1 of (seed, stream + call) */

static int rand_buffers(const op_case *c, op_buf *b)
{
    b[0] = out_buf("out", c->count);
    return 1;
}

static double rand_uniform_run(const evae_backend *be, const op_case *c, void *const *buf,
                               uint64_t call)
{
    be->rand_uniform(be, F(0), c->count, c->seed, c->stream + call, c->start);
    return 0.0;
}

static double rand_normal_run(const evae_backend *be, const op_case *c, void *const *buf,
                              uint64_t call)
{
    be->rand_normal(be, F(0), c->count, c->seed, c->stream + call, c->start);
    return 0.0;
}

static double rand_rademacher_run(const evae_backend *be, const op_case *c, void *const *buf,
                                  uint64_t call)
{
    be->rand_rademacher(be, F(0), c->count, c->seed, c->stream + call, c->start);
    return 0.0;
}

static double rand_bytes(const op_case *c) { return 4.0 * c->count; }

/* uniforms and Rademacher signs are exact (24 random bits scaled by a power of two) */
static int exact_tolerance(const op_case *c, int i, void *const *in, void *const *want,
                           double *tol)
{
    return 0;
}

/* normals go through logf, sqrtf, sinf/cosf, which differ between libm and CUDA by at most 2 ulp
 * each: within 8 ulp = 16 UR of |x| (plus 1e-30 for exact zeros) */
static int rand_normal_tolerance(const op_case *c, int i, void *const *in, void *const *want,
                                 double *tol)
{
    const float *w = FW(0);
    for (size_t k = 0; k < c->count; k++) tol[k] = 1e-30 + 16.0 * UR * fabs((double)w[k]);
    return 1;
}

static const op_kind RAND_UNIFORM = {"rand_uniform", rand_buffers, NULL, rand_uniform_run,
                                     zero_flops, rand_bytes, exact_tolerance, NULL};
static const op_kind RAND_NORMAL = {"rand_normal", rand_buffers, NULL, rand_normal_run,
                                    zero_flops, rand_bytes, rand_normal_tolerance, NULL};
static const op_kind RAND_RADEMACHER = {"rand_rademacher", rand_buffers, NULL,
                                        rand_rademacher_run, zero_flops, rand_bytes,
                                        exact_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* accumulate_diff: acc[count] (double) += (double)a - (double)b */

static int accumulate_buffers(const op_case *c, op_buf *b)
{
    b[0] = inout_buf("acc", c->count, OP_FILL_CUSTOM, 0.0f);
    b[0].is_f64 = 1;
    b[1] = in_buf("a", c->count, OP_FILL_CUSTOM, 0.0f);
    b[2] = in_buf("b", c->count, OP_FILL_CUSTOM, 0.0f);
    return 3;
}

/* AIS-like values: running sums of size 100 and energies of size 300 a little apart; the first
 * pairs lie so far apart in exponent (and sign) that their difference rounds in double, and one
 * pair is equal */
static void accumulate_init(const op_case *c, int set, void *const *host)
{
    double *acc = host[0];
    float *a = host[1], *b = host[2];
    if (!acc || !a || !b) return;
    fill_normal_shifted(a, c->count, 15, 300.0f, 0.0f);
    fill_normal_shifted(b, c->count, 16, 1e-3f, 0.0f);
    for (size_t k = 0; k < c->count; k++) {
        b[k] += a[k];
        acc[k] = 100.0 * evae_normal_at(OP_SEED, 217, k) + 1e-9 * evae_normal_at(OP_SEED, 218, k);
    }
    if (c->count > 3) a[0] = 1e30f, b[0] = -1e-30f, a[1] = -3e-38f, b[1] = 7e37f, b[2] = a[2];
}

static double accumulate_run(const evae_backend *be, const op_case *c, void *const *buf,
                             uint64_t call)
{
    be->accumulate_diff(be, (double *)buf[0], F(1), F(2), c->count);
    return 0.0;
}

static double accumulate_bytes(const op_case *c) { return 24.0 * c->count; }

/* the same double expression on both sides, the same two roundings: bit for bit */
static const op_kind ACCUMULATE_DIFF = {"accumulate_diff", accumulate_buffers, accumulate_init,
                                        accumulate_run, axpy_flops, accumulate_bytes,
                                        exact_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* gather_rows: out[B, D] = table[idx[b], :], table[T, D] resident */

static int gather_buffers(const op_case *c, op_buf *b)
{
    b[0] = out_buf("out", (size_t)c->B * c->D);
    b[1] = in_buf("table", (size_t)c->T * c->D, OP_FILL_NORMAL, 1.0f);
    b[1].fixed = 1;
    b[2] = in_buf("idx", (size_t)c->B, OP_FILL_CUSTOM, 0.0f);
    b[2].is_int = 1;
    b[2].per_set = 1;
    return 3;
}

/* random rows, a different order for each input set; set 0 also takes the last and first row */
static void gather_init(const op_case *c, int set, void *const *host)
{
    int *idx = host[2];
    if (!idx) return;
    for (int b = 0; b < c->B; b++)
        idx[b] = (int)(evae_uniform_at(OP_SEED, 300 + (uint64_t)set, (uint64_t)b) * (float)c->T) %
                 c->T;
    if (set == 0 && c->B >= 2) idx[0] = c->T - 1, idx[1] = 0;
}

static double gather_run(const evae_backend *be, const op_case *c, void *const *buf,
                         uint64_t call)
{
    be->gather_rows(be, F(0), F(1), (const int *)buf[2], c->B, c->D);
    return 0.0;
}

static double gather_bytes(const op_case *c) { return 4.0 * (2.0 * c->B * c->D + c->B); }

static const op_kind GATHER_ROWS = {"gather_rows", gather_buffers, gather_init, gather_run,
                                    zero_flops, gather_bytes, exact_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* bias_act: y[rows, cols] = act(y + b[cols]); bit for bit, NaN included (it lets NaN through) */

static int bias_act_buffers(const op_case *c, op_buf *b)
{
    b[0] = inout_buf("y", (size_t)c->rows * c->cols, OP_FILL_CUSTOM, 0.0f);
    b[1] = in_buf("b", (size_t)c->cols, OP_FILL_CUSTOM, 0.0f);
    return 2;
}

/* a NaN, and a value that lands exactly on 0 */
static void bias_act_init(const op_case *c, int set, void *const *host)
{
    float *y = host[0], *b = host[1];
    if (!y || !b) return;
    const size_t n = (size_t)c->rows * c->cols;
    fill_normal_shifted(y, n, 3, 1.0f, 0.0f);
    fill_normal_shifted(b, (size_t)c->cols, 4, 1.0f, 0.0f);
    if (n > 5) y[5] = NAN;
    if (c->rows > 1 && c->cols > 3) y[c->cols + 3] = -b[3];
}

static double bias_act_run(const evae_backend *be, const op_case *c, void *const *buf,
                           uint64_t call)
{
    be->bias_act(be, F(0), F(1), c->rows, c->cols, c->relu);
    return 0.0;
}

static double bias_act_flops(const op_case *c) { return 2.0 * c->rows * c->cols; }

static double bias_act_bytes(const op_case *c)
{
    return 4.0 * (2.0 * c->rows * c->cols + c->cols);
}

static const op_kind BIAS_ACT = {"bias_act", bias_act_buffers, bias_act_init, bias_act_run,
                                 bias_act_flops, bias_act_bytes, exact_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* channel_bias_act: y[N, C, HW] = act(y + b[C]); bit for bit */

static int channel_bias_act_buffers(const op_case *c, op_buf *b)
{
    b[0] = inout_buf("y", (size_t)c->N * c->C * c->HW, OP_FILL_NORMAL, 1.0f);
    b[1] = in_buf("b", (size_t)c->C, OP_FILL_NORMAL, 1.0f);
    return 2;
}

static double channel_bias_act_run(const evae_backend *be, const op_case *c, void *const *buf,
                                   uint64_t call)
{
    be->channel_bias_act(be, F(0), F(1), c->N, c->C, c->HW, c->relu);
    return 0.0;
}

static double channel_act(const op_case *c) { return (double)c->N * c->C * c->HW; }
static double channel_bias_act_flops(const op_case *c) { return 2.0 * channel_act(c); }
static double channel_bias_act_bytes(const op_case *c) { return 8.0 * channel_act(c); }

static const op_kind CHANNEL_BIAS_ACT = {"channel_bias_act", channel_bias_act_buffers, NULL,
                                         channel_bias_act_run, channel_bias_act_flops,
                                         channel_bias_act_bytes, exact_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* relu_backward: dy[count] = 0 where !(y > 0); bit for bit */

static int relu_backward_buffers(const op_case *c, op_buf *b)
{
    b[0] = inout_buf("dy", c->count, OP_FILL_NORMAL, 1.0f);
    b[1] = in_buf("y", c->count, OP_FILL_CUSTOM, 0.0f);
    return 2;
}

/* zeros of both signs and a NaN among the outputs y */
static void relu_backward_init(const op_case *c, int set, void *const *host)
{
    float *y = host[1];
    if (!y) return;
    fill_normal_shifted(y, c->count, 5, 1.0f, 0.0f);
    if (c->count > 2) y[0] = 0.0f, y[1] = -0.0f, y[2] = NAN;
}

static double relu_backward_run(const evae_backend *be, const op_case *c, void *const *buf,
                                uint64_t call)
{
    be->relu_backward(be, F(0), F(1), c->count);
    return 0.0;
}

static double count_flops(const op_case *c) { return (double)c->count; }
static double count_bytes_12(const op_case *c) { return 12.0 * c->count; }

static const op_kind RELU_BACKWARD = {"relu_backward", relu_backward_buffers, relu_backward_init,
                                      relu_backward_run, count_flops, count_bytes_12,
                                      exact_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* binarize: x[count] = u < p ? 1 : 0; bit for bit, with u == p ties */

static int binarize_buffers(const op_case *c, op_buf *b)
{
    b[0] = out_buf("x", c->count);
    b[1] = in_buf("p", c->count, OP_FILL_CUSTOM, 0.0f);
    b[2] = in_buf("u", c->count, OP_FILL_CUSTOM, 0.0f);
    return 3;
}

static void binarize_init(const op_case *c, int set, void *const *host)
{
    float *p = host[1], *u = host[2];
    if (!p || !u) return;
    evae_fill_uniform(p, c->count, OP_SEED, 206, 0);
    evae_fill_uniform(u, c->count, OP_SEED, 207, 0);
    if (c->count > 9) u[0] = p[0], u[9] = p[9];
}

static double binarize_run(const evae_backend *be, const op_case *c, void *const *buf,
                           uint64_t call)
{
    be->binarize(be, F(0), F(1), F(2), c->count);
    return 0.0;
}

static const op_kind BINARIZE = {"binarize", binarize_buffers, binarize_init, binarize_run,
                                 count_flops, count_bytes_12, exact_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* logit_dequantize: y[count] from 8-bit pixel values x and uniforms u; alpha */

static int logit_buffers(const op_case *c, op_buf *b)
{
    b[0] = out_buf("y", c->count);
    b[1] = in_buf("x", c->count, OP_FILL_CUSTOM, 0.0f);
    b[2] = in_buf("u", c->count, OP_FILL_UNIFORM, 0.0f);
    return 3;
}

/* whole pixel values 0..255, both ends included */
static void logit_init(const op_case *c, int set, void *const *host)
{
    float *x = host[1];
    if (!x) return;
    evae_fill_uniform(x, c->count, OP_SEED, 208, 0);
    for (size_t k = 0; k < c->count; k++) {
        float v = floorf(256.0f * x[k]);
        x[k] = v > 255.0f ? 255.0f : v;
    }
    if (c->count > 1) x[0] = 0.0f, x[1] = 255.0f;
}

static double logit_run(const evae_backend *be, const op_case *c, void *const *buf, uint64_t call)
{
    be->logit_dequantize(be, F(0), F(1), F(2), c->count, c->alpha);
    return 0.0;
}

static double logit_flops(const op_case *c) { return 10.0 * c->count; }

/* s = alpha + gain (x + u) rounds up to 3 times (or fused), so |ds| <= 3 UR s;
 * y = ln s - ln(1 - s) moves by ds / (s (1 - s)), and logf, log1pf add 1-2 ulp each:
 * tol = 2 UR (3 / (1 - s) + 2 (|ln s| + |ln(1 - s)|) + |y|), doubled for the two sides. */
static int logit_tolerance(const op_case *c, int i, void *const *in, void *const *want,
                           double *tol)
{
    const float *x = FIN(1), *u = FIN(2);
    const double alpha = c->alpha;
    for (size_t k = 0; k < c->count; k++) {
        double s = alpha + (1.0 - 2.0 * alpha) / 256.0 * ((double)x[k] + u[k]);
        double y = log(s) - log1p(-s);
        tol[k] = 4.0 * UR * (3.0 / (1.0 - s) + 2.0 * (fabs(log(s)) + fabs(log1p(-s))) + fabs(y));
    }
    return 1;
}

static const op_kind LOGIT_DEQUANTIZE = {"logit_dequantize", logit_buffers, logit_init,
                                         logit_run, logit_flops, count_bytes_12, logit_tolerance,
                                         NULL};

/* ------------------------------------------------------------------------------------------ */
/* reparam: z[B,d] = mean + exp(logvar/2) eps, enc[B,2d] = [mean | logvar] */

static int reparam_buffers(const op_case *c, op_buf *b)
{
    const size_t nz = (size_t)c->B * c->d;
    b[0] = out_buf("z", nz);
    b[1] = in_buf("enc", 2 * nz, OP_FILL_NORMAL, 1.0f);
    b[2] = in_buf("eps", nz, OP_FILL_NORMAL, 1.0f);
    return 3;
}

static double reparam_run(const evae_backend *be, const op_case *c, void *const *buf,
                          uint64_t call)
{
    be->reparam(be, F(0), F(1), F(2), c->B, c->d);
    return 0.0;
}

static double reparam_flops(const op_case *c) { return 4.0 * c->B * c->d; }
static double reparam_bytes(const op_case *c) { return 16.0 * c->B * c->d; }

/* mean + expf(lv/2) eps: expf (<= 2 ulp), one product, one sum (maybe fused):
 * tol = 2 UR (|mean| + 4 |e eps| + |z|) for each side, doubled */
static int reparam_tolerance(const op_case *c, int i, void *const *in, void *const *want,
                             double *tol)
{
    const float *enc = FIN(1), *eps = FIN(2);
    const int d = c->d;
    for (int b = 0; b < c->B; b++)
        for (int j = 0; j < d; j++) {
            double mean = enc[(size_t)b * 2 * d + j], lv = enc[(size_t)b * 2 * d + d + j];
            double e = exp(0.5 * lv) * eps[(size_t)b * d + j];
            tol[(size_t)b * d + j] = 4.0 * UR * (fabs(mean) + 4.0 * fabs(e) + fabs(mean + e));
        }
    return 1;
}

static const op_kind REPARAM = {"reparam", reparam_buffers, NULL, reparam_run, reparam_flops,
                                reparam_bytes, reparam_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* bernoulli_ll: ll[B] and (OP_OUT_2) dlogits[B,D] from logits[B,D] and binary x[B,D]; scale */

static int bernoulli_buffers(const op_case *c, op_buf *b)
{
    const size_t n = (size_t)c->B * c->D;
    b[0] = out_buf("ll", (size_t)c->B);
    b[1] = out_buf("dlogits", want_out(c, OP_OUT_2) ? n : 0);
    b[2] = in_buf("logits", n, OP_FILL_CUSTOM, 0.0f);
    b[3] = in_buf("x", n, OP_FILL_CUSTOM, 0.0f);
    return 4;
}

/* logits of scale 3, with softplus' branches and its saturation at the start; x binary */
static void bernoulli_init(const op_case *c, int set, void *const *host)
{
    float *l = host[2], *x = host[3];
    if (!l || !x) return;
    const size_t n = (size_t)c->B * c->D;
    fill_normal_shifted(l, n, 9, 3.0f, 0.0f);
    evae_fill_uniform(x, n, OP_SEED, 210, 0);
    for (size_t k = 0; k < n; k++) x[k] = x[k] < 0.3f ? 1.0f : 0.0f;
    if (n > 2) l[0] = 0.0f, l[1] = 80.0f, l[2] = -80.0f;
}

static double bernoulli_run(const evae_backend *be, const op_case *c, void *const *buf,
                            uint64_t call)
{
    be->bernoulli_ll(be, F(0), F(1), F(2), F(3), c->B, c->D, c->scale);
    return 0.0;
}

static double bernoulli_flops(const op_case *c) { return 12.0 * c->B * c->D; }
static double bernoulli_bytes(const op_case *c) { return 4.0 * (3.0 * c->B * c->D + c->B); }

/* each term x l - softplus(l) carries <= 6 ulp (expf, log1pf, three roundings) of |x l| +
 * softplus(l); the rows are summed in double on both sides: tol = 2 * 12 UR sum of those.
 * dlogits = scale (x - sigmoid(l)) with |x|, sigmoid <= 1: <= 6 UR |scale| per side. */
static int bernoulli_tolerance(const op_case *c, int i, void *const *in, void *const *want,
                               double *tol)
{
    const float *l = FIN(2), *x = FIN(3);
    if (i == 1) {
        for (size_t k = 0; k < (size_t)c->B * c->D; k++) tol[k] = 12.0 * UR * fabs(c->scale);
        return 1;
    }
    for (int b = 0; b < c->B; b++) {
        double s = 0.0;
        for (int j = 0; j < c->D; j++) {
            double lj = l[(size_t)b * c->D + j];
            s += fabs(x[(size_t)b * c->D + j] * lj) + (lj > 0 ? lj : 0) + log1p(exp(-fabs(lj)));
        }
        tol[b] = 24.0 * UR * s;
    }
    return 1;
}

static const op_kind BERNOULLI_LL = {"bernoulli_ll", bernoulli_buffers, bernoulli_init,
                                     bernoulli_run, bernoulli_flops, bernoulli_bytes,
                                     bernoulli_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* gauss_posterior: (OP_OUT_1) ent[B], (OP_OUT_2) denc[B,2d] from enc[B,2d], eps[B,d], dz[B,d];
 * scale = ent_grad */

static int gauss_buffers(const op_case *c, op_buf *b)
{
    const size_t nz = (size_t)c->B * c->d;
    b[0] = out_buf("ent", want_out(c, OP_OUT_1) ? (size_t)c->B : 0);
    b[1] = out_buf("denc", want_out(c, OP_OUT_2) ? 2 * nz : 0);
    b[2] = in_buf("enc", 2 * nz, OP_FILL_NORMAL, 1.0f);
    b[3] = in_buf("eps", nz, OP_FILL_NORMAL, 1.0f);
    b[4] = in_buf("dz", nz, OP_FILL_NORMAL, 1.0f);
    return 5;
}

static double gauss_run(const evae_backend *be, const op_case *c, void *const *buf, uint64_t call)
{
    be->gauss_posterior(be, F(0), F(1), F(2), F(3), F(4), c->B, c->d, c->scale);
    return 0.0;
}

static double gauss_flops(const op_case *c) { return 10.0 * c->B * c->d; }
static double gauss_bytes(const op_case *c) { return 4.0 * (c->B + 6.0 * c->B * c->d); }

/* the entropy terms 1.4189 + 0.5 lv are the same floats on both sides (0.5 lv is exact), summed
 * in double: tol = 2 UR |ent| + 2 d DBL_EPSILON sum|terms|. denc's logvar half: expf and four
 * roundings per side: tol = 2 * 6 UR (|g e eps / 2| + |ent_grad / 2|); its mean half is a copy
 * of dz (exact). */
static int gauss_tolerance(const op_case *c, int i, void *const *in, void *const *want,
                           double *tol)
{
    const float *enc = FIN(2), *eps = FIN(3), *dz = FIN(4);
    const int d = c->d;
    for (int b = 0; b < c->B; b++) {
        double s = 0.0, a = 0.0;
        for (int j = 0; j < d; j++) {
            size_t k = (size_t)b * d + j;
            double lv = enc[(size_t)b * 2 * d + d + j];
            double t = 1.4189385332046727 + 0.5 * lv;
            s += t, a += fabs(t);
            if (i == 1) {
                tol[(size_t)b * 2 * d + j] = 0.0;
                tol[(size_t)b * 2 * d + d + j] =
                    12.0 * UR * (fabs(0.5 * dz[k] * exp(0.5 * lv) * eps[k]) + fabs(0.5 * c->scale));
            }
        }
        if (i == 0) tol[b] = 2.0 * UR * fabs(s) + 2.0 * d * DBL_EPSILON * a;
    }
    return 1;
}

static const op_kind GAUSS_POSTERIOR = {"gauss_posterior", gauss_buffers, NULL, gauss_run,
                                        gauss_flops, gauss_bytes, gauss_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* adam: `steps` steps t0 + 1, ... on p[count] (m, v from 0) with a fresh gradient each step,
 * g[steps, count]; alpha = lr */

static const float ADAM_B1 = 0.9f, ADAM_B2 = 0.999f, ADAM_EPS = 1e-8f;

static int adam_buffers(const op_case *c, op_buf *b)
{
    b[0] = inout_buf("p", c->count, OP_FILL_NORMAL, 1.0f);
    b[1] = inout_buf("m", c->count, OP_FILL_ZERO, 0.0f);
    b[2] = inout_buf("v", c->count, OP_FILL_ZERO, 0.0f);
    b[3] = in_buf("g", (size_t)c->steps * c->count, OP_FILL_CUSTOM, 0.0f);
    return 4;
}

/* a parameter that never moves: its gradient is 0 at every step */
static void adam_init(const op_case *c, int set, void *const *host)
{
    float *g = host[3];
    if (!g) return;
    fill_normal_shifted(g, (size_t)c->steps * c->count, 11, 1.0f, 0.0f);
    for (int s = 0; s < c->steps; s++) g[(size_t)s * c->count] = 0.0f;
}

static double adam_run(const evae_backend *be, const op_case *c, void *const *buf, uint64_t call)
{
    long t = c->t0 + (long)(call % 1000);
    for (int s = 0; s < c->steps; s++)
        be->adam(be, F(0), F(1), F(2), F(3) + (size_t)s * c->count, c->count, c->alpha, ADAM_B1,
                 ADAM_B2, ADAM_EPS, t + s + 1);
    return 0.0;
}

static double adam_flops(const op_case *c) { return 14.0 * c->steps * c->count; }
static double adam_bytes(const op_case *c) { return 28.0 * c->steps * c->count; }

/* m and v: each step rounds 3 times and scales the old error by beta < 1, so after t steps
 * |dm| <= 2 * 3 t UR max|g| and |dv| <= 2 * 3 t UR max g^2 (both sides).
 * p: each step rounds p (UR |p|) and the update lr mhat / (sqrt(vhat) + eps), whose size is at
 * most lr (1 - beta1) / sqrt(1 - beta2) = 3.2 lr (Kingma & Ba s.2.1) and whose relative error
 * stays below 100 UR for these gradients; so |dp| <= 2 t UR (|p| + 3.2 lr * 100). */
static int adam_tolerance(const op_case *c, int i, void *const *in, void *const *want,
                          double *tol)
{
    const float *g = FIN(3), *p1 = FW(0);
    const int steps = c->steps;
    for (size_t k = 0; k < c->count; k++) {
        double gmax = 0.0;
        for (int s = 0; s < steps; s++)
            gmax = fmax(gmax, fabs((double)g[(size_t)s * c->count + k]));
        if (i == 0) tol[k] = 2.0 * steps * UR * (fabs((double)p1[k]) + 3.2 * c->alpha * 100.0);
        if (i == 1) tol[k] = 6.0 * steps * UR * gmax;
        if (i == 2) tol[k] = 6.0 * steps * UR * gmax * gmax;
    }
    return 1;
}

static const op_kind ADAM = {"adam", adam_buffers, adam_init, adam_run, adam_flops, adam_bytes,
                             adam_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* channel_sum: out[C] = beta out + sum over N and HW of x[N, C, HW] */

static int channel_sum_buffers(const op_case *c, op_buf *b)
{
    b[0] = beta_buf("out", (size_t)c->C, c->beta);
    b[1] = in_buf("x", (size_t)c->N * c->C * c->HW, OP_FILL_CUSTOM, 0.0f);
    return 2;
}

static void channel_sum_init(const op_case *c, int set, void *const *host)
{
    if (host[1]) fill_normal_shifted(host[1], (size_t)c->N * c->C * c->HW, 12, 1.0f, 0.2f);
}

static double channel_sum_run(const evae_backend *be, const op_case *c, void *const *buf,
                              uint64_t call)
{
    be->channel_sum(be, F(0), F(1), c->N, c->C, c->HW, c->beta);
    return 0.0;
}

static double channel_sum_bytes(const op_case *c) { return 4.0 * channel_act(c); }

/* the CPU sums in double (error UR |sum|); the CUDA kernel in float: per-thread runs of at most
 * ceil(N HW / 256) terms, an 8-level block tree and at most ceil(N HW / 4096) slice partials.
 * tol = (that length + 2) UR (sum|x| + |beta out|). */
static int channel_sum_tolerance(const op_case *c, int i, void *const *in, void *const *want,
                                 double *tol)
{
    const float *x = FIN(1), *out0 = FIN(0);
    const int NHW = c->N * c->HW;
    double L = (NHW + 255) / 256 + 8 + (NHW + 4095) / 4096 + 2;
    for (int ch = 0; ch < c->C; ch++) {
        double s = c->beta != 0.0f ? fabs((double)c->beta * out0[ch]) : 0.0;
        for (int k = 0; k < c->N; k++)
            for (int j = 0; j < c->HW; j++)
                s += fabs((double)x[((size_t)k * c->C + ch) * c->HW + j]);
        tol[ch] = L * UR * s;
    }
    return 1;
}

static const op_kind CHANNEL_SUM = {"channel_sum", channel_sum_buffers, channel_sum_init,
                                    channel_sum_run, channel_act, channel_sum_bytes,
                                    channel_sum_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* laplace_ll: (OP_OUT_1) ll[B], (OP_OUT_2) dmean[B,D] from mean[B,D], y[B,D]; scale, beta =
 * grad_scale */

static int laplace_buffers(const op_case *c, op_buf *b)
{
    const size_t n = (size_t)c->B * c->D;
    b[0] = out_buf("ll", want_out(c, OP_OUT_1) ? (size_t)c->B : 0);
    b[1] = out_buf("dmean", want_out(c, OP_OUT_2) ? n : 0);
    b[2] = in_buf("mean", n, OP_FILL_CUSTOM, 0.0f);
    b[3] = in_buf("y", n, OP_FILL_CUSTOM, 0.0f);
    return 4;
}

/* y near the mean, equal to it at every 97th element (the kink) */
static void laplace_init(const op_case *c, int set, void *const *host)
{
    float *mean = host[2], *y = host[3];
    if (!mean || !y) return;
    const size_t n = (size_t)c->B * c->D;
    fill_normal_shifted(mean, n, 13, 1.0f, 0.0f);
    fill_normal_shifted(y, n, 14, 0.3f, 0.0f);
    for (size_t k = 0; k < n; k++) y[k] = k % 97 == 0 ? mean[k] : y[k] + mean[k];
}

static double laplace_run(const evae_backend *be, const op_case *c, void *const *buf,
                          uint64_t call)
{
    be->laplace_ll(be, F(0), F(1), F(2), F(3), c->B, c->D, c->scale, c->beta);
    return 0.0;
}

static double laplace_flops(const op_case *c) { return 6.0 * c->B * c->D; }

/* |y - mean| are the same floats on both sides, summed in double, then one float rounding:
 * tol = 2 UR (|ll| + l1 / scale + |D ln 2 scale|), doubled. dmean is exact (+-g, or 0 at ties). */
static int laplace_tolerance(const op_case *c, int i, void *const *in, void *const *want,
                             double *tol)
{
    if (i == 1) return 0;
    const float *mean = FIN(2), *y = FIN(3);
    const double scale = c->scale, norm = c->D * log(2.0 * scale);
    for (int b = 0; b < c->B; b++) {
        double l1 = 0.0;
        for (int j = 0; j < c->D; j++)
            l1 += fabs((double)y[(size_t)b * c->D + j] - mean[(size_t)b * c->D + j]);
        tol[b] = 4.0 * UR * (fabs(-l1 / scale - norm) + l1 / scale + fabs(norm));
    }
    return 1;
}

static const op_kind LAPLACE_LL = {"laplace_ll", laplace_buffers, laplace_init, laplace_run,
                                   laplace_flops, bernoulli_bytes, laplace_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* convolutions: x[N,C,H,W], w[K,C,R,S], y[N,K,P,Q] of conv; beta (backward filter)
 * Each output of the three passes is a sum of L products (L = C R S forward, K R S / stride^2 at
 * most for the data gradient, N P Q for the filter gradient). cuDNN may pick FFT- or
 * Winograd-based algorithms whose error is bounded relative to the whole tensor rather than each
 * element's own terms, so the bound used is normwise:
 * tol = 4 (L + 2) UR max over the tensor of sum|terms| (+ |beta dw|). */

static size_t conv_x(const op_case *c)
{
    const evae_conv_shape *s = &c->conv;
    return (size_t)s->N * s->C * s->H * s->W;
}
static size_t conv_w(const op_case *c)
{
    const evae_conv_shape *s = &c->conv;
    return (size_t)s->K * s->C * s->R * s->S;
}
static size_t conv_y(const op_case *c)
{
    const evae_conv_shape *s = &c->conv;
    return (size_t)s->N * s->K * evae_conv_P(s) * evae_conv_Q(s);
}

static int conv_forward_buffers(const op_case *c, op_buf *b)
{
    b[0] = in_buf("x", conv_x(c), OP_FILL_NORMAL, 1.0f);
    b[1] = in_buf("w", conv_w(c), OP_FILL_NORMAL, 0.3f);
    b[2] = out_buf("y", conv_y(c));
    return 3;
}

static int conv_backward_data_buffers(const op_case *c, op_buf *b)
{
    b[0] = in_buf("dy", conv_y(c), OP_FILL_NORMAL, 1.0f);
    b[1] = in_buf("w", conv_w(c), OP_FILL_NORMAL, 0.3f);
    b[2] = out_buf("dx", conv_x(c));
    return 3;
}

static int conv_backward_filter_buffers(const op_case *c, op_buf *b)
{
    b[0] = in_buf("x", conv_x(c), OP_FILL_NORMAL, 1.0f);
    b[1] = in_buf("dy", conv_y(c), OP_FILL_NORMAL, 1.0f);
    b[2] = beta_buf("dw", conv_w(c), c->beta);
    return 3;
}

static double conv_forward_run(const evae_backend *be, const op_case *c, void *const *buf,
                               uint64_t call)
{
    be->conv_forward(be, &c->conv, F(0), F(1), F(2));
    return 0.0;
}

static double conv_backward_data_run(const evae_backend *be, const op_case *c, void *const *buf,
                                     uint64_t call)
{
    be->conv_backward_data(be, &c->conv, F(0), F(1), F(2));
    return 0.0;
}

static double conv_backward_filter_run(const evae_backend *be, const op_case *c,
                                       void *const *buf, uint64_t call)
{
    be->conv_backward_filter(be, &c->conv, F(0), F(1), F(2), c->beta);
    return 0.0;
}

static double conv_flops(const op_case *c)
{
    const evae_conv_shape *s = &c->conv;
    return 2.0 * (double)conv_y(c) * s->C * s->R * s->S;
}

static double conv_bytes(const op_case *c)
{
    return 4.0 * ((double)conv_x(c) + (double)conv_w(c) + (double)conv_y(c));
}

/* max over the outputs of pass `which` (0 forward, 1 data, 2 filter) of sum|terms|, in double;
 * a and b are the pass's two inputs (x and w, dy and w, x and dy) */
static double conv_magnitude(const evae_conv_shape *s, int which, const float *a, const float *b)
{
    const int P = evae_conv_P(s), Q = evae_conv_Q(s);
    const size_t nx = (size_t)s->N * s->C * s->H * s->W, nw = (size_t)s->K * s->C * s->R * s->S;
    const size_t ny = (size_t)s->N * s->K * P * Q;
    const size_t nout = which == 0 ? ny : which == 1 ? nx : nw;
    double *acc = evae_xcalloc(nout ? nout : 1, sizeof(double));
    for (int n = 0; n < s->N; n++)
        for (int k = 0; k < s->K; k++)
            for (int p = 0; p < P; p++)
                for (int q = 0; q < Q; q++) {
                    size_t yi = (((size_t)n * s->K + k) * P + p) * Q + q;
                    for (int ch = 0; ch < s->C; ch++)
                        for (int r = 0; r < s->R; r++)
                            for (int f = 0; f < s->S; f++) {
                                int h = p * s->stride - s->pad + r, wc = q * s->stride - s->pad + f;
                                if (h < 0 || h >= s->H || wc < 0 || wc >= s->W) continue;
                                size_t xi = (((size_t)n * s->C + ch) * s->H + h) * s->W + wc;
                                size_t wi = (((size_t)k * s->C + ch) * s->R + r) * s->S + f;
                                if (which == 0) acc[yi] += fabs((double)b[wi] * a[xi]);
                                if (which == 1) acc[xi] += fabs((double)b[wi] * a[yi]);
                                if (which == 2) acc[wi] += fabs((double)b[yi] * a[xi]);
                            }
                }
    double m = 0.0;
    for (size_t i = 0; i < nout; i++) m = fmax(m, acc[i]);
    free(acc);
    return m;
}

static int conv_forward_tolerance(const op_case *c, int i, void *const *in, void *const *want,
                                  double *tol)
{
    const evae_conv_shape *s = &c->conv;
    double t = 4.0 * (s->C * s->R * s->S + 2) * UR * conv_magnitude(s, 0, FIN(0), FIN(1));
    for (size_t k = 0; k < conv_y(c); k++) tol[k] = t;
    return 1;
}

static int conv_backward_data_tolerance(const op_case *c, int i, void *const *in,
                                        void *const *want, double *tol)
{
    const evae_conv_shape *s = &c->conv;
    double t = 4.0 * (s->K * s->R * s->S + 2) * UR * conv_magnitude(s, 1, FIN(0), FIN(1));
    for (size_t k = 0; k < conv_x(c); k++) tol[k] = t;
    return 1;
}

/* with no images the gradient is zero and dw = beta dw: one product (or a memset) per element on
 * both sides, bit for bit */
static int conv_backward_filter_tolerance(const op_case *c, int i, void *const *in,
                                          void *const *want, double *tol)
{
    const evae_conv_shape *s = &c->conv;
    if (s->N == 0) return 0;
    double dw0_max = 0.0;
    if (c->beta != 0.0f)
        for (size_t k = 0; k < conv_w(c); k++) dw0_max = fmax(dw0_max, fabs((double)FIN(2)[k]));
    double t = 4.0 * ((double)s->N * evae_conv_P(s) * evae_conv_Q(s) + 2) * UR *
               (conv_magnitude(s, 2, FIN(0), FIN(1)) + fabs(c->beta) * dw0_max);
    for (size_t k = 0; k < conv_w(c); k++) tol[k] = t;
    return 1;
}

static const op_kind CONV_FORWARD = {"conv_forward", conv_forward_buffers, NULL,
                                     conv_forward_run, conv_flops, conv_bytes,
                                     conv_forward_tolerance, NULL};
static const op_kind CONV_BACKWARD_DATA = {"conv_backward_data", conv_backward_data_buffers,
                                           NULL, conv_backward_data_run, conv_flops, conv_bytes,
                                           conv_backward_data_tolerance, NULL};
static const op_kind CONV_BACKWARD_FILTER = {"conv_backward_filter",
                                             conv_backward_filter_buffers, NULL,
                                             conv_backward_filter_run, conv_flops, conv_bytes,
                                             conv_backward_filter_tolerance, NULL};

/* ------------------------------------------------------------------------------------------ */
/* the GRBM (benchmarked here, tested in test_cuda_grbm.c): d = c->d visible, n = c->n hidden,
 * B examples or chains; theta from evae_grbm_init, its coupling 10 times stronger so that the
 * hidden units are not all at sigmoid(0) */

static size_t grbm_size_of(const op_case *c) { return evae_grbm_size(c->d, c->n); }

static void grbm_theta(const op_case *c, float *t, float w_gain)
{
    evae_grbm_init(t, c->d, c->n, 3);
    for (size_t i = 0; i < (size_t)c->d * c->n; i++) t[evae_grbm_W(c->d, c->n) + i] *= w_gain;
}

static int energy_buffers(const op_case *c, op_buf *b)
{
    const size_t Bd = (size_t)c->B * c->d;
    b[0] = in_buf("theta", grbm_size_of(c), OP_FILL_CUSTOM, 0.0f);
    b[1] = in_buf("z", Bd, OP_FILL_NORMAL, 1.0f);
    b[2] = out_buf("E", (size_t)c->B);
    b[3] = out_buf("dEdz", Bd);
    return 4;
}

static void grbm_init_strong(const op_case *c, int set, void *const *host)
{
    if (host[0]) grbm_theta(c, host[0], 10.0f);
}

static double energy_run(const evae_backend *be, const op_case *c, void *const *buf,
                         uint64_t call)
{
    be->grbm_energy(be, F(0), c->d, c->n, 1.0f, F(1), c->B, F(2), F(3));
    return 0.0;
}

static double grbm_dn(const op_case *c) { return (double)c->d * c->n; }

static double energy_flops(const op_case *c)
{
    return 4.0 * c->B * grbm_dn(c) + 8.0 * c->B * c->n + 7.0 * c->B * c->d;
}

static double energy_bytes(const op_case *c)
{
    return 4.0 * ((double)grbm_size_of(c) + 2.0 * c->B * c->d + c->B);
}

static const op_kind GRBM_ENERGY = {"grbm_energy", energy_buffers, grbm_init_strong, energy_run,
                                    energy_flops, energy_bytes, NULL, NULL};

/* variance-reduced, M projections */
static int ssm_buffers(const op_case *c, op_buf *b)
{
    const size_t Bd = (size_t)c->B * c->d;
    b[0] = in_buf("theta", grbm_size_of(c), OP_FILL_CUSTOM, 0.0f);
    b[1] = in_buf("z", Bd, OP_FILL_NORMAL, 1.0f);
    b[2] = in_buf("v", Bd * c->M, OP_FILL_NORMAL, 1.0f);
    b[3] = out_buf("J", (size_t)c->B);
    b[4] = out_buf("grad", grbm_size_of(c));
    return 5;
}

static double ssm_run(const evae_backend *be, const op_case *c, void *const *buf, uint64_t call)
{
    be->grbm_ssm(be, F(0), c->d, c->n, F(1), c->B, F(2), c->M, 1, F(3), F(4));
    return 0.0;
}

/* nine products of B(M) x d x n */
static double ssm_flops(const op_case *c)
{
    const double B = c->B, M = c->M;
    return 2.0 * grbm_dn(c) * (6.0 * B + 3.0 * B * M) + 20.0 * B * c->n + 15.0 * B * c->d +
           14.0 * B * c->d * M;
}

static double ssm_bytes(const op_case *c)
{
    const double Bd = (double)c->B * c->d;
    return 4.0 * (2.0 * (double)grbm_size_of(c) + Bd + Bd * c->M + c->B);
}

static const op_kind GRBM_SSM = {"grbm_ssm", ssm_buffers, grbm_init_strong, ssm_run, ssm_flops,
                                 ssm_bytes, NULL, NULL};

/* denoising score matching: z the noisy samples, offset eps / s_n (s_n = 0.3) */
static int dsm_buffers(const op_case *c, op_buf *b)
{
    const size_t Bd = (size_t)c->B * c->d;
    b[0] = in_buf("theta", grbm_size_of(c), OP_FILL_CUSTOM, 0.0f);
    b[1] = in_buf("z", Bd, OP_FILL_NORMAL, 1.0f);
    b[2] = in_buf("offset", Bd, OP_FILL_NORMAL, 1.0f / 0.3f);
    b[3] = out_buf("J", (size_t)c->B);
    b[4] = out_buf("grad", grbm_size_of(c));
    return 5;
}

static double dsm_run(const evae_backend *be, const op_case *c, void *const *buf, uint64_t call)
{
    be->grbm_dsm(be, F(0), c->d, c->n, F(1), c->B, F(2), F(3), F(4));
    return 0.0;
}

/* ssm's pass without projections: six products of B x d x n */
static double dsm_flops(const op_case *c)
{
    return 2.0 * grbm_dn(c) * 6.0 * c->B + 20.0 * c->B * c->n + 15.0 * c->B * c->d;
}

static double dsm_bytes(const op_case *c)
{
    const double Bd = (double)c->B * c->d;
    return 4.0 * (2.0 * (double)grbm_size_of(c) + 2.0 * Bd + c->B);
}

static const op_kind GRBM_DSM = {"grbm_dsm", dsm_buffers, grbm_init_strong, dsm_run, dsm_flops,
                                 dsm_bytes, NULL, NULL};

/* the weighted energy gradient, signed weights (w ~ N(0, 1/B^2)), beta = c->beta */
static int param_grad_buffers(const op_case *c, op_buf *b)
{
    b[0] = in_buf("theta", grbm_size_of(c), OP_FILL_CUSTOM, 0.0f);
    b[1] = in_buf("z", (size_t)c->B * c->d, OP_FILL_NORMAL, 1.0f);
    b[2] = in_buf("w", (size_t)c->B, OP_FILL_NORMAL, 1.0f / (float)c->B);
    b[3] = beta_buf("grad", grbm_size_of(c), c->beta);
    return 4;
}

static double param_grad_run(const evae_backend *be, const op_case *c, void *const *buf,
                             uint64_t call)
{
    be->grbm_param_grad(be, F(0), c->d, c->n, F(1), c->B, F(2), c->beta, F(3));
    return 0.0;
}

/* three products of B x d x n */
static double param_grad_flops(const op_case *c)
{
    return 2.0 * grbm_dn(c) * 3.0 * c->B + 8.0 * c->B * c->n + 12.0 * c->B * c->d;
}

static double param_grad_bytes(const op_case *c)
{
    return 4.0 * (2.0 * (double)grbm_size_of(c) + (double)c->B * c->d + c->B);
}

static const op_kind GRBM_PARAM_GRAD = {"grbm_param_grad", param_grad_buffers, grbm_init_strong,
                                        param_grad_run, param_grad_flops, param_grad_bytes, NULL,
                                        NULL};

/* chains in place on z, `steps` steps per call, stream = call; scale = eta or beta */
static int chains_buffers(const op_case *c, op_buf *b)
{
    b[0] = in_buf("theta", grbm_size_of(c), OP_FILL_CUSTOM, 0.0f);
    b[1] = inout_buf("z", (size_t)c->B * c->d, OP_FILL_NORMAL, 1.0f);
    return 2;
}

static double langevin_run(const evae_backend *be, const op_case *c, void *const *buf,
                           uint64_t call)
{
    be->grbm_langevin(be, F(0), c->d, c->n, F(1), c->B, c->steps, c->scale, c->seed,
                      c->stream + call);
    return 0.0;
}

static double gibbs_run(const evae_backend *be, const op_case *c, void *const *buf,
                        uint64_t call)
{
    be->grbm_gibbs(be, F(0), c->d, c->n, F(1), c->B, c->steps, c->scale, c->seed,
                   c->stream + call);
    return 0.0;
}

static double langevin_flops(const op_case *c)
{
    return c->steps * (4.0 * c->B * grbm_dn(c) + 8.0 * c->B * c->n + 10.0 * c->B * c->d);
}

static double gibbs_flops(const op_case *c)
{
    return c->steps * (4.0 * c->B * grbm_dn(c) + 6.0 * c->B * c->n + 6.0 * c->B * c->d);
}

static double chains_bytes(const op_case *c)
{
    return 4.0 * ((double)grbm_size_of(c) + 2.0 * c->B * c->d);
}

static const op_kind GRBM_LANGEVIN = {"grbm_langevin", chains_buffers, grbm_init_strong,
                                      langevin_run, langevin_flops, chains_bytes, NULL, NULL};
static const op_kind GRBM_GIBBS = {"grbm_gibbs", chains_buffers, grbm_init_strong, gibbs_run,
                                   gibbs_flops, chains_bytes, NULL, NULL};

/* AIS log Z (evae/eval/ais.h, built on the ops): B chains, T temperatures, one Gibbs sweep
 * each, one run; the chains are its own, theta resident */
static int ais_buffers(const op_case *c, op_buf *b)
{
    b[0] = in_buf("theta", grbm_size_of(c), OP_FILL_CUSTOM, 0.0f);
    b[0].fixed = 1;
    return 1;
}

static void ais_init(const op_case *c, int set, void *const *host)
{
    if (host[0]) grbm_theta(c, host[0], 1.0f);
}

static double ais_run(const evae_backend *be, const op_case *c, void *const *buf, uint64_t call)
{
    evae_ais_opts o = evae_ais_default_opts();
    o.chains = c->B;
    o.temperatures = c->T;
    o.runs = 1;
    o.seed = 1 + call;
    evae_ais_result r;
    if (evae_ais_log_z(be, F(0), c->d, c->n, &o, &r)) abort();
    return 0.0;
}

/* two energies per temperature and their difference added to the log weights, which stay on
 * the backend (one download per run) */
static double ais_flops(const op_case *c)
{
    const double K = c->T;
    return c->B * grbm_dn(c) * (4.0 + 4.0 * K + 4.0 * (K - 1));
}

static double ais_bytes(const op_case *c)
{
    return 4.0 * ((double)grbm_size_of(c) + (double)c->B * c->d) + 24.0 * c->T * c->B;
}

static const op_kind AIS_LOG_Z = {"ais_log_z", ais_buffers, ais_init, ais_run, ais_flops,
                                  ais_bytes, NULL, NULL};

/* ------------------------------------------------------------------------------------------ */
/* lists */

static op_case *add(op_case_list *l, const op_kind *kind, const char *group)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        op_case *grown = realloc(l->cases, (size_t)l->cap * sizeof *grown);
        if (!grown) {
            evae_error("out of host memory listing op cases");
            abort();
        }
        l->cases = grown;
    }
    op_case *c = &l->cases[l->n++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    snprintf(c->group, sizeof c->group, "%s", group);
    snprintf(c->name, sizeof c->name, "%s", kind->op);
    return c;
}

#define SHAPE(c, ...) snprintf((c)->shape, sizeof (c)->shape, __VA_ARGS__)

void op_case_list_free(op_case_list *l)
{
    free(l->cases);
    memset(l, 0, sizeof *l);
}

int op_list_has(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, item, n) == 0) return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

static void test_gemm(op_case_list *l, int ta, int tb, int m, int n, int k, float alpha, float beta)
{
    op_case *c = add(l, &GEMM, "gemm");
    c->ta = ta, c->tb = tb, c->m = m, c->n = n, c->k = k, c->alpha = alpha, c->beta = beta;
    SHAPE(c, "ta=%d tb=%d m=%d n=%d k=%d beta=%g", ta, tb, m, n, k, beta);
}

static void test_col_sum(op_case_list *l, int rows, int cols, float beta)
{
    op_case *c = add(l, &COL_SUM, "elementwise");
    c->rows = rows, c->cols = cols, c->beta = beta;
    SHAPE(c, "rows=%d cols=%d beta=%g", rows, cols, beta);
}

static op_case *test_flat(op_case_list *l, const op_kind *kind, size_t n)
{
    op_case *c = add(l, kind, "elementwise");
    c->count = n;
    SHAPE(c, "n=%zu", n);
    return c;
}

static void test_conv(op_case_list *l, int N, int C, int H, int W, int K, int R, int S,
                      int stride, int pad)
{
    const evae_conv_shape s = {N, C, H, W, K, R, S, stride, pad};
    const op_kind *kinds[4] = {&CONV_FORWARD, &CONV_BACKWARD_DATA, &CONV_BACKWARD_FILTER,
                               &CONV_BACKWARD_FILTER};
    for (int i = 0; i < 4; i++) {
        op_case *c = add(l, kinds[i], "conv");
        c->conv = s;
        c->beta = i == 3 ? 0.7f : 0.0f;
        SHAPE(c, "N%d C%d H%d W%d K%d R%d S%d st%d pad%d%s", N, C, H, W, K, R, S, stride, pad,
              i == 2 ? " beta=0" : i == 3 ? " beta=0.7" : "");
    }
}

void op_test_cases(op_case_list *l)
{
    memset(l, 0, sizeof *l);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            test_gemm(l, ta, tb, 37, 53, 29, 0.7f, 0.3f);
            test_gemm(l, ta, tb, 65, 33, 130, 1.0f, 0.0f);
        }
    test_gemm(l, 0, 0, 1, 1, 1, 2.0f, -1.0f);
    test_gemm(l, 1, 0, 5, 1, 300, 1.0f, 0.0f);
    test_gemm(l, 0, 1, 300, 257, 129, -0.5f, 1.0f);

    test_col_sum(l, 1000, 45, 0.0f);
    test_col_sum(l, 3, 70, 0.5f);
    test_col_sum(l, 700, 1, 1.0f);
    test_col_sum(l, 4099, 513, 0.0f);
    test_flat(l, &SUM, 1000003);
    test_flat(l, &SUM, 1);
    test_flat(l, &AXPY, 1000003)->alpha = -0.37f;
    test_flat(l, &SCALE, 1000003)->alpha = 0.37f;
    test_flat(l, &ACCUMULATE_DIFF, 100003);

    /* random fills: seeds and streams at both ends of their range */
    const uint64_t seeds[] = {0, 1, OP_SEED, UINT64_MAX};
    const uint64_t streams[] = {0, 7, evae_stream(EVAE_STREAM_REPARAM, 123456789), UINT64_MAX};
    /* starts: 0, inside a Philox block (lane 3), and far out (a rank's share of a big batch) */
    const uint64_t starts[] = {0, 7, 3, (1ull << 33) + 1};
    const op_kind *fills[3] = {&RAND_UNIFORM, &RAND_RADEMACHER, &RAND_NORMAL};
    for (int s = 0; s < 4; s++)
        for (int f = 0; f < 3; f++) {
            op_case *c = add(l, fills[f], "elementwise");
            c->count = 100003, c->seed = seeds[s], c->stream = streams[s], c->start = starts[s];
            SHAPE(c, "n=%zu seed %d from %llu", c->count, s, (unsigned long long)c->start);
        }

    op_case *c = add(l, &GATHER_ROWS, "elementwise");
    c->B = 23, c->D = 37, c->T = 50;
    SHAPE(c, "B=%d D=%d of %d rows", c->B, c->D, c->T);
    for (int relu = 0; relu < 2; relu++) {
        c = add(l, &BIAS_ACT, "elementwise");
        c->rows = 37, c->cols = 130, c->relu = relu;
        SHAPE(c, "rows=%d cols=%d relu=%d", c->rows, c->cols, relu);
        c = add(l, &CHANNEL_BIAS_ACT, "elementwise");
        c->N = 3, c->C = 5, c->HW = 37, c->relu = relu;
        SHAPE(c, "N=%d C=%d HW=%d relu=%d", c->N, c->C, c->HW, relu);
    }
    test_flat(l, &RELU_BACKWARD, 10007);
    test_flat(l, &BINARIZE, 10007);
    test_flat(l, &LOGIT_DEQUANTIZE, 30011)->alpha = 0.05f;
    c = add(l, &REPARAM, "elementwise");
    c->B = 37, c->d = 67;
    SHAPE(c, "B=%d d=%d", c->B, c->d);
    for (int outputs = 0; outputs < 2; outputs++) { /* both, ll only */
        c = add(l, &BERNOULLI_LL, "elementwise");
        c->B = 37, c->D = 785, c->scale = -0.125f, c->outputs = outputs ? OP_OUT_1 : 0;
        SHAPE(c, "B=%d D=%d%s", c->B, c->D, outputs ? " ll only" : "");
    }
    for (int outputs = 0; outputs < 3; outputs++) { /* both, entropy only, denc only */
        c = add(l, &GAUSS_POSTERIOR, "elementwise");
        c->B = 29, c->d = 67, c->scale = -0.75f, c->outputs = outputs;
        SHAPE(c, "B=%d d=%d%s", c->B, c->d,
              outputs == 1 ? " ent only" : outputs == 2 ? " denc only" : "");
    }
    c = add(l, &ADAM, "adam");
    c->count = 10007, c->steps = 5, c->alpha = 1e-3f;
    SHAPE(c, "n=%zu steps=%d", c->count, c->steps);
    const int cs[2][4] = {{17, 6, 1000, 0}, {2, 3, 5, 1}};
    for (int i = 0; i < 2; i++) {
        c = add(l, &CHANNEL_SUM, "elementwise");
        c->N = cs[i][0], c->C = cs[i][1], c->HW = cs[i][2], c->beta = cs[i][3] ? 0.5f : 0.0f;
        SHAPE(c, "N=%d C=%d HW=%d beta=%g", c->N, c->C, c->HW, c->beta);
    }
    for (int outputs = 0; outputs < 2; outputs++) { /* both, dmean only */
        c = add(l, &LAPLACE_LL, "elementwise");
        c->B = 13, c->D = 3073, c->scale = 0.37f, c->beta = -0.5f;
        c->outputs = outputs ? OP_OUT_2 : 0;
        SHAPE(c, "B=%d D=%d%s", c->B, c->D, outputs ? " dmean only" : "");
    }

    test_conv(l, 3, 5, 11, 9, 7, 3, 4, 2, 1);    /* everything odd */
    test_conv(l, 2, 4, 7, 6, 3, 2, 3, 1, 0);     /* stride 1, no padding */
    test_conv(l, 4, 3, 32, 32, 32, 4, 4, 2, 1);  /* CIFAR-10 encoder, first */
    test_conv(l, 2, 128, 4, 4, 256, 4, 4, 2, 1); /* CIFAR-10 encoder, last */
    for (int i = 0; i < 2; i++) { /* no images: dw = beta dw */
        c = add(l, &CONV_BACKWARD_FILTER, "conv");
        const evae_conv_shape s = {0, 5, 11, 9, 7, 3, 4, 2, 1};
        c->conv = s, c->beta = i ? 0.7f : 0.0f;
        SHAPE(c, "N0 C5 H11 W9 K7 R3 S4 st2 pad1 beta=%g", c->beta);
    }
}

/* ---- the benchmark's cases ---- */

static void bench_grbm(op_case_list *l, int gpu, int B, int d, int n, const char *tag)
{
    op_case *c = add(l, &GRBM_ENERGY, "grbm");
    c->B = B, c->d = d, c->n = n;
    snprintf(c->name, sizeof c->name, "grbm_energy (E, dE/dz)");
    SHAPE(c, "%s B=%d d=%d n=%d", tag, B, d, n);
    c = add(l, &GRBM_SSM, "grbm");
    c->B = B, c->d = d, c->n = n, c->M = 1;
    snprintf(c->name, sizeof c->name, "grbm_ssm (J, dJ/dtheta)");
    SHAPE(c, "%s B=%d d=%d n=%d M=%d", tag, B, d, n, c->M);
    c = add(l, &GRBM_DSM, "grbm");
    c->B = B, c->d = d, c->n = n;
    snprintf(c->name, sizeof c->name, "grbm_dsm (J, dJ/dtheta)");
    SHAPE(c, "%s B=%d d=%d n=%d", tag, B, d, n);
    c = add(l, &GRBM_PARAM_GRAD, "grbm");
    c->B = B, c->d = d, c->n = n, c->beta = 0.0f;
    snprintf(c->name, sizeof c->name, "grbm_param_grad (weighted dE/dtheta)");
    SHAPE(c, "%s B=%d d=%d n=%d", tag, B, d, n);
    const op_kind *chains[2] = {&GRBM_LANGEVIN, &GRBM_GIBBS};
    for (int i = 0; i < 2; i++) {
        c = add(l, chains[i], "grbm");
        c->B = B, c->d = d, c->n = n, c->steps = 10, c->scale = i ? 1.0f : 1e-3f, c->seed = 5;
        SHAPE(c, "%s B=%d d=%d n=%d steps=%d", tag, B, d, n, c->steps);
    }
    c = add(l, &AIS_LOG_Z, "grbm");
    c->B = B, c->d = d, c->n = n, c->T = gpu ? 100 : 20; /* the CPU: a call under a second */
    SHAPE(c, "%s chains=%d d=%d n=%d K=%d", tag, B, d, n, c->T);
}

static op_case *bench_elem(op_case_list *l, const op_kind *kind, const char *name)
{
    op_case *c = add(l, kind, "elementwise");
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

/* the MNIST side (B examples, D pixels, H hidden, d latent, n_train resident examples) */
static void bench_mnist_elementwise(op_case_list *l, int B, int D, int H, int d, int n_train,
                                    const char *tag)
{
    const size_t BD = (size_t)B * D, BH = (size_t)B * H, Bd = (size_t)B * d;
    op_case *c = bench_elem(l, &GATHER_ROWS, "gather_rows");
    c->B = B, c->D = D, c->T = n_train;
    SHAPE(c, "%s B=%d D=%d of %d rows", tag, B, D, n_train);
    c = bench_elem(l, &RAND_UNIFORM, "rand_uniform");
    c->count = BD, c->seed = 7;
    SHAPE(c, "%s n=B*D=%zu", tag, BD);
    c = bench_elem(l, &BINARIZE, "binarize");
    c->count = BD;
    SHAPE(c, "%s n=B*D=%zu", tag, BD);
    c = bench_elem(l, &RAND_NORMAL, "rand_normal");
    c->count = Bd, c->seed = 7;
    SHAPE(c, "%s n=B*d=%zu", tag, Bd);
    c = bench_elem(l, &REPARAM, "reparam");
    c->B = B, c->d = d;
    SHAPE(c, "%s B=%d d=%d", tag, B, d);
    c = bench_elem(l, &GAUSS_POSTERIOR, "gauss_posterior (ent, denc)");
    c->B = B, c->d = d, c->scale = -1.0f / (float)B;
    SHAPE(c, "%s B=%d d=%d", tag, B, d);
    c = bench_elem(l, &AXPY, "axpy");
    c->count = Bd, c->alpha = 0.5f;
    SHAPE(c, "%s B=%d d=%d", tag, B, d);
    c = bench_elem(l, &BERNOULLI_LL, "bernoulli_ll (ll, dlogits)");
    c->B = B, c->D = D, c->scale = -1.0f / (float)B;
    SHAPE(c, "%s B=%d D=%d", tag, B, D);
    c = bench_elem(l, &BIAS_ACT, "bias_act (ReLU)");
    c->rows = B, c->cols = H, c->relu = 1;
    SHAPE(c, "%s rows=%d cols=%d", tag, B, H);
    c = bench_elem(l, &COL_SUM, "col_sum");
    c->rows = B, c->cols = H;
    SHAPE(c, "%s rows=%d cols=%d", tag, B, H);
    c = bench_elem(l, &RELU_BACKWARD, "relu_backward");
    c->count = BH;
    SHAPE(c, "%s n=B*H=%zu", tag, BH);
    c = bench_elem(l, &SUM, "sum (to host)");
    c->count = (size_t)B;
    SHAPE(c, "%s n=B=%d", tag, B);
}

/* the CIFAR-10 side (B images of 3x32x32; the first convolution's output: 32 channels of 16x16) */
static void bench_cifar_elementwise(op_case_list *l, int B, const char *tag)
{
    const int D = 3072, C = 32, HW = 256;
    op_case *c = bench_elem(l, &LOGIT_DEQUANTIZE, "logit_dequantize");
    c->count = (size_t)B * D, c->alpha = 0.05f;
    SHAPE(c, "%s n=B*D=%zu", tag, c->count);
    c = bench_elem(l, &LAPLACE_LL, "laplace_ll (ll, dmean)");
    c->B = B, c->D = D, c->scale = 0.5f, c->beta = -1.0f / (float)B;
    SHAPE(c, "%s B=%d D=%d", tag, B, D);
    c = bench_elem(l, &CHANNEL_BIAS_ACT, "channel_bias_act (ReLU)");
    c->N = B, c->C = C, c->HW = HW, c->relu = 1;
    SHAPE(c, "%s N=%d C=%d HW=%d", tag, B, C, HW);
    c = bench_elem(l, &CHANNEL_SUM, "channel_sum");
    c->N = B, c->C = C, c->HW = HW;
    SHAPE(c, "%s N=%d C=%d HW=%d", tag, B, C, HW);
}

static void bench_adam(op_case_list *l, size_t n, const char *tag)
{
    op_case *c = add(l, &ADAM, "adam");
    c->count = n, c->steps = 1, c->t0 = 9, c->alpha = 1e-3f;
    SHAPE(c, "%s n=%zu", tag, n);
}

/* the three products of every linear layer of a network, batch B, as evae_net_forward and
 * evae_net_backward call them; the encoder's first layer has no input gradient (first_dx 0) */
static void bench_linear(op_case_list *l, const evae_network *net, const char *prefix, int B,
                         int first_dx, const char *tag)
{
    static const char *const what[3] = {"forward", "weight grad", "input grad"};
    for (int i = 0; i < net->n_layers; i++) {
        const evae_layer *L = &net->layers[i];
        if (L->kind != EVAE_LINEAR) continue;
        const int dims[3][5] = {{0, 0, B, L->out_dim, L->in_dim},
                                {1, 0, L->in_dim, L->out_dim, B},
                                {0, 1, B, L->in_dim, L->out_dim}};
        for (int p = 0; p < 3; p++) {
            if (p == 2 && i == 0 && !first_dx) continue;
            op_case *c = add(l, &GEMM, "gemm");
            c->ta = dims[p][0], c->tb = dims[p][1], c->m = dims[p][2], c->n = dims[p][3];
            c->k = dims[p][4], c->alpha = 1.0f;
            snprintf(c->name, sizeof c->name, "%s.%d %s", prefix, i, what[p]);
            SHAPE(c, "%s %d-%d B=%d %c%c m=%d n=%d k=%d", tag, L->in_dim, L->out_dim, B,
                  c->ta ? 'T' : 'N', c->tb ? 'T' : 'N', c->m, c->n, c->k);
        }
    }
}

/* the three passes of every convolution of a network, batch B; a transposed convolution runs
 * backward-data forward and forward backward */
static void bench_conv(op_case_list *l, const evae_network *net, const char *prefix, int B,
                       const char *tag)
{
    for (int i = 0; i < net->n_layers; i++) {
        const evae_layer *L = &net->layers[i];
        if (L->kind == EVAE_LINEAR) continue;
        const int deconv = L->kind == EVAE_DECONV;
        const op_kind *kinds[3] = {&CONV_FORWARD, &CONV_BACKWARD_DATA, &CONV_BACKWARD_FILTER};
        const char *names[3] = {deconv ? "backward (conv_forward)" : "forward",
                                deconv ? "forward (conv_backward_data)" : "backward data",
                                "weight grad (conv_backward_filter)"};
        for (int p = 0; p < 3; p++) {
            op_case *c = add(l, kinds[p], "conv");
            c->conv = L->conv;
            c->conv.N = B;
            const evae_conv_shape *s = &c->conv;
            snprintf(c->name, sizeof c->name, "%s.%d %s", prefix, i, names[p]);
            SHAPE(c, "%s N=%d %dx%dx%d->%dx%dx%d", tag, B, s->C, s->H, s->W, s->K, evae_conv_P(s),
                  evae_conv_Q(s));
        }
    }
}

int op_bench_cases(op_case_list *l, const evae_backend *be, int gpu, const char *groups,
                   const char *sizes, int fill)
{
    memset(l, 0, sizeof *l);
    /* the two models, for their layer lists and parameter counts */
    evae_model mnist, cifar;
    evae_model_shape ms = {EVAE_ARCH_MLP, 1, 28, 28, 64, 512, 128, 1};
    evae_model_shape cs = {EVAE_ARCH_CONV, 3, 32, 32, 512, 0, 128, 1};
    if (evae_model_create(&mnist, be, &ms)) return 1;
    if (evae_model_create(&cifar, be, &cs)) {
        evae_model_free(&mnist);
        return 1;
    }
    for (int pass = 0; pass < 2; pass++) {
        const char *size = pass == 0 ? "paper" : "fill";
        if (!op_list_has(sizes, size)) continue;
        const int f = pass == 0 ? 1 : fill, Bm = 512 * f, Bc = 1024 * f;
        const char *tm = pass ? "fill mnist" : "mnist", *tc = pass ? "fill cifar" : "cifar";
        if (op_list_has(groups, "grbm")) {
            bench_grbm(l, gpu, Bm, 64, 128, tm);
            bench_grbm(l, gpu, Bc, 512, 128, tc);
        }
        if (op_list_has(groups, "elementwise")) {
            bench_mnist_elementwise(l, Bm, 784, 512, 64, 60000, tm);
            bench_cifar_elementwise(l, Bc, tc);
        }
        if (op_list_has(groups, "adam")) { /* the fill pass scales the parameter count alike */
            bench_adam(l, mnist.n_params * (size_t)f, tm);
            bench_adam(l, cifar.n_params * (size_t)f, tc);
        }
        if (op_list_has(groups, "gemm")) {
            bench_linear(l, &mnist.enc, "enc", Bm, 0, tm);
            bench_linear(l, &mnist.dec, "dec", Bm, 1, tm);
            bench_linear(l, &cifar.enc, "enc", Bc, 0, tc);
        }
        if (op_list_has(groups, "conv")) {
            bench_conv(l, &cifar.enc, "enc", Bc, pass ? "fill" : "cifar");
            bench_conv(l, &cifar.dec, "dec", Bc, pass ? "fill" : "cifar");
        }
    }
    evae_model_free(&mnist);
    evae_model_free(&cifar);
    return 0;
}
