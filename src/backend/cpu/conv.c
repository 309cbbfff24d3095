/* CPU convolutions for the CIFAR-10 model (NCHW cross-correlation, evae/backend/backend.h; the
 * twin of kernels/conv.cu).
 *
 * Convolutions lower to one sgemm per chunk of images through im2col:
 *   col[C*R*S, nb*P*Q]   column (i*P*Q + p*Q + q) holds the receptive field of output (i, p, q)
 *   forward          y[K, nb*PQ]   = w[K, CRS] col
 *   backward data    col           = w^T[CRS, K] dy[K, nb*PQ], then col2im (scatter-add) into dx
 *   backward filter  dw[K, CRS]   += dy[K, nb*PQ] col^T
 * Images are grouped so that the gemm sees enough columns to run near peak when P*Q is small
 * (the model's deep layers have P*Q = 4), while the buffers stay under CONV_BUF_FLOATS. */
#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_parallel.h"
#include "evae/util.h"

#include <stdlib.h>
#include <string.h>

/* Upper bound on the floats of each temporary (col and the [K, nb*PQ] staging buffer): 4 MiB
 * each, a few L2s' worth; a chunk holds at least one image even when that exceeds the bound. */
#define CONV_BUF_FLOATS ((size_t)1 << 20)

typedef struct conv_plan {
    int P, Q;
    size_t PQ, CRS;
    int nb; /* images per chunk */
} conv_plan;

static conv_plan conv_make_plan(const evae_conv_shape *s)
{
    conv_plan pl;
    pl.P = evae_conv_P(s);
    pl.Q = evae_conv_Q(s);
    pl.PQ = (size_t)pl.P * pl.Q;
    pl.CRS = (size_t)s->C * s->R * s->S;
    size_t per_image = pl.PQ * (pl.CRS > (size_t)s->K ? pl.CRS : (size_t)s->K);
    size_t nb = per_image ? CONV_BUF_FLOATS / per_image : (size_t)s->N;
    if (nb < 1) nb = 1;
    if (nb > (size_t)s->N) nb = (size_t)s->N;
    pl.nb = (int)nb;
    return pl;
}

/* First and one-past-last output index o with 0 <= o*stride - pad + f < extent (the outputs
 * that read an in-bounds input at filter offset f), clipped to [0, out). */
static void conv_valid_range(int extent, int out, int stride, int pad, int f, int *lo, int *hi)
{
    int a = pad - f; /* need o*stride >= a */
    int l = a > 0 ? (a + stride - 1) / stride : 0;
    int b = extent - 1 + pad - f; /* need o*stride <= b */
    int h = b >= 0 ? b / stride + 1 : 0;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* col[CRS, nb*PQ] from the chunk's images x[nb, C, H, W]; zero where the receptive field falls
 * into the padding. Row by row: each row (c, r, f) is written whole and by one thread, the images
 * one after another, so that the writes stream through memory (the old image-by-image order wrote
 * PQ floats into each of the CRS rows, a partial cache line per row and image for small PQ). */
static void im2col_chunk(const evae_conv_shape *s, const conv_plan *pl, const float *x, int nb,
                         float *col)
{
    const int H = s->H, W = s->W, P = pl->P, Q = pl->Q, st = s->stride, pad = s->pad;
    const size_t x_img = (size_t)s->C * H * W, ld = (size_t)nb * pl->PQ;
    const int rows = (int)pl->CRS;
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)rows * ld))
    for (int row_i = 0; row_i < rows; row_i++) {
        const int c = row_i / (s->R * s->S), r = row_i / s->S % s->R, f = row_i % s->S;
        int p_lo, p_hi, q_lo, q_hi;
        conv_valid_range(H, P, st, pad, r, &p_lo, &p_hi);
        conv_valid_range(W, Q, st, pad, f, &q_lo, &q_hi);
        const int off = f - pad;
        float *dst = col + (size_t)row_i * ld; /* [nb*PQ] */
        for (int i = 0; i < nb; i++) {
            const float *plane = x + (size_t)i * x_img + (size_t)c * H * W; /* [H, W] */
            for (int p = 0; p < P; p++, dst += Q) {
                if (p < p_lo || p >= p_hi) {
                    memset(dst, 0, (size_t)Q * sizeof(float));
                    continue;
                }
                const float *src = plane + (size_t)(p * st - pad + r) * W; /* [W] */
                for (int q = 0; q < q_lo; q++) dst[q] = 0.0f;
                for (int q = q_lo; q < q_hi; q++) dst[q] = src[q * st + off];
                for (int q = q_hi; q < Q; q++) dst[q] = 0.0f;
            }
        }
    }
}

