/* Every CUDA backend op except the GRBM's (test_cuda_grbm.c) against the CPU backend on the same
 * inputs: the device facts and memory here, then every case of op_test_cases (tests/ops/: gemm,
 * reductions, random fills, the VAE's elementwise ops, Adam, convolutions), whose kinds derive
 * each tolerance from float32 error analysis. Sizes are odd on purpose (not multiples of any
 * block size); outputs are poisoned with NaN before each CUDA op so an element it fails to write
 * fails the comparison. cuDNN first runs with any algorithm its heuristics like best, then with
 * the deterministic ones (the default), whose backward passes must repeat bit for bit. Exits 77
 * (skipped) without a CUDA device. */
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
#include "ops/op_compare.h"

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

/* the table; the convolutions twice, as the header says */
static void test_op_cases(void)
{
    op_case_list l;
    op_test_cases(&l);
    evae_cuda_set_conv_deterministic(cu, 0);
    for (int i = 0; i < l.n; i++) op_compare(cpu, cu, &l.cases[i], 0);
    evae_cuda_set_conv_deterministic(cu, 1);
    int repeated = 0;
    for (int i = 0; i < l.n; i++) {
        const op_case *c = &l.cases[i];
        const int backward = strncmp(c->kind->op, "conv_backward", 13) == 0;
        if (backward && c->beta == 0.0f && c->conv.N > 0) {
            op_compare(cpu, cu, c, 1);
            repeated++;
        }
    }
    CHECK(repeated == 8, "%d deterministic backward passes checked, expected 2 per conv shape",
          repeated);
    op_case_list_free(&l);
    const char *algos = cu->algorithms(cu);
    CHECK(algos && strstr(algos, "fwd=") && strstr(algos, "bwd_filter=") &&
              strstr(algos, " deterministic"),
          "conv algorithm list: '%s'", algos ? algos : "(null)");
    printf("cuDNN algorithms:\n%s", algos ? algos : "");
}

int main(void)
{
    gpu_test_setup("test_cuda_ops");
    test_device_facts();
    test_memory();
    test_op_cases();
    return check_report("test_cuda_ops");
}

#else /* built without CUDA */

int main(void)
{
    printf("test_cuda_ops: skipped: built without CUDA\n");
    return 77;
}

#endif
