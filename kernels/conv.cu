/* Convolutions through cuDNN's convolution API (cudnnConvolutionForward / BackwardData /
 * BackwardFilter, still part of cuDNN 9 in libcudnn_cnn, declared deprecated but not warned
 * about unless CUDNN_WARN_DEPRECATED is defined): NCHW float tensors, cross-correlation, as the
 * CPU backend's im2col + sgemm (its twin src/backend/cpu/conv.c).
 *
 * Per convolution shape the descriptors and the three algorithms are chosen once, with cuDNN's
 * heuristics (cudnnGet*Algorithm_v7: no benchmarking, so the same card and library pick the same
 * algorithms every run), and cached. The first heuristic candidate is taken that
 *  - runs in FP32 FMA math (CUDNN_FMA_MATH, no TF32: results comparable with the CPU within float
 *    rounding) unless EVAE_ALLOW_TF32=1,
 *  - is deterministic (bitwise repeatable backward passes: some backward algorithms accumulate
 *    with atomics), unless EVAE_CUDNN_DETERMINISTIC=0 (or, in the tests,
 *    evae_cuda_set_conv_deterministic) allows any; deterministic is the default because a
 *    resumed run must continue exactly (docs/DESIGN.md s.5.5) and every other CUDA op is
 *    deterministic already,
 *  - needs at most CONV_WORKSPACE_LIMIT bytes of workspace (taken from the shared scratch).
 * The backend's algorithms() lists the choices for the run manifest. */
#if !__has_include(<cudnn.h>)
#error "cuDNN (cudnn.h) was not found: install cuDNN 8/9 for this CUDA toolkit, or configure with -DEVAE_WITH_CUDA=OFF"
#endif
#include <cudnn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_context.cuh"
#include "cuda_ops.cuh"

#define CUDNN_CHECK(call)                                                                 \
    do {                                                                                  \
        cudnnStatus_t st_ = (call);                                                       \
        if (st_ != CUDNN_STATUS_SUCCESS)                                                  \
            evae_cuda_die("cuDNN", cudnnGetErrorString(st_), #call, __FILE__, __LINE__);  \
    } while (0)

static const size_t CONV_WORKSPACE_LIMIT = (size_t)512 << 20;

/* One convolution shape: its descriptors and chosen algorithms (with their math type and
 * workspace), chosen with or without the restriction to deterministic algorithms. */
struct conv_plan {
    evae_conv_shape s;
    int deterministic;
    cudnnTensorDescriptor_t x, y; /* x[N,C,H,W], y[N,K,P,Q] */
    cudnnFilterDescriptor_t w;    /* w[K,C,R,S] */
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t data;
    cudnnConvolutionBwdFilterAlgo_t filter;
    cudnnMathType_t fwd_math, data_math, filter_math;
    size_t fwd_ws, data_ws, filter_ws;
};

/* The context's cuDNN state (cuda_context.conv), made on the first convolution. */
struct cuda_conv_cache {
    cudnnHandle_t handle; /* on the context's stream */
    conv_plan **plans;    /* [count] of cap */
    int count, cap;
    char *text;           /* the algorithm list of algorithms() */
};

/* cuDNN 9 numbers its versions major * 10000 + minor * 100 + patch, cuDNN 8 major * 1000 +
 * minor * 100 + patch (8.9.7 is 8907): the latter is rewritten into the former. */
size_t cuda_cudnn_version(void)
{
    size_t v = cudnnGetVersion();
    return v < 10000 ? v / 1000 * 10000 + v % 1000 : v;
}

static cuda_conv_cache *conv_cache(cuda_context *c)
{
    if (c->conv) return c->conv;
    cuda_conv_cache *cc = (cuda_conv_cache *)calloc(1, sizeof *cc);
    if (!cc) {
        fprintf(stderr, "evae: out of host memory at %s:%d\n", __FILE__, __LINE__);
        abort();
    }
    CUDNN_CHECK(cudnnCreate(&cc->handle));
    CUDNN_CHECK(cudnnSetStream(cc->handle, c->stream));
    c->conv = cc;
    return cc;
}

/* The _v7 heuristics list candidates for the descriptor's math type (FMA, or TENSOR_OP when
 * TF32 is allowed) and for CUDNN_DEFAULT_MATH, which on sm_80+ may use TF32 for float data. In
 * FP32 mode only the FMA candidates qualify; the descriptor is then set to the candidate's math
 * type before it runs. */
static int math_allowed(cudnnMathType_t m)
{
    return cuda_allow_tf32() || m == CUDNN_FMA_MATH;
}

static void choose_fwd(cudnnHandle_t handle, conv_plan *p)
{
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0;
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, p->x, p->w, p->conv, p->y,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got,
                                                       perf));
    for (int k = 0; k < got; k++) {
        const cudnnConvolutionFwdAlgoPerf_t *r = &perf[k];
        if (r->status != CUDNN_STATUS_SUCCESS || !math_allowed(r->mathType)) continue;
        if (p->deterministic && r->determinism != CUDNN_DETERMINISTIC) continue;
        cudnnMathType_t m = r->mathType;
        size_t ws = 0;
        CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, m));
        /* a query that may say "not supported": that status just rules the candidate out */
        if (cudnnGetConvolutionForwardWorkspaceSize(handle, p->x, p->w, p->conv, p->y,
                                                    r->algo, &ws) != CUDNN_STATUS_SUCCESS ||
            ws > CONV_WORKSPACE_LIMIT)
            continue;
        p->fwd = r->algo, p->fwd_math = m, p->fwd_ws = ws;
        return;
    }
    /* implicit GEMM: deterministic, FMA, no workspace, supported for every shape */
    p->fwd = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, p->fwd_math = CUDNN_FMA_MATH;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->fwd_math));
    CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle, p->x, p->w, p->conv, p->y,
                                                        p->fwd, &p->fwd_ws));
}

