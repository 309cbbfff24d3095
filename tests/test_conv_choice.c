/* The rule by which the CUDA backend picks a cuDNN convolution algorithm from the heuristics'
 * candidates (kernels/conv_choice.h), on lists written out here: FMA only unless TF32 is
 * allowed, never TENSOR_OP_ALLOW_CONVERSION (FP16), deterministic when asked, within the
 * workspace limit, the first that qualifies in cuDNN's order; none: -1 with the reasons counted
 * and described. Runs on every machine (the header is plain C). */
#include <string.h>

#include "../kernels/conv_choice.h"
#include "check.h"

enum { MB = 1 << 20 };

/* a candidate cuDNN can run, with algorithm number `algo` */
static conv_candidate cand(int algo, conv_math math, int deterministic, size_t workspace)
{
    conv_candidate c = {algo, 1, math, deterministic, workspace};
    return c;
}

static int pick(const conv_candidate *c, int count, int tf32, int det)
{
    return conv_choose(c, count, tf32, det, 512 * MB).index;
}

static void test_math(void)
{
    /* cuDNN lists tensor-op and default-math candidates first for float data on sm_80+ */
    const conv_candidate c[] = {cand(1, CONV_MATH_TENSOR_OP, 1, 0),
                                cand(2, CONV_MATH_DEFAULT, 1, 0), cand(3, CONV_MATH_FMA, 1, 0)};
    CHECK(pick(c, 3, 0, 1) == 2, "FP32: the FMA candidate, got %d", pick(c, 3, 0, 1));
    CHECK(pick(c, 3, 1, 1) == 0, "TF32 allowed: the first (tensor op), got %d", pick(c, 3, 1, 1));
    const conv_candidate fp16[] = {cand(1, CONV_MATH_TENSOR_OP_ALLOW_CONVERSION, 1, 0),
                                   cand(2, CONV_MATH_OTHER, 1, 0),
                                   cand(3, CONV_MATH_DEFAULT, 1, 0)};
    CHECK(pick(fp16, 3, 1, 1) == 2, "TF32 allowed: never FP16 conversion, got %d",
          pick(fp16, 3, 1, 1));
    CHECK(pick(fp16, 2, 1, 1) == -1 && pick(fp16, 3, 0, 1) == -1,
          "conversion or unknown math accepted");
    for (conv_math m = CONV_MATH_FMA; m <= CONV_MATH_OTHER; m++)
        CHECK(conv_math_allowed(m, 0) == (m == CONV_MATH_FMA) &&
                  conv_math_allowed(m, 1) == (m == CONV_MATH_FMA || m == CONV_MATH_DEFAULT ||
                                              m == CONV_MATH_TENSOR_OP),
              "math type %d: allowed %d (FP32), %d (TF32)", (int)m, conv_math_allowed(m, 0),
              conv_math_allowed(m, 1));
}

static void test_filters(void)
{
    const conv_candidate det[] = {cand(0, CONV_MATH_FMA, 0, 0), cand(1, CONV_MATH_FMA, 1, 0)};
    CHECK(pick(det, 2, 0, 1) == 1, "deterministic only: got %d", pick(det, 2, 0, 1));
    CHECK(pick(det, 2, 0, 0) == 0, "any algorithm: the first, got %d", pick(det, 2, 0, 0));
    const conv_candidate ws[] = {cand(0, CONV_MATH_FMA, 1, 513 * (size_t)MB),
                                 cand(1, CONV_MATH_FMA, 1, 512 * (size_t)MB)};
    CHECK(pick(ws, 2, 0, 1) == 1, "workspace limit (512 MiB is within): got %d", pick(ws, 2, 0, 1));
    conv_candidate failed[] = {cand(0, CONV_MATH_FMA, 1, 0), cand(1, CONV_MATH_FMA, 1, 0)};
    failed[0].ok = 0;
    CHECK(pick(failed, 2, 0, 1) == 1, "unsupported candidate taken: got %d", pick(failed, 2, 0, 1));
    CHECK(pick(NULL, 0, 0, 1) == -1, "no candidates: got %d", pick(NULL, 0, 0, 1));
}

/* none qualifies: each candidate counted under its first reason, and the description says so */
static void test_none(void)
{
    conv_candidate c[] = {cand(0, CONV_MATH_TENSOR_OP, 0, 0), cand(1, CONV_MATH_DEFAULT, 1, 0),
                          cand(2, CONV_MATH_FMA, 0, 0), cand(3, CONV_MATH_FMA, 1, (size_t)1 << 40),
                          cand(4, CONV_MATH_FMA, 1, 0)};
    c[4].ok = 0;
    conv_choice r = conv_choose(c, 5, 0, 1, 512 * MB);
    CHECK(r.index == -1 && r.listed == 5 && r.failed == 1 && r.math == 2 &&
              r.nondeterministic == 1 && r.workspace == 1,
          "counts: index %d listed %d failed %d math %d nondeterministic %d workspace %d", r.index,
          r.listed, r.failed, r.math, r.nondeterministic, r.workspace);
    char text[256];
    conv_choice_describe(&r, 0, text, sizeof text);
    CHECK(strcmp(text, "none of 5 candidates qualified: 1 unsupported, 2 not FMA math, 1 not "
                       "deterministic, 1 over the workspace limit") == 0,
          "description: '%s'", text);
    r = conv_choose(c, 5, 1, 0, 512 * MB); /* TF32 and any algorithm: the first qualifies */
    CHECK(r.index == 0, "TF32, any algorithm: got %d", r.index);
}

int main(void)
{
    test_math();
    test_filters();
    test_none();
    return check_report("test_conv_choice");
}
