/* Which matrix-product kernels OpenBLAS runs, and making it run the best ones this CPU supports.
 *
 * OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernel set once, when it is loaded, from
 * a table of CPU models; a CPU newer than its table gets the generic "Prescott" kernels (SSE3),
 * 3 to 5 times slower than the AVX2 or AVX-512 ones the CPU supports. Nothing can change that
 * choice after loading, so evae_cpu_select() re-executes the program once with OPENBLAS_CORETYPE
 * set from the CPU's features (cpuid: AVX, AVX2, FMA, AVX-512 F/BW/DQ/VL, the registers the OS
 * saves, and the vendor where OpenBLAS has a separate set); the same re-execution sets OpenMP's
 * wait policy (below). A user's own OPENBLAS_CORETYPE or OMP_WAIT_POLICY is never overridden, and a guard variable (EVAE_BLAS_REEXEC) makes the re-execution happen at most
 * once. The decision is evae_blas_choose(), a pure function of its inputs so that tests can put
 * any CPU and any OpenBLAS answer in. */
#ifndef EVAE_BACKEND_BLAS_KERNELS_H
#define EVAE_BACKEND_BLAS_KERNELS_H

#include <stddef.h>

/* the guard: set in the re-executed process to "<OpenBLAS's own choice>:<OPENBLAS_CORETYPE set,
 * empty when evae set none>" */
#define EVAE_BLAS_GUARD "EVAE_BLAS_REEXEC"

typedef struct evae_cpu_features {
    int intel, amd;                            /* vendor (cpuid leaf 0) */
    int avx, fma, avx2;                        /* leaf 1 ECX, leaf 7 EBX */
    int avx512f, avx512dq, avx512bw, avx512vl; /* leaf 7 EBX */
    int os_ymm, os_zmm; /* XCR0: the OS saves the AVX (YMM) and AVX-512 (opmask, ZMM) state */
} evae_cpu_features;

/* this CPU's features (all zero on other architectures) */
void evae_cpu_features_detect(evae_cpu_features *f);

/* "avx2 fma avx512f ..." of the features that are set, for manifests; f NULL: this CPU's */
void evae_cpu_features_text(const evae_cpu_features *f, char *out, size_t cap);

/* The OPENBLAS_CORETYPE value of the best kernel set for these features ("SKYLAKEX", "ZEN",
 * "HASWELL", "SANDYBRIDGE"), NULL when only the generic kernels apply. */
const char *evae_blas_best_coretype(const evae_cpu_features *f);

/* How capable a kernel set is, by the instructions its products use: 3 AVX-512, 2 AVX2 + FMA,
 * 1 AVX, 0 SSE or unknown. Takes OpenBLAS's core names ("SkylakeX") and OPENBLAS_CORETYPE values
 * ("SKYLAKEX") alike. */
int evae_blas_core_tier(const char *core);

typedef enum {
    EVAE_BLAS_KEEP_OPENBLAS, /* OpenBLAS chose as well as the features allow */
    EVAE_BLAS_KEEP_USER,     /* the user set OPENBLAS_CORETYPE */
    EVAE_BLAS_KEEP_REEXECUTED, /* evae already set OPENBLAS_CORETYPE (the guard is set) */
    EVAE_BLAS_REEXEC,        /* run again with OPENBLAS_CORETYPE = coretype */
} evae_blas_action;

typedef struct evae_blas_choice {
    evae_blas_action action;
    const char *best;     /* evae_blas_best_coretype(features); NULL: generic only */
    const char *coretype; /* EVAE_BLAS_REEXEC: the value for OPENBLAS_CORETYPE */
} evae_blas_choice;

/* The decision, from the CPU's features, the core OpenBLAS runs (openblas_get_corename()), the
 * user's OPENBLAS_CORETYPE (NULL when unset) and the guard's value (NULL when unset). With the
 * guard set, OPENBLAS_CORETYPE counts as the user's only when it differs from what the guard
 * says evae set. */
evae_blas_choice evae_blas_choose(const evae_cpu_features *f, const char *running_core,
                                  const char *user_coretype, const char *guard);

/* OpenMP's wait policy, read by libgomp when it is loaded, so also set by re-execution. libgomp's
 * default spins a waiting thread for a while; where other programs share the cores a spinning
 * thread takes the core from the one it waits for, and a two-thread MNIST epoch ran 5 to 10 times
 * slower than with passive waits (bench/results/cpu_xeon.md). */
#define EVAE_OMP_WAIT_POLICY "passive"

/* The OMP_WAIT_POLICY value to set: EVAE_OMP_WAIT_POLICY when the user set neither
 * OMP_WAIT_POLICY nor GOMP_SPINCOUNT and the guard is not set; NULL otherwise. */
const char *evae_omp_wait_choose(const char *user_policy, const char *user_spincount,
                                 const char *guard);

/* At the start of main, before any output: when OpenBLAS runs worse kernels than this CPU
 * supports, or OpenMP's wait policy is to be set, re-executes the program (/proc/self/exe with
 * the same argv) once, with OPENBLAS_CORETYPE and/or OMP_WAIT_POLICY and the guard set; returns
 * only when nothing is to be done or the re-execution failed (with a warning on stderr: the
 * program then goes on as it is). */
void evae_cpu_select(char **argv);

/* evae_cpu_select's second half, for given choices: sets OPENBLAS_CORETYPE = ch->coretype when
 * ch->action is EVAE_BLAS_REEXEC, OMP_WAIT_POLICY = wait_policy when not NULL, and the guard =
 * "<running_core>:<coretype or empty>", and re-executes; returns at once when there is nothing
 * to set. */
void evae_cpu_apply(const evae_blas_choice *ch, const char *wait_policy, const char *running_core,
                    char **argv);

/* One line naming the kernels that run and who chose them, e.g. "OpenBLAS 0.3.21 SkylakeX
 * kernels (OpenBLAS's choice; this CPU's best: SKYLAKEX)". */
void evae_blas_describe(char *out, size_t cap);

#endif