static void choose_data(cudnnHandle_t handle, conv_plan *p)
{
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int got = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        handle, p->w, p->y, p->conv, p->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, perf));
    for (int k = 0; k < got; k++) {
        const cudnnConvolutionBwdDataAlgoPerf_t *r = &perf[k];
        if (r->status != CUDNN_STATUS_SUCCESS || !math_allowed(r->mathType)) continue;
        if (p->deterministic && r->determinism != CUDNN_DETERMINISTIC) continue;
        cudnnMathType_t m = r->mathType;
        size_t ws = 0;
        CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, m));
        if (cudnnGetConvolutionBackwardDataWorkspaceSize(handle, p->w, p->y, p->conv, p->x,
                                                         r->algo, &ws) != CUDNN_STATUS_SUCCESS ||
            ws > CONV_WORKSPACE_LIMIT)
            continue;
        p->data = r->algo, p->data_math = m, p->data_ws = ws;
        return;
    }
    /* ALGO_1: deterministic and supported for every 2-D shape */
    p->data = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, p->data_math = CUDNN_FMA_MATH;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->data_math));
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(handle, p->w, p->y, p->conv, p->x,
                                                             p->data, &p->data_ws));
}

static void choose_filter(cudnnHandle_t handle, conv_plan *p)
{
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int got = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        handle, p->x, p->y, p->conv, p->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got,
        perf));
    for (int k = 0; k < got; k++) {
        const cudnnConvolutionBwdFilterAlgoPerf_t *r = &perf[k];
        if (r->status != CUDNN_STATUS_SUCCESS || !math_allowed(r->mathType)) continue;
        if (p->deterministic && r->determinism != CUDNN_DETERMINISTIC) continue;
        cudnnMathType_t m = r->mathType;
        size_t ws = 0;
        CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, m));
        if (cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, p->x, p->y, p->conv,
                                                           p->w, r->algo,
                                                           &ws) != CUDNN_STATUS_SUCCESS ||
            ws > CONV_WORKSPACE_LIMIT)
            continue;
        p->filter = r->algo, p->filter_math = m, p->filter_ws = ws;
        return;
    }
    /* ALGO_1: deterministic and supported for every 2-D shape */
    p->filter = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, p->filter_math = CUDNN_FMA_MATH;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->filter_math));
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, p->x, p->y, p->conv, p->w,
                                                               p->filter, &p->filter_ws));
}

/* The cached plan for shape s under the context's determinism setting (made on first use); the
 * entries have checked the shape (conv_check). */