/* dx[nb, C, H, W] += the scatter of col[CRS, nb*PQ]: the adjoint of im2col_chunk. One thread per
 * channel c owns dx[:, c], and adds its rows (r, f) in order, as one thread would. */
static void col2im_chunk_add(const evae_conv_shape *s, const conv_plan *pl, const float *col,
                             int nb, float *dx)
{
    const int H = s->H, W = s->W, P = pl->P, Q = pl->Q, st = s->stride, pad = s->pad;
    const size_t x_img = (size_t)s->C * H * W, ld = (size_t)nb * pl->PQ;
#pragma omp parallel for schedule(static) if (cpu_par_worth(pl->CRS * ld))
    for (int c = 0; c < s->C; c++)
        for (int r = 0; r < s->R; r++) {
            int p_lo, p_hi;
            conv_valid_range(H, P, st, pad, r, &p_lo, &p_hi);
            for (int f = 0; f < s->S; f++) {
                int q_lo, q_hi;
                conv_valid_range(W, Q, st, pad, f, &q_lo, &q_hi);
                const int off = f - pad;
                const float *src = col + ((size_t)(c * s->R + r) * s->S + f) * ld; /* [nb*PQ] */
                for (int i = 0; i < nb; i++) {
                    float *plane = dx + (size_t)i * x_img + (size_t)c * H * W; /* [H, W] */
                    const float *img = src + (size_t)i * pl->PQ;                 /* [P, Q] */
                    for (int p = p_lo; p < p_hi; p++) {
                        const float *row = img + (size_t)p * Q;
                        float *dst = plane + (size_t)(p * st - pad + r) * W; /* [W] */
                        for (int q = q_lo; q < q_hi; q++) dst[q * st + off] += row[q];
                    }
                }
            }
        }
}

/* stage[K, nb*PQ] <-> t[nb, K, PQ]: the gemm's image-major columns vs NCHW */
static void nchw_to_stage(const float *t, float *stage, int nb, int K, size_t PQ)
{
    size_t ld = (size_t)nb * PQ;
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)K * ld))
    for (int k = 0; k < K; k++)
        for (int i = 0; i < nb; i++)
            memcpy(stage + k * ld + i * PQ, t + ((size_t)i * K + k) * PQ, PQ * sizeof(float));
}

static void stage_to_nchw(const float *stage, float *t, int nb, int K, size_t PQ)
{
    size_t ld = (size_t)nb * PQ;
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)K * ld))
    for (int i = 0; i < nb; i++)
        for (int k = 0; k < K; k++)
            memcpy(t + ((size_t)i * K + k) * PQ, stage + k * ld + i * PQ, PQ * sizeof(float));
}

void cpu_conv_forward(const evae_backend *be, const evae_conv_shape *s, const float *x,
                      const float *w, float *y)
{
    conv_plan pl = conv_make_plan(s);
    if (s->N <= 0 || pl.PQ == 0 || s->K <= 0) return;
    const size_t x_img = (size_t)s->C * s->H * s->W, y_img = (size_t)s->K * pl.PQ;
    float *col = evae_xcalloc(pl.CRS * pl.nb * pl.PQ, sizeof(float)); /* [CRS, nb*PQ] */
    float *stage = pl.nb > 1 ? evae_xcalloc(y_img * pl.nb, sizeof(float)) : NULL; /* [K, nb*PQ] */
    for (int n0 = 0; n0 < s->N; n0 += pl.nb) {
        int nb = s->N - n0 < pl.nb ? s->N - n0 : pl.nb;
        size_t ld = (size_t)nb * pl.PQ;
        im2col_chunk(s, &pl, x + (size_t)n0 * x_img, nb, col);
        float *out = nb > 1 ? stage : y + (size_t)n0 * y_img;
        if (pl.CRS == 0)
            memset(out, 0, y_img * nb * sizeof(float));
        else
            cpu_gemm(be, 0, 0, s->K, (int)ld, (int)pl.CRS, 1.0f, w, col, 0.0f, out);
        if (nb > 1) stage_to_nchw(stage, y + (size_t)n0 * y_img, nb, s->K, pl.PQ);
    }
    free(stage);
    free(col);
}

