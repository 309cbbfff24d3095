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

/* col[CRS, ld] (columns [0, PQ) of this image) from one image x[C,H,W]; zero where the
 * receptive field falls into the padding. */
static void im2col(const evae_conv_shape *s, const conv_plan *pl, const float *x, float *col,
                   size_t ld)
{
    const int H = s->H, W = s->W, P = pl->P, Q = pl->Q, st = s->stride, pad = s->pad;
    for (int c = 0; c < s->C; c++)
        for (int r = 0; r < s->R; r++) {
            int p_lo, p_hi;
            conv_valid_range(H, P, st, pad, r, &p_lo, &p_hi);
            for (int f = 0; f < s->S; f++) {
                int q_lo, q_hi;
                conv_valid_range(W, Q, st, pad, f, &q_lo, &q_hi);
                float *dst = col + ((size_t)(c * s->R + r) * s->S + f) * ld;
                for (int p = 0; p < P; p++) {
                    float *row = dst + (size_t)p * Q;
                    if (p < p_lo || p >= p_hi) {
                        memset(row, 0, (size_t)Q * sizeof(float));
                        continue;
                    }
                    const float *src = x + ((size_t)c * H + (p * st - pad + r)) * W; /* [W] */
                    const int off = f - pad;
                    for (int q = 0; q < q_lo; q++) row[q] = 0.0f;
                    for (int q = q_lo; q < q_hi; q++) row[q] = src[q * st + off];
                    for (int q = q_hi; q < Q; q++) row[q] = 0.0f;
                }
            }
        }
}

/* dx[C,H,W] += the scatter of col[CRS, ld] (columns [0, PQ)): the adjoint of im2col. */
static void col2im_add(const evae_conv_shape *s, const conv_plan *pl, const float *col, size_t ld,
                       float *dx)
{
    const int H = s->H, W = s->W, P = pl->P, Q = pl->Q, st = s->stride, pad = s->pad;
    for (int c = 0; c < s->C; c++)
        for (int r = 0; r < s->R; r++) {
            int p_lo, p_hi;
            conv_valid_range(H, P, st, pad, r, &p_lo, &p_hi);
            for (int f = 0; f < s->S; f++) {
                int q_lo, q_hi;
                conv_valid_range(W, Q, st, pad, f, &q_lo, &q_hi);
                const float *src = col + ((size_t)(c * s->R + r) * s->S + f) * ld;
                for (int p = p_lo; p < p_hi; p++) {
                    const float *row = src + (size_t)p * Q;
                    float *dst = dx + ((size_t)c * H + (p * st - pad + r)) * W; /* [W] */
                    const int off = f - pad;
                    for (int q = q_lo; q < q_hi; q++) dst[q * st + off] += row[q];
                }
            }
        }
}

/* stage[K, nb*PQ] <-> t[nb, K, PQ]: the gemm's image-major columns vs NCHW */
static void nchw_to_stage(const float *t, float *stage, int nb, int K, size_t PQ)
{
    size_t ld = (size_t)nb * PQ;
    for (int i = 0; i < nb; i++)
        for (int k = 0; k < K; k++)
            memcpy(stage + k * ld + i * PQ, t + ((size_t)i * K + k) * PQ, PQ * sizeof(float));
}

static void stage_to_nchw(const float *stage, float *t, int nb, int K, size_t PQ)
{
    size_t ld = (size_t)nb * PQ;
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
        for (int i = 0; i < nb; i++)
            im2col(s, &pl, x + (size_t)(n0 + i) * x_img, col + i * pl.PQ, ld);
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
        for (int i = 0; i < nb; i++)
            col2im_add(s, &pl, col + i * pl.PQ, ld, dx + (size_t)(n0 + i) * x_img);
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
        for (int i = 0; i < nb; i++)
            im2col(s, &pl, x + (size_t)(n0 + i) * x_img, col + i * pl.PQ, ld);
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