static conv_plan *plan_for(cuda_context *c, const evae_conv_shape *s)
{
    cuda_conv_cache *cc = conv_cache(c);
    for (int k = 0; k < cc->count; k++)
        if (memcmp(&cc->plans[k]->s, s, sizeof *s) == 0 &&
            cc->plans[k]->deterministic == c->conv_deterministic)
            return cc->plans[k];
    int P = evae_conv_P(s), Q = evae_conv_Q(s);
    conv_plan *p = (conv_plan *)calloc(1, sizeof *p);
    if (!p) {
        fprintf(stderr, "evae: out of host memory at %s:%d\n", __FILE__, __LINE__);
        abort();
    }
    p->s = *s;
    p->deterministic = c->conv_deterministic;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s->N, s->C,
                                           s->H, s->W));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s->K, s->C,
                                           s->R, s->S));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, s->pad, s->pad, s->stride, s->stride, 1,
                                                1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    int on, ok, op, oq;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &on, &ok, &op, &oq));
    if (on != s->N || ok != s->K || op != P || oq != Q) {
        fprintf(stderr,
                "evae: cuDNN output %dx%dx%dx%d differs from evae_conv_P/Q %dx%dx%dx%d at %s:%d\n",
                on, ok, op, oq, s->N, s->K, P, Q, __FILE__, __LINE__);
        abort();
    }
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s->N, s->K, P,
                                           Q));
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, cuda_allow_tf32() ? CUDNN_TENSOR_OP_MATH
                                                                       : CUDNN_FMA_MATH));
    choose_fwd(cc->handle, p);
    choose_data(cc->handle, p);
    choose_filter(cc->handle, p);
    if (cc->count == cc->cap) {
        int cap = cc->cap ? 2 * cc->cap : 16;
        conv_plan **grown = (conv_plan **)realloc(cc->plans, (size_t)cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "evae: out of host memory at %s:%d\n", __FILE__, __LINE__);
            abort();
        }
        cc->plans = grown;
        cc->cap = cap;
    }
    cc->plans[cc->count++] = p;
    return p;
}

static const float conv_one = 1.0f, conv_zero = 0.0f;

/* The entries' check of a geometry: N >= 0 images, every other size positive, at least one
 * output position. */
static void conv_check(const char *op, const evae_conv_shape *s)
{
    if (!s) cuda_bad_arg(op, "shape is NULL");
    if (s->N < 0 || s->C <= 0 || s->H <= 0 || s->W <= 0 || s->K <= 0 || s->R <= 0 || s->S <= 0 ||
        s->stride <= 0 || s->pad < 0 || evae_conv_P(s) <= 0 || evae_conv_Q(s) <= 0)
        cuda_bad_arg(op, "invalid convolution shape N=%d C=%d H=%d W=%d K=%d R=%d S=%d stride=%d "
                     "pad=%d", s->N, s->C, s->H, s->W, s->K, s->R, s->S, s->stride, s->pad);
}

static void conv_forward_launch(cuda_context *c, const evae_conv_shape *s, const float *x,
                                const float *w, float *y)
{
    conv_plan *p = plan_for(c, s);
    void *ws = p->fwd_ws ? cuda_scratch(c, p->fwd_ws) : NULL;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->fwd_math));
    CUDNN_CHECK(cudnnConvolutionForward(c->conv->handle, &conv_one, p->x, x, p->w, w, p->conv,
                                        p->fwd, ws, p->fwd_ws, &conv_zero, p->y, y));
    CUDA_CHECK_LAUNCH();
}

void cuda_conv_forward(const evae_backend *be, const evae_conv_shape *s, const float *x,
                       const float *w, float *y)
{
    conv_check("conv_forward", s);
    if (s->N == 0) return;
    cuda_need_buf("conv_forward", "x", x, true);
    cuda_need_buf("conv_forward", "w", w, true);
    cuda_need_buf("conv_forward", "y", y, true);
    conv_forward_launch(cuda_of(be), s, x, w, y);
}

static void conv_backward_data_launch(cuda_context *c, const evae_conv_shape *s, const float *dy,
                                      const float *w, float *dx)
{
    conv_plan *p = plan_for(c, s);
    void *ws = p->data_ws ? cuda_scratch(c, p->data_ws) : NULL;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->data_math));
    CUDNN_CHECK(cudnnConvolutionBackwardData(c->conv->handle, &conv_one, p->w, w, p->y, dy,
                                             p->conv, p->data, ws, p->data_ws, &conv_zero, p->x,
                                             dx));
    CUDA_CHECK_LAUNCH();
}

void cuda_conv_backward_data(const evae_backend *be, const evae_conv_shape *s, const float *dy,
                             const float *w, float *dx)
{
    conv_check("conv_backward_data", s);
    if (s->N == 0) return;
    cuda_need_buf("conv_backward_data", "dy", dy, true);
    cuda_need_buf("conv_backward_data", "w", w, true);
    cuda_need_buf("conv_backward_data", "dx", dx, true);
    conv_backward_data_launch(cuda_of(be), s, dy, w, dx);
}

