/* The choice of OpenBLAS kernels and of OpenMP's wait policy (evae/backend/blas_kernels.h): the
 * decisions for CPUs, OpenBLAS answers and environments put in by hand, then the re-execution
 * itself on this machine: a child that is told OpenBLAS fell back to its generic kernels must
 * come back once, running the best set this CPU supports, a child that is to set the wait policy
 * must come back once with it set, and neither may re-execute a second time; and the evae
 * program respects a user's OPENBLAS_CORETYPE and OMP_WAIT_POLICY and names them.
 *
 *   test_blas_kernels                       the tests
 *   test_blas_kernels --run-with CORE PROG  runs PROG with OPENBLAS_CORETYPE=CORE when this CPU
 *                                           supports CORE, else exits 77 (skipped): the kernel-set
 *                                           variants of the numerical tests (CMakeLists.txt) */
#define _DEFAULT_SOURCE /* setenv, popen under -std=c11 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "evae/backend/backend.h"
#include "evae/backend/blas_kernels.h"

/* CPUs by their features: vendor, AVX, FMA, AVX2, AVX-512 F/DQ/BW/VL, OS state YMM/ZMM */
static const evae_cpu_features EMERALD_RAPIDS = {1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const evae_cpu_features ZEN4 = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const evae_cpu_features ZEN3 = {0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0};
static const evae_cpu_features ALDER_LAKE = {1, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0};
static const evae_cpu_features KNIGHTS_LANDING = {1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1};
static const evae_cpu_features SANDY_BRIDGE = {1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0};
static const evae_cpu_features NEHALEM = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

static void expect(const char *what, const evae_cpu_features *f, const char *running,
                   const char *user, const char *guard, evae_blas_action action,
                   const char *coretype)
{
    evae_blas_choice ch = evae_blas_choose(f, running, user, guard);
    CHECK(ch.action == action, "%s: action %d, want %d", what, (int)ch.action, (int)action);
    if (coretype)
        CHECK(ch.coretype && strcmp(ch.coretype, coretype) == 0, "%s: coretype %s, want %s", what,
              ch.coretype ? ch.coretype : "(none)", coretype);
    else
        CHECK(!ch.coretype, "%s: coretype %s, want none", what, ch.coretype);
}

static void decision_table(void)
{
    /* the best set from the features alone */
    CHECK(strcmp(evae_blas_best_coretype(&EMERALD_RAPIDS), "SKYLAKEX") == 0, "AVX-512");
    CHECK(strcmp(evae_blas_best_coretype(&ZEN4), "SKYLAKEX") == 0, "AVX-512 on AMD");
    CHECK(strcmp(evae_blas_best_coretype(&ZEN3), "ZEN") == 0, "AVX2 on AMD");
    CHECK(strcmp(evae_blas_best_coretype(&ALDER_LAKE), "HASWELL") == 0, "AVX2 on Intel");
    CHECK(strcmp(evae_blas_best_coretype(&KNIGHTS_LANDING), "HASWELL") == 0,
          "AVX-512F without BW/DQ/VL is not SkylakeX");
    CHECK(strcmp(evae_blas_best_coretype(&SANDY_BRIDGE), "SANDYBRIDGE") == 0, "AVX only");
    CHECK(evae_blas_best_coretype(&NEHALEM) == NULL, "SSE only: nothing better than generic");
    evae_cpu_features no_zmm = EMERALD_RAPIDS, no_ymm = ALDER_LAKE;
    no_zmm.os_zmm = 0; /* the OS does not save ZMM registers: AVX-512 unusable */
    no_ymm.os_ymm = 0; /* nor YMM: AVX unusable */
    CHECK(strcmp(evae_blas_best_coretype(&no_zmm), "HASWELL") == 0, "no ZMM state");
    CHECK(evae_blas_best_coretype(&no_ymm) == NULL, "no YMM state");

    /* tiers, by OpenBLAS's names and by OPENBLAS_CORETYPE values */
    CHECK(evae_blas_core_tier("SkylakeX") == 3 && evae_blas_core_tier("COOPERLAKE") == 3, "tier 3");
    CHECK(evae_blas_core_tier("Haswell") == 2 && evae_blas_core_tier("ZEN") == 2, "tier 2");
    CHECK(evae_blas_core_tier("Sandybridge") == 1, "tier 1");
    CHECK(evae_blas_core_tier("Prescott") == 0 && evae_blas_core_tier("Nehalem") == 0 &&
              evae_blas_core_tier("NoSuchCore") == 0 && evae_blas_core_tier(NULL) == 0,
          "tier 0");

    /* the decisions */
    expect("fallback to Prescott on an AVX-512 Intel", &EMERALD_RAPIDS, "Prescott", NULL, NULL,
           EVAE_BLAS_REEXEC, "SKYLAKEX");
    expect("Haswell on an AVX-512 CPU", &EMERALD_RAPIDS, "Haswell", NULL, NULL, EVAE_BLAS_REEXEC,
           "SKYLAKEX");
    expect("OpenBLAS chose SkylakeX", &EMERALD_RAPIDS, "SkylakeX", NULL, NULL,
           EVAE_BLAS_KEEP_OPENBLAS, NULL);
    expect("Cooperlake is as good as SkylakeX", &ZEN4, "Cooperlake", NULL, NULL,
           EVAE_BLAS_KEEP_OPENBLAS, NULL);
    expect("fallback on an AVX2 AMD", &ZEN3, "Prescott", NULL, NULL, EVAE_BLAS_REEXEC, "ZEN");
    expect("fallback on an AVX2 Intel", &ALDER_LAKE, "Prescott", NULL, NULL, EVAE_BLAS_REEXEC,
           "HASWELL");
    expect("an unknown core name counts as generic", &ALDER_LAKE, "Unknown", NULL, NULL,
           EVAE_BLAS_REEXEC, "HASWELL");
    expect("SSE-only CPU on Prescott", &NEHALEM, "Prescott", NULL, NULL, EVAE_BLAS_KEEP_OPENBLAS,
           NULL);
    expect("the user's OPENBLAS_CORETYPE, even a worse one", &EMERALD_RAPIDS, "Prescott",
           "PRESCOTT", NULL, EVAE_BLAS_KEEP_USER, NULL);
    expect("re-executed: evae's value in place", &EMERALD_RAPIDS, "SkylakeX", "SKYLAKEX",
           "Prescott:SKYLAKEX", EVAE_BLAS_KEEP_REEXECUTED, NULL);
    expect("re-executed, and the value did not take: no second time", &EMERALD_RAPIDS,
           "Prescott", "SKYLAKEX", "Prescott:SKYLAKEX", EVAE_BLAS_KEEP_REEXECUTED, NULL);
    expect("re-executed, then OPENBLAS_CORETYPE removed: no second time", &EMERALD_RAPIDS,
           "Prescott", NULL, "Prescott:SKYLAKEX", EVAE_BLAS_KEEP_REEXECUTED, NULL);
    expect("a child of a re-executed run whose user changed OPENBLAS_CORETYPE", &EMERALD_RAPIDS,
           "Haswell", "HASWELL", "Prescott:SKYLAKEX", EVAE_BLAS_KEEP_USER, NULL);
    expect("re-executed for the wait policy only: OpenBLAS's choice", &EMERALD_RAPIDS,
           "SkylakeX", NULL, "SkylakeX:", EVAE_BLAS_KEEP_OPENBLAS, NULL);

    /* OpenMP's wait policy */
    const char *w = evae_omp_wait_choose(NULL, NULL, NULL);
    CHECK(w && strcmp(w, "passive") == 0, "nothing set: passive, got %s", w ? w : "(none)");
    CHECK(evae_omp_wait_choose("active", NULL, NULL) == NULL, "the user's OMP_WAIT_POLICY");
    CHECK(evae_omp_wait_choose(NULL, "100000", NULL) == NULL, "the user's GOMP_SPINCOUNT");
    CHECK(evae_omp_wait_choose(NULL, NULL, "SkylakeX:") == NULL, "re-executed: no second time");
}

/* In the re-executed child (the guard is set): OpenBLAS runs what evae set, or OpenMP waits as
 * evae set, and asking again with the same pretended state leads to no second re-execution. */
static int reexecuted_child(const char *best)
{
    const char *core = openblas_get_corename(), *guard = getenv(EVAE_BLAS_GUARD);
    const char *set = getenv("OPENBLAS_CORETYPE");
    evae_cpu_features f;
    evae_cpu_features_detect(&f);
    char line[512];
    evae_blas_describe(line, sizeof line);
    if (guard && strncmp(guard, "Prescott:", 9) == 0) { /* the kernels were set */
        CHECK(strcmp(guard + 9, best) == 0, "guard '%s'", guard);
        CHECK(set && strcmp(set, best) == 0, "OPENBLAS_CORETYPE '%s', want %s", set, best);
        CHECK(evae_blas_core_tier(core) == evae_blas_core_tier(best), "OpenBLAS runs %s, want %s",
              core, best);
        evae_blas_choice ch = evae_blas_choose(&f, "Prescott", set, guard);
        CHECK(ch.action == EVAE_BLAS_KEEP_REEXECUTED, "a second re-execution was asked for");
        CHECK(strstr(line, "set by evae") && strstr(line, "OpenBLAS chose Prescott"),
              "describe: %s", line);
    } else { /* the wait policy was set */
        const char *policy = getenv("OMP_WAIT_POLICY");
        CHECK(guard && strcmp(guard, "SkylakeX:") == 0, "guard '%s'", guard);
        CHECK(policy && strcmp(policy, "passive") == 0, "OMP_WAIT_POLICY '%s'", policy);
        CHECK(evae_omp_wait_choose(policy, NULL, guard) == NULL &&
                  evae_omp_wait_choose(NULL, NULL, guard) == NULL,
              "a second re-execution was asked for");
        CHECK(!set, "OPENBLAS_CORETYPE was set: %s", set);
        CHECK(strstr(line, "OpenBLAS's choice"), "describe: %s", line);
    }
    return check_report("test_blas_kernels (re-executed)");
}

/* fork; the child applies a decision (the kernels after a pretended fallback to Prescott, or
 * the wait policy with OpenBLAS pretended to run SkylakeX): it must come back re-executed, the
 * guard set, and pass reexecuted_child */
static void reexec_once(char **argv, int kernels)
{
    pid_t pid = fork();
    if (pid == 0) {
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv("OMP_WAIT_POLICY");
        unsetenv("GOMP_SPINCOUNT");
        unsetenv(EVAE_BLAS_GUARD);
        evae_cpu_features f;
        evae_cpu_features_detect(&f);
        const char *running = kernels ? "Prescott" : "SkylakeX";
        evae_blas_choice ch = evae_blas_choose(&f, running, NULL, NULL);
        const char *wait = kernels ? NULL : evae_omp_wait_choose(NULL, NULL, NULL);
        if (kernels ? ch.action != EVAE_BLAS_REEXEC : !wait) _exit(3);
        if (!kernels) ch.action = EVAE_BLAS_KEEP_OPENBLAS;
        evae_cpu_apply(&ch, wait, running, argv);
        _exit(4); /* execv failed */
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/wait");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the re-executed child (%s) failed (status %d; 3: no re-execution decided, 4: execv "
          "failed)", kernels ? "kernels" : "wait policy",
          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* the evae program: `evae --version` names the kernels and the wait policy; a user's
 * OPENBLAS_CORETYPE and OMP_WAIT_POLICY are kept, and without them evae sets passive waits */
static void program_line(const char *env, const char *want1, const char *want2)
{
    const char *bin = getenv("EVAE_BIN");
    if (!bin) {
        printf("EVAE_BIN not set: the evae program is not checked\n");
        return;
    }
    char cmd[4096], out[2048] = "";
    snprintf(cmd, sizeof cmd, "env -u %s -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT %s '%s' --version",
             EVAE_BLAS_GUARD, env, bin);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = '\0';
    CHECK(p && pclose(p) == 0, "%s failed", cmd);
    CHECK(strstr(out, want1) && strstr(out, want2), "%s said:\n%s", cmd, out);
}

int main(int argc, char **argv)
{
    evae_cpu_features f;
    evae_cpu_features_detect(&f);
    const char *best = evae_blas_best_coretype(&f);
    if (argc == 4 && strcmp(argv[1], "--run-with") == 0) {
        if (evae_blas_core_tier(argv[2]) > evae_blas_core_tier(best)) {
            printf("this CPU cannot run OpenBLAS's %s kernels: skipped\n", argv[2]);
            return 77;
        }
        setenv("OPENBLAS_CORETYPE", argv[2], 1);
        unsetenv(EVAE_BLAS_GUARD);
        execv(argv[3], argv + 3);
        perror(argv[3]);
        return 1;
    }
    if (getenv(EVAE_BLAS_GUARD)) return reexecuted_child(best ? best : "");

    decision_table();
    char text[256];
    evae_cpu_features_text(&f, text, sizeof text);
    printf("this CPU: %s; OpenBLAS runs %s; best: %s\n", text, openblas_get_corename(),
           best ? best : "generic only");
    if (best)
        reexec_once(argv, 1);
    else
        printf("this CPU has only generic kernels: the kernels' re-execution is not checked\n");
    reexec_once(argv, 0);
    program_line("OPENBLAS_CORETYPE=PRESCOTT",
                 "Prescott kernels (OPENBLAS_CORETYPE=PRESCOTT set by the user", "passive waits");
    program_line("OMP_WAIT_POLICY=active", "kernels (OpenBLAS's choice", "active waits");
    return check_report("test_blas_kernels");
}
