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
 * conv_choice.h holds that rule as a pure function (tested on every machine); it never accepts
 * CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION (FP16 operands), TF32 allowed or not. When no candidate
 * qualifies, the pass falls back to an algorithm that works for every shape (IMPLICIT_GEMM,
 * ALGO_1: deterministic, FMA, often slow), says so once on stderr, and the line of algorithms()
 * names the pass and why. The backend's algorithms() lists the choices for the run manifest. */
#if !__has_include(<cudnn.h>)
#error "cuDNN (cudnn.h) was not found: install cuDNN 8/9 for this CUDA toolkit, or configure with -DEVAE_WITH_CUDA=OFF"
#endif
#include <cudnn.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_choice.h"
#include "cuda_context.cuh"
#include "cuda_ops.cuh"

#define CUDNN_CHECK(call)                                                                 \
    do {                                                                                  \
        cudnnStatus_t st_ = (call);                                                       \
        if (st_ != CUDNN_STATUS_SUCCESS)                                                  \
            evae_cuda_die("cuDNN", cudnnGetErrorString(st_), #call, __FILE__, __LINE__);  \
    } while (0)

static const size_t CONV_WORKSPACE_LIMIT = (size_t)512 << 20;

enum { CONV_FWD, CONV_DATA, CONV_FILTER, CONV_PASSES };

/* One pass's algorithm (cuDNN's enum value of the pass's kind), math type and workspace, and the
 * choice that picked it (choice.index < 0: the fallback). */
struct conv_pass {
    int algo;
    cudnnMathType_t math;
    size_t workspace;
    conv_choice choice;
};

/* One convolution shape: its descriptors and the three passes' algorithms, chosen with or
 * without the restriction to deterministic algorithms. */
struct conv_plan {
    evae_conv_shape s;
    int deterministic;
    cudnnTensorDescriptor_t x, y; /* x[N,C,H,W], y[N,K,P,Q] */
    cudnnFilterDescriptor_t w;    /* w[K,C,R,S] */
    cudnnConvolutionDescriptor_t conv;
    conv_pass pass[CONV_PASSES];  /* forward, backward data, backward filter */
};

/* The context's cuDNN state (cuda_context.conv), made on the first convolution. */
struct cuda_conv_cache {
    cudnnHandle_t handle; /* on the context's stream */
    conv_plan **plans;    /* [count] of cap */
    int count, cap;
    char *text;           /* the algorithm list of algorithms() */
    int warned;           /* a fallback was reported on stderr */
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

/* cuDNN's math type in conv_choice.h's terms */
static conv_math math_of(cudnnMathType_t m)
{
    switch (m) {
    case CUDNN_FMA_MATH: return CONV_MATH_FMA;
    case CUDNN_DEFAULT_MATH: return CONV_MATH_DEFAULT;
    case CUDNN_TENSOR_OP_MATH: return CONV_MATH_TENSOR_OP;
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return CONV_MATH_TENSOR_OP_ALLOW_CONVERSION;
    default: return CONV_MATH_OTHER;
    }
}

/* One pass of plan p: conv_choice.h's rule over cuDNN's candidates perf[got] (the _v7 heuristics
 * list them for the descriptor's math type, FMA or TENSOR_OP, and for CUDNN_DEFAULT_MATH, which
 * on sm_80+ may use TF32 for float data). ws_of(algo, &bytes) is the pass's workspace query,
 * made with the descriptor set to the candidate's math type; a query that says "not supported"
 * rules the candidate out. With no qualifying candidate the pass takes `fallback` in FMA math
 * (deterministic, no math conversion, supported for every 2-D shape) and its record says why. */
template <typename Perf, typename Algo, typename WsQuery>
static void choose_pass(conv_plan *p, const Perf *perf, int got, WsQuery ws_of, Algo fallback,
                        conv_pass *out)
{
    conv_candidate cand[16];
    if (got > 16) got = 16;
    for (int k = 0; k < got; k++) {
        const Perf *r = &perf[k];
        cand[k].algo = (int)r->algo;
        cand[k].math = math_of(r->mathType);
        cand[k].deterministic = r->determinism == CUDNN_DETERMINISTIC;
        cand[k].workspace = 0;
        cand[k].ok = r->status == CUDNN_STATUS_SUCCESS;
        if (cand[k].ok) {
            CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, r->mathType));
            cand[k].ok = ws_of(r->algo, &cand[k].workspace) == CUDNN_STATUS_SUCCESS;
        }
    }
    out->choice = conv_choose(cand, got, cuda_allow_tf32(), p->deterministic,
                              CONV_WORKSPACE_LIMIT);
    const int k = out->choice.index;
    out->algo = k >= 0 ? (int)perf[k].algo : (int)fallback;
    out->math = k >= 0 ? perf[k].mathType : CUDNN_FMA_MATH;
    out->workspace = k >= 0 ? cand[k].workspace : 0;
    if (k < 0) {
        CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, out->math));
        CUDNN_CHECK(ws_of(fallback, &out->workspace));
    }
}