void cpu_conv_backward_data(const evae_backend *be, const evae_conv_shape *s, const float *dy,
                            const float *w, float *dx)
{
    const size_t x_img = (size_t)s->C * s->H * s->W;
    if (s->N <= 0) return;
    memset(dx, 0, x_img * s->N * sizeof(float));
    conv_plan pl = conv_make_plan(s);
    if (pl.PQ == 0 || pl.CRS == 0 || s->K <= 0) return;
    const size_t y_img = (size_t)s->K * pl.PQ;
    float *col = evae_xcalloc(pl.CRS * pl.nb * pl.PQ, sizeof(float)); /* [CRS, nb*PQ] */
    float *stage = pl.nb > 1 ? evae_xcalloc(y_img * pl.nb, sizeof(float)) : NULL; /* [K, nb*PQ] */
    for (int n0 = 0; n0 < s->N; n0 += pl.nb) {
        int nb = s->N - n0 < pl.nb ? s->N - n0 : pl.nb;
        size_t ld = (size_t)nb * pl.PQ;
        const float *g = dy + (size_t)n0 * y_img;
        if (nb > 1) {
            nchw_to_stage(g, stage, nb, s->K, pl.PQ);
            g = stage;
        }
        cpu_gemm(be, 1, 0, (int)pl.CRS, (int)ld, s->K, 1.0f, w, g, 0.0f, col);
        col2im_chunk_add(s, &pl, col, nb, dx + (size_t)n0 * x_img);
    }
    free(stage);
    free(col);
}

void cpu_conv_backward_filter(const evae_backend *be, const evae_conv_shape *s, const float *x,
                              const float *dy, float *dw, float beta)
{
    conv_plan pl = conv_make_plan(s);
    const size_t w_size = (size_t)s->K * pl.CRS;
    if (s->N <= 0 || pl.PQ == 0) { /* no outputs: the gradient is zero */
        if (beta == 0.0f)
            memset(dw, 0, w_size * sizeof(float));
        else
            for (size_t i = 0; i < w_size; i++) dw[i] *= beta;
        return;
    }
    if (w_size == 0) return;
    const size_t x_img = (size_t)s->C * s->H * s->W, y_img = (size_t)s->K * pl.PQ;
    float *col = evae_xcalloc(pl.CRS * pl.nb * pl.PQ, sizeof(float)); /* [CRS, nb*PQ] */
    float *stage = pl.nb > 1 ? evae_xcalloc(y_img * pl.nb, sizeof(float)) : NULL; /* [K, nb*PQ] */
    for (int n0 = 0; n0 < s->N; n0 += pl.nb) {
        int nb = s->N - n0 < pl.nb ? s->N - n0 : pl.nb;
        size_t ld = (size_t)nb * pl.PQ;
        im2col_chunk(s, &pl, x + (size_t)n0 * x_img, nb, col);
        const float *g = dy + (size_t)n0 * y_img;
        if (nb > 1) {
            nchw_to_stage(g, stage, nb, s->K, pl.PQ);
            g = stage;
        }
        /* the first chunk applies the caller's beta, later chunks accumulate */
        cpu_gemm(be, 0, 1, s->K, (int)pl.CRS, (int)ld, 1.0f, g, col, n0 == 0 ? beta : 1.0f, dw);
    }
    free(stage);
    free(col);
}
