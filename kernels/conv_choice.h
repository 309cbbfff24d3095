/* Which of cuDNN's heuristic candidates a convolution pass runs (kernels/conv.cu), as a pure
 * function over the candidate list, so that the rule is tested on any machine
 * (tests/test_conv_choice.c). Plain C without cuDNN's types: conv.cu translates cuDNN's
 * cudnnConvolution*AlgoPerf_t into conv_candidate, in cuDNN's order (fastest first).
 *
 * The rule: the first candidate that cuDNN can run for the shape (status and workspace query
 * succeeded), whose math type is allowed, that is deterministic when determinism is asked for,
 * and whose workspace fits the limit. Allowed math: only FMA (FP32, comparable with the CPU
 * backend) unless TF32 is allowed (EVAE_ALLOW_TF32=1); then also DEFAULT and TENSOR_OP, which
 * use TF32 tensor cores on sm_80+, but never TENSOR_OP_ALLOW_CONVERSION, which may round float
 * operands down to FP16. When no candidate qualifies the caller falls back to an algorithm that
 * always works (and is often slow) and says so: conv_choice_describe writes why. */
#ifndef EVAE_CONV_CHOICE_H
#define EVAE_CONV_CHOICE_H

#include <stddef.h>
#include <stdio.h>

typedef enum conv_math {
    CONV_MATH_FMA,
    CONV_MATH_DEFAULT,
    CONV_MATH_TENSOR_OP,
    CONV_MATH_TENSOR_OP_ALLOW_CONVERSION,
    CONV_MATH_OTHER /* a math type this code does not know: never allowed */
} conv_math;

typedef struct conv_candidate {
    int algo;          /* cuDNN's algorithm number, for messages */
    int ok;            /* cuDNN's status and the workspace query both succeeded */
    conv_math math;
    int deterministic; /* cuDNN says CUDNN_DETERMINISTIC */
    size_t workspace;  /* bytes */
} conv_candidate;

/* The chosen candidate and, for the record, how many were passed over for each reason (each
 * counted once, under the first reason in the rule's order). */
typedef struct conv_choice {
    int index;            /* into the candidate list; -1: none qualified, the caller falls back */
    int listed;           /* candidates cuDNN listed */
    int failed;           /* cuDNN cannot run it for this shape */
    int math;             /* its math type is not allowed */
    int nondeterministic; /* determinism was asked for */
    int workspace;        /* over the workspace limit */
} conv_choice;

static inline int conv_math_allowed(conv_math m, int allow_tf32)
{
    if (m == CONV_MATH_FMA) return 1;
    return allow_tf32 && (m == CONV_MATH_DEFAULT || m == CONV_MATH_TENSOR_OP);
}

static inline conv_choice conv_choose(const conv_candidate *c, int count, int allow_tf32,
                                      int need_deterministic, size_t workspace_limit)
{
    conv_choice r = {-1, count, 0, 0, 0, 0};
    for (int k = 0; k < count; k++) {
        if (!c[k].ok)
            r.failed++;
        else if (!conv_math_allowed(c[k].math, allow_tf32))
            r.math++;
        else if (need_deterministic && !c[k].deterministic)
            r.nondeterministic++;
        else if (c[k].workspace > workspace_limit)
            r.workspace++;
        else {
            r.index = k;
            return r;
        }
    }
    return r;
}

/* Why no candidate qualified, e.g. "none of 6 candidates qualified: 4 not FMA math, 2 not
 * deterministic" (for the manifest and the warning). Returns snprintf's count. */
static inline int conv_choice_describe(const conv_choice *r, int allow_tf32, char *buf, size_t cap)
{
    const char *math = allow_tf32 ? "in no allowed math type" : "not FMA math";
    return snprintf(buf, cap,
                    "none of %d candidates qualified: %d unsupported, %d %s, %d not "
                    "deterministic, %d over the workspace limit",
                    r->listed, r->failed, r->math, math, r->nondeterministic, r->workspace);
}

#endif