static void choose_fwd(cudnnHandle_t handle, conv_plan *p)
{
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0;
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, p->x, p->w, p->conv, p->y,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got,
                                                       perf));
    choose_pass(p, perf, got,
                [&](cudnnConvolutionFwdAlgo_t a, size_t *bytes) {
                    return cudnnGetConvolutionForwardWorkspaceSize(handle, p->x, p->w, p->conv,
                                                                   p->y, a, bytes);
                },
                CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &p->pass[CONV_FWD]);
}

static void choose_data(cudnnHandle_t handle, conv_plan *p)
{
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int got = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        handle, p->w, p->y, p->conv, p->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, perf));
    choose_pass(p, perf, got,
                [&](cudnnConvolutionBwdDataAlgo_t a, size_t *bytes) {
                    return cudnnGetConvolutionBackwardDataWorkspaceSize(handle, p->w, p->y,
                                                                        p->conv, p->x, a, bytes);
                },
                CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, &p->pass[CONV_DATA]);
}

static void choose_filter(cudnnHandle_t handle, conv_plan *p)
{
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int got = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        handle, p->x, p->y, p->conv, p->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got,
        perf));
    choose_pass(p, perf, got,
                [&](cudnnConvolutionBwdFilterAlgo_t a, size_t *bytes) {
                    return cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, p->x, p->y,
                                                                          p->conv, p->w, a, bytes);
                },
                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, &p->pass[CONV_FILTER]);
}

static const char *pass_name(int pass);
static const char *algo_name(int pass, int algo);

/* Says once per process, on stderr, that a pass fell back; every fallback is in algorithms(). */
static void warn_fallback(cuda_conv_cache *cc, const conv_plan *p)
{
    for (int k = 0; k < CONV_PASSES && !cc->warned; k++) {
        const conv_pass *q = &p->pass[k];
        if (q->choice.index >= 0) continue;
        char why[200];
        conv_choice_describe(&q->choice, cuda_allow_tf32(), why, sizeof why);
        const evae_conv_shape *s = &p->s;
        fprintf(stderr,
                "evae: cuDNN offers no usable algorithm for the %s pass of the convolution "
                "%d,%d,%d,%d %d,%d,%d stride %d pad %d (%s%s): it runs %s, which may be slow; "
                "the run manifest's algorithms list every such fallback\n",
                pass_name(k), s->N, s->C, s->H, s->W, s->K, s->R, s->S, s->stride, s->pad, why,
                p->deterministic ? ", deterministic algorithms only" : "",
                algo_name(k, q->algo));
        cc->warned = 1;
    }
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
    warn_fallback(cc, p);
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
    const conv_pass *q = &p->pass[CONV_FWD];
    void *ws = q->workspace ? cuda_scratch(c, q->workspace) : NULL;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, q->math));
    CUDNN_CHECK(cudnnConvolutionForward(c->conv->handle, &conv_one, p->x, x, p->w, w, p->conv,
                                        (cudnnConvolutionFwdAlgo_t)q->algo, ws, q->workspace,
                                        &conv_zero, p->y, y));
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
    const conv_pass *q = &p->pass[CONV_DATA];
    void *ws = q->workspace ? cuda_scratch(c, q->workspace) : NULL;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, q->math));
    CUDNN_CHECK(cudnnConvolutionBackwardData(c->conv->handle, &conv_one, p->w, w, p->y, dy,
                                             p->conv, (cudnnConvolutionBwdDataAlgo_t)q->algo, ws,
                                             q->workspace, &conv_zero, p->x, dx));
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
    const conv_pass *q = &p->pass[CONV_FILTER];
    void *ws = q->workspace ? cuda_scratch(c, q->workspace) : NULL;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, q->math));
    /* cuDNN reads dw only when beta != 0, like BLAS */
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(c->conv->handle, &conv_one, p->x, x, p->y, dy,
                                               p->conv, (cudnnConvolutionBwdFilterAlgo_t)q->algo,
                                               ws, q->workspace, &beta, p->w, dw));
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

