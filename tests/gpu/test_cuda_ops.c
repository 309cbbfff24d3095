/* Every CUDA backend op except the GRBM's (test_cuda_grbm.c) against the CPU backend on the same
 * inputs: the device facts (describe() parsed back against the runtime's own answers) and memory
 * here, then every case of op_test_cases (tests/ops/: gemm,
 * reductions, random fills, the VAE's elementwise ops, Adam, convolutions), whose kinds derive
 * each tolerance from float32 error analysis. Sizes are odd on purpose (not multiples of any
 * block size); outputs are poisoned with NaN before each CUDA op so an element it fails to write
 * fails the comparison. cuDNN first runs with any algorithm its heuristics like best, then with
 * the deterministic ones (the default), whose backward passes must repeat bit for bit; the
 * algorithm list of the manifest is parsed back against the plans those runs made. Exits 77
 * (skipped) without a CUDA device. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef EVAE_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "check.h"
#include "cuda_testing.h"
#include "evae/backend/backend.h"
#include "evae/math/philox.h"
#include "gpu/gpu_compare.h"
#include "ops/op_compare.h"

/* describe() parsed back and compared with what the CUDA runtime, cuBLAS and cuDNN report when
 * asked here directly (cublasGetProperty and cudnnGetProperty, not the version calls describe()
 * decodes): card name, compute capability, SMs, memory, driver, runtime, library versions, the
 * math mode of EVAE_ALLOW_TF32. */
static void test_describe(void)
{
    const char *what = cu->describe(cu);
    printf("device: %s\n", what ? what : "(null)");
    int dev = -1, driver = 0, runtime = 0;
    struct cudaDeviceProp prop;
    CHECK(cudaGetDevice(&dev) == cudaSuccess &&
              cudaGetDeviceProperties(&prop, dev) == cudaSuccess &&
              cudaDriverGetVersion(&driver) == cudaSuccess &&
              cudaRuntimeGetVersion(&runtime) == cudaSuccess,
          "the CUDA runtime's device facts");
    int blas[3] = {0}, dnn[3] = {0};
    const libraryPropertyType parts[3] = {MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL};
    for (int k = 0; k < 3; k++)
        CHECK(cublasGetProperty(parts[k], &blas[k]) == CUBLAS_STATUS_SUCCESS &&
                  cudnnGetProperty(parts[k], &dnn[k]) == CUDNN_STATUS_SUCCESS,
              "cuBLAS and cuDNN version property %d", k);
    const char *rest = what ? strstr(what, " (sm_") : NULL;
    CHECK(rest && (size_t)(rest - what) == strlen(prop.name) &&
              strncmp(what, prop.name, strlen(prop.name)) == 0,
          "describe() does not start with the card's name '%s' and ' (sm_': '%s'", prop.name,
          what ? what : "(null)");
    if (!rest) return;
    int sm = 0, sms = 0, dmaj = 0, dmin = 0, rmaj = 0, rmin = 0, b[3] = {0}, c[3] = {0}, used = 0;
    double gib = 0.0;
    int got = sscanf(rest,
                     " (sm_%d, %d SMs, %lf GiB), driver %d.%d, runtime %d.%d, cuBLAS %d.%d.%d, "
                     "cuDNN %d.%d.%d, math %n",
                     &sm, &sms, &gib, &dmaj, &dmin, &rmaj, &rmin, &b[0], &b[1], &b[2], &c[0], &c[1],
                     &c[2], &used);
    CHECK(got == 13 && used > 0, "describe() not in its format (%d fields): '%s'", got, what);
    if (got != 13 || used == 0) return;
    const double total_gib = (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0);
    CHECK(sm == prop.major * 10 + prop.minor, "sm_%d, the device is %d.%d", sm, prop.major,
          prop.minor);
    CHECK(sms == prop.multiProcessorCount, "%d SMs, the device has %d", sms,
          prop.multiProcessorCount);
    CHECK(fabs(gib - total_gib) <= 0.05 + 1e-9, "%.1f GiB, the device has %.3f", gib, total_gib);
    CHECK(dmaj == driver / 1000 && dmin == driver % 1000 / 10, "driver %d.%d, the runtime says %d",
          dmaj, dmin, driver);
    CHECK(rmaj == runtime / 1000 && rmin == runtime % 1000 / 10, "runtime %d.%d, it says %d", rmaj,
          rmin, runtime);
    CHECK(b[0] == blas[0] && b[1] == blas[1] && b[2] == blas[2],
          "cuBLAS %d.%d.%d, cublasGetProperty says %d.%d.%d", b[0], b[1], b[2], blas[0], blas[1],
          blas[2]);
    CHECK(c[0] == dnn[0] && c[1] == dnn[1] && c[2] == dnn[2],
          "cuDNN %d.%d.%d, cudnnGetProperty says %d.%d.%d", c[0], c[1], c[2], dnn[0], dnn[1],
          dnn[2]);
    const char *tf32 = getenv("EVAE_ALLOW_TF32");
    const int allowed = tf32 && tf32[0] && strcmp(tf32, "0") != 0;
    const char *want = allowed ? "TF32 tensor cores allowed" : "FP32 (no TF32)";
    CHECK(strcmp(rest + used, want) == 0, "math '%s', EVAE_ALLOW_TF32 says '%s'", rest + used,
          want);
}