static void conv_backward_filter_launch(cuda_context *c, const evae_conv_shape *s, const float *x,
                                        const float *dy, float *dw, float beta)
{
    if (s->N == 0) { /* no outputs: the gradient is zero, dw = beta dw */
        int count = s->K * s->C * s->R * s->S;
        if (beta == 0.0f)
            CUDA_CHECK(cudaMemsetAsync(dw, 0, (size_t)count * sizeof(float), c->stream));
        else
            CUBLAS_CHECK(cublasSscal(c->cublas, count, &beta, dw, 1));
        return;
    }
    conv_plan *p = plan_for(c, s);
    void *ws = p->filter_ws ? cuda_scratch(c, p->filter_ws) : NULL;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->filter_math));
    /* cuDNN reads dw only when beta != 0, like BLAS */
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(c->conv->handle, &conv_one, p->x, x, p->y, dy,
                                               p->conv, p->filter, ws, p->filter_ws, &beta, p->w,
                                               dw));
    CUDA_CHECK_LAUNCH();
}

void cuda_conv_backward_filter(const evae_backend *be, const evae_conv_shape *s, const float *x,
                               const float *dy, float *dw, float beta)
{
    conv_check("conv_backward_filter", s);
    cuda_need_buf("conv_backward_filter", "dw", dw, true); /* written even for no images */
    cuda_need_buf("conv_backward_filter", "x", x, s->N > 0);
    cuda_need_buf("conv_backward_filter", "dy", dy, s->N > 0);
    conv_backward_filter_launch(cuda_of(be), s, x, dy, dw, beta);
}

/* ---- manifest and knobs ---- */

static const char *fwd_name(cudnnConvolutionFwdAlgo_t a)
{
    static const char *names[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT",
                                  "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
    return (int)a >= 0 && (int)a < (int)(sizeof names / sizeof *names) ? names[a] : "?";
}

static const char *data_name(cudnnConvolutionBwdDataAlgo_t a)
{
    static const char *names[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD",
                                  "WINOGRAD_NONFUSED"};
    return (int)a >= 0 && (int)a < (int)(sizeof names / sizeof *names) ? names[a] : "?";
}

static const char *filter_name(cudnnConvolutionBwdFilterAlgo_t a)
{
    static const char *names[] = {"ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD",
                                  "WINOGRAD_NONFUSED", "FFT_TILING"};
    return (int)a >= 0 && (int)a < (int)(sizeof names / sizeof *names) ? names[a] : "?";
}

static const char *math_name(cudnnMathType_t m)
{
    switch (m) {
    case CUDNN_FMA_MATH: return "fma";
    case CUDNN_DEFAULT_MATH: return "default";
    case CUDNN_TENSOR_OP_MATH: return "tensor_op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor_op_conversion";
    default: return "?";
    }
}

/* backend.algorithms: one line per convolution shape (and determinism setting) planned so far */
const char *cuda_algorithms(const evae_backend *be)
{
    cuda_conv_cache *cc = cuda_of(be)->conv;
    if (!cc) return "";
    size_t need = 1;
    char line[400];
    for (int pass = 0; pass < 2; pass++) {
        size_t used = 0;
        if (pass == 1) {
            char *grown = (char *)realloc(cc->text, need);
            if (!grown) {
                fprintf(stderr, "evae: out of host memory at %s:%d\n", __FILE__, __LINE__);
                abort();
            }
            cc->text = grown;
            cc->text[0] = '\0';
        }
        for (int k = 0; k < cc->count; k++) {
            const conv_plan *p = cc->plans[k];
            const evae_conv_shape *s = &p->s;
            int len = snprintf(line, sizeof line,
                               "%d,%d,%d,%d %d,%d,%d stride %d pad %d: fwd=%s(%s) bwd_data=%s(%s) "
                               "bwd_filter=%s(%s)%s\n",
                               s->N, s->C, s->H, s->W, s->K, s->R, s->S, s->stride, s->pad,
                               fwd_name(p->fwd), math_name(p->fwd_math), data_name(p->data),
                               math_name(p->data_math), filter_name(p->filter),
                               math_name(p->filter_math), p->deterministic ? " deterministic" : "");
            if (len < 0) len = 0;
            if ((size_t)len >= sizeof line) len = (int)sizeof line - 1;
            if (pass == 0)
                need += (size_t)len;
            else
                memcpy(cc->text + used, line, (size_t)len + 1);
            used += (size_t)len;
        }
    }
    return cc->text;
}