/* the algorithm names of each pass's enum, in enum order */
static const char *algo_name(int pass, int algo)
{
    static const char *fwd[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT",
                                "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
    static const char *data[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD",
                                 "WINOGRAD_NONFUSED"};
    static const char *filter[] = {"ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD",
                                   "WINOGRAD_NONFUSED", "FFT_TILING"};
    const char *const *names = pass == CONV_FWD ? fwd : pass == CONV_DATA ? data : filter;
    int count = pass == CONV_FWD ? 8 : pass == CONV_DATA ? 6 : 7;
    return algo >= 0 && algo < count ? names[algo] : "?";
}

static const char *pass_name(int pass)
{
    return pass == CONV_FWD ? "forward" : pass == CONV_DATA ? "backward data" : "backward filter";
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

/* text[cap] += the formatted text, as far as it fits (*len counts what is there) */
static void append(char *text, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0) *len = *len + (size_t)n < cap ? *len + (size_t)n : cap - 1;
}

/* One plan's line of algorithms(): the shape, each pass's algorithm(math), the setting, and for
 * a pass that fell back why (cuDNN offered nothing the setting allows). Returns its length. */
static size_t plan_line(const conv_plan *p, char *line, size_t cap)
{
    static const char *const key[CONV_PASSES] = {"fwd", "bwd_data", "bwd_filter"};
    const evae_conv_shape *s = &p->s;
    size_t len = 0;
    append(line, cap - 1, &len, "%d,%d,%d,%d %d,%d,%d stride %d pad %d:", s->N, s->C, s->H, s->W,
           s->K, s->R, s->S, s->stride, s->pad);
    for (int q = 0; q < CONV_PASSES; q++)
        append(line, cap - 1, &len, " %s=%s(%s)", key[q], algo_name(q, p->pass[q].algo),
               math_name(p->pass[q].math));
    if (p->deterministic) append(line, cap - 1, &len, " deterministic");
    for (int q = 0; q < CONV_PASSES; q++) {
        if (p->pass[q].choice.index >= 0) continue;
        char why[200];
        conv_choice_describe(&p->pass[q].choice, cuda_allow_tf32(), why, sizeof why);
        append(line, cap - 1, &len, "; %s fallback, %s", key[q], why);
    }
    line[len++] = '\n'; /* cap - 1 above kept room for it */
    line[len] = '\0';
    return len;
}

/* backend.algorithms: one line per convolution shape (and determinism setting) planned so far */
const char *cuda_algorithms(const evae_backend *be)
{
    cuda_conv_cache *cc = cuda_of(be)->conv;
    if (!cc) return "";
    char line[1024];
    size_t need = 1;
    for (int k = 0; k < cc->count; k++) need += plan_line(cc->plans[k], line, sizeof line);
    char *grown = (char *)realloc(cc->text, need);
    if (!grown) {
        fprintf(stderr, "evae: out of host memory at %s:%d\n", __FILE__, __LINE__);
        abort();
    }
    cc->text = grown;
    size_t used = 0;
    for (int k = 0; k < cc->count; k++) {
        size_t len = plan_line(cc->plans[k], line, sizeof line);
        memcpy(cc->text + used, line, len);
        used += len;
    }
    cc->text[used] = '\0';
    return cc->text;
}