/* evae/math/philox.h is cuRAND's PHILOX4_32_10: same words for the same (seed, stream, offset) */
static void test_philox(void)
{
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

/* The algorithm list parsed back, one line per plan: the plans are exactly the convolution shapes
 * the cases ran (N > 0), each under both settings (any algorithm, then deterministic ones); every
 * pass names an algorithm of its kind in an allowed math type (FMA only without TF32, never
 * FP16 conversion); a pass that fell back runs its fallback algorithm and says why. */
static void check_algorithms(const char *algos, const op_case_list *l)
{
    CHECK(algos != NULL, "no algorithm list");
    if (!algos) return;
    const char *tf32 = getenv("EVAE_ALLOW_TF32");
    const int allow_tf32 = tf32 && tf32[0] && strcmp(tf32, "0") != 0;
    const char *names[3] = {"IMPLICIT_GEMM,IMPLICIT_PRECOMP_GEMM,GEMM,DIRECT,FFT,FFT_TILING,"
                            "WINOGRAD,WINOGRAD_NONFUSED",
                            "ALGO_0,ALGO_1,FFT,FFT_TILING,WINOGRAD,WINOGRAD_NONFUSED",
                            "ALGO_0,ALGO_1,FFT,ALGO_3,WINOGRAD,WINOGRAD_NONFUSED,FFT_TILING"};
    const char *fallback[3] = {"IMPLICIT_GEMM", "ALGO_1", "ALGO_1"};
    const char *key[3] = {"fwd", "bwd_data", "bwd_filter"};
    evae_conv_shape seen[64];
    int seen_det[64], lines = 0, fallbacks = 0;
    for (const char *p = algos; *p;) {
        const char *end = strchr(p, '\n');
        CHECK(end != NULL, "algorithm list does not end its line: '%s'", p);
        if (!end) break;
        char line[1024];
        size_t len = (size_t)(end - p) < sizeof line - 1 ? (size_t)(end - p) : sizeof line - 1;
        memcpy(line, p, len);
        line[len] = '\0';
        p = end + 1;
        evae_conv_shape s = {0};
        char alg[3][32], math[3][32];
        int used = 0;
        int got = sscanf(line,
                         "%d,%d,%d,%d %d,%d,%d stride %d pad %d: fwd=%31[A-Z0-9_](%31[a-z_]) "
                         "bwd_data=%31[A-Z0-9_](%31[a-z_]) bwd_filter=%31[A-Z0-9_](%31[a-z_])%n",
                         &s.N, &s.C, &s.H, &s.W, &s.K, &s.R, &s.S, &s.stride, &s.pad, alg[0],
                         math[0], alg[1], math[1], alg[2], math[2], &used);
        CHECK(got == 15 && used > 0, "algorithm line not in its format: '%s'", line);
        if (got != 15 || used == 0 || lines == 64) continue;
        const char *tail = line + used;
        const int det = strncmp(tail, " deterministic", 14) == 0;
        for (int q = 0; q < 3; q++) {
            CHECK(op_list_has(names[q], alg[q]), "%s: %s is no %s algorithm", line, alg[q], key[q]);
            CHECK(strcmp(math[q], "fma") == 0 ||
                      (allow_tf32 && (strcmp(math[q], "tensor_op") == 0 ||
                                      strcmp(math[q], "default") == 0)),
                  "%s: %s math '%s'%s", line, key[q], math[q],
                  allow_tf32 ? "" : " without EVAE_ALLOW_TF32");
            char note[48];
            snprintf(note, sizeof note, "; %s fallback, none of ", key[q]);
            if (strstr(tail, note)) {
                fallbacks++;
                CHECK(strcmp(alg[q], fallback[q]) == 0 && strcmp(math[q], "fma") == 0,
                      "%s: the %s fallback runs %s(%s)", line, key[q], alg[q], math[q]);
            }
        }
        for (int k = 0; k < lines; k++)
            CHECK(memcmp(&seen[k], &s, sizeof s) != 0 || seen_det[k] != det,
                  "%s: the same plan twice", line);
        seen[lines] = s, seen_det[lines] = det, lines++;
    }
    int want = 0;
    for (int i = 0; i < l->n; i++) {
        const op_case *c = &l->cases[i];
        if (strncmp(c->kind->op, "conv_", 5) != 0 || c->conv.N == 0) continue;
        int dup = 0;
        for (int j = 0; j < i; j++)
            dup |= strncmp(l->cases[j].kind->op, "conv_", 5) == 0 &&
                   memcmp(&l->cases[j].conv, &c->conv, sizeof c->conv) == 0;
        if (dup) continue;
        want += 2;
        for (int det = 0; det < 2; det++) {
            int found = 0;
            for (int k = 0; k < lines; k++)
                found |= memcmp(&seen[k], &c->conv, sizeof c->conv) == 0 && seen_det[k] == det;
            CHECK(found, "no %s plan for the convolution of '%s'",
                  det ? "deterministic" : "unrestricted", c->shape);
        }
    }
    CHECK(lines == want, "%d plans listed, the cases ran %d", lines, want);
    printf("%d plans, %d passes fell back\n", lines, fallbacks);
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
    const char *algos = cu->algorithms(cu);
    printf("cuDNN algorithms:\n%s", algos ? algos : "(null)\n");
    check_algorithms(algos, &l);
    op_case_list_free(&l);
}

int main(void)
{
    gpu_test_setup("test_cuda_ops");
    test_describe();
    test_philox();
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
