/* OpenBLAS's kernel set: what runs, what the CPU supports, and the one re-execution that makes
 * OpenBLAS use the better set (evae/backend/blas_kernels.h). */
#define _DEFAULT_SOURCE /* setenv under -std=c11 */
#include "evae/backend/blas_kernels.h"

#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

void evae_cpu_features_detect(evae_cpu_features *f)
{
    memset(f, 0, sizeof *f);
#if defined(__x86_64__) || defined(__i386__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    const unsigned int max_leaf = a;
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = '\0';
    f->intel = strcmp(vendor, "GenuineIntel") == 0;
    f->amd = strcmp(vendor, "AuthenticAMD") == 0 || strcmp(vendor, "HygonGenuine") == 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const int osxsave = (c >> 27) & 1;
    f->fma = (c >> 12) & 1;
    f->avx = (c >> 28) & 1;
    if (osxsave) {
        unsigned long long xcr0 = xgetbv0();
        f->os_ymm = (xcr0 & 0x6) == 0x6;     /* SSE and AVX state */
        f->os_zmm = (xcr0 & 0xe6) == 0xe6;   /* and opmask, ZMM0-15 upper halves, ZMM16-31 */
    }
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f->avx2 = (b >> 5) & 1;
        f->avx512f = (b >> 16) & 1;
        f->avx512dq = (b >> 17) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
    }
#endif
}

void evae_cpu_features_text(const evae_cpu_features *f, char *out, size_t cap)
{
    evae_cpu_features here;
    if (!f) {
        evae_cpu_features_detect(&here);
        f = &here;
    }
    const struct {
        int on;
        const char *name;
    } list[] = {{f->intel, "intel"},       {f->amd, "amd"},           {f->avx, "avx"},
                {f->fma, "fma"},           {f->avx2, "avx2"},         {f->avx512f, "avx512f"},
                {f->avx512dq, "avx512dq"}, {f->avx512bw, "avx512bw"}, {f->avx512vl, "avx512vl"},
                {f->os_ymm, "os-ymm"},     {f->os_zmm, "os-zmm"}};
    size_t len = 0;
    if (cap) out[0] = '\0';
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) {
        if (!list[i].on || len >= cap) continue;
        int w = snprintf(out + len, cap - len, "%s%s", len ? " " : "", list[i].name);
        if (w > 0) len += (size_t)w;
    }
}

const char *evae_blas_best_coretype(const evae_cpu_features *f)
{
    const int avx_ok = f->avx && f->os_ymm;
    /* SkylakeX's kernels use AVX-512 F, DQ, BW and VL (Knights Landing, F without BW/VL, is not
     * enough) */
    if (avx_ok && f->os_zmm && f->avx512f && f->avx512dq && f->avx512bw && f->avx512vl)
        return "SKYLAKEX";
    /* AVX2 + FMA: OpenBLAS tunes a separate set (block sizes) for AMD's cores */
    if (avx_ok && f->avx2 && f->fma) return f->amd ? "ZEN" : "HASWELL";
    if (avx_ok) return "SANDYBRIDGE";
    return NULL;
}

int evae_blas_core_tier(const char *core)
{
    static const struct {
        const char *name;
        int tier;
    } tiers[] = {{"SkylakeX", 3},     {"Cooperlake", 3},  {"SapphireRapids", 3},
                 {"Haswell", 2},      {"Zen", 2},         {"Sandybridge", 1},
                 {"Bulldozer", 1},    {"Piledriver", 1},  {"Steamroller", 1},
                 {"Excavator", 1}};
    if (!core) return 0;
    for (size_t i = 0; i < sizeof tiers / sizeof *tiers; i++)
        if (strcasecmp(core, tiers[i].name) == 0) return tiers[i].tier;
    return 0; /* Prescott, Nehalem, Core2, ..., and names this table does not know */
}

/* the OPENBLAS_CORETYPE value that the guard "<first choice>:<value>" records, or NULL */
static const char *guard_coretype(const char *guard)
{
    const char *colon = guard ? strchr(guard, ':') : NULL;
    return colon ? colon + 1 : NULL;
}

evae_blas_choice evae_blas_choose(const evae_cpu_features *f, const char *running_core,
                                  const char *user_coretype, const char *guard)
{
    evae_blas_choice ch = {EVAE_BLAS_KEEP_OPENBLAS, evae_blas_best_coretype(f), NULL};
    if (user_coretype && user_coretype[0]) {
        const char *set = guard_coretype(guard);
        ch.action = set && strcasecmp(set, user_coretype) == 0 ? EVAE_BLAS_KEEP_REEXECUTED
                                                                : EVAE_BLAS_KEEP_USER;
        return ch;
    }
    if (guard) { /* re-executed: never a second time */
        const char *set = guard_coretype(guard);
        /* evae set OPENBLAS_CORETYPE and it has gone since, or evae set only the wait policy */
        ch.action = set && set[0] ? EVAE_BLAS_KEEP_REEXECUTED : EVAE_BLAS_KEEP_OPENBLAS;
        return ch;
    }
    if (ch.best && evae_blas_core_tier(ch.best) > evae_blas_core_tier(running_core)) {
        ch.action = EVAE_BLAS_REEXEC;
        ch.coretype = ch.best;
    }
    return ch;
}

static evae_blas_choice choose_here(evae_cpu_features *f)
{
    evae_cpu_features_detect(f);
    return evae_blas_choose(f, openblas_get_corename(), getenv("OPENBLAS_CORETYPE"),
                            getenv(EVAE_BLAS_GUARD));
}

const char *evae_omp_wait_choose(const char *user_policy, const char *user_spincount,
                                 const char *guard)
{
    if ((user_policy && user_policy[0]) || (user_spincount && user_spincount[0]) || guard)
        return NULL;
    return EVAE_OMP_WAIT_POLICY;
}

void evae_cpu_apply(const evae_blas_choice *ch, const char *wait_policy, const char *running_core,
                    char **argv)
{
    const int set_core = ch->action == EVAE_BLAS_REEXEC;
    if (!set_core && !wait_policy) return;
    char guard[128];
    snprintf(guard, sizeof guard, "%s:%s", running_core, set_core ? ch->coretype : "");
    if ((!set_core || setenv("OPENBLAS_CORETYPE", ch->coretype, 1) == 0) &&
        (!wait_policy || setenv("OMP_WAIT_POLICY", wait_policy, 1) == 0) &&
        setenv(EVAE_BLAS_GUARD, guard, 1) == 0)
        execv("/proc/self/exe", argv);
    /* still here: go on with what runs, and say so */
    fprintf(stderr, "evae: warning: re-executing with%s%s%s%s failed (%s): %s\n",
            set_core ? " OPENBLAS_CORETYPE=" : "", set_core ? ch->coretype : "",
            wait_policy ? " OMP_WAIT_POLICY=" : "", wait_policy ? wait_policy : "",
            strerror(errno),
            set_core ? "matrix products run OpenBLAS's slower kernels"
                     : "OpenMP keeps its default wait policy");
    if (set_core) unsetenv("OPENBLAS_CORETYPE");
    if (wait_policy) unsetenv("OMP_WAIT_POLICY");
    unsetenv(EVAE_BLAS_GUARD);
}

void evae_cpu_select(char **argv)
{
    evae_cpu_features f;
    evae_blas_choice ch = choose_here(&f);
    const char *wait = evae_omp_wait_choose(getenv("OMP_WAIT_POLICY"), getenv("GOMP_SPINCOUNT"),
                                            getenv(EVAE_BLAS_GUARD));
    evae_cpu_apply(&ch, wait, openblas_get_corename(), argv);
}

void evae_blas_describe(char *out, size_t cap)
{
    evae_cpu_features f;
    evae_blas_choice ch = choose_here(&f);
    const char *core = openblas_get_corename(), *guard = getenv(EVAE_BLAS_GUARD);
    /* "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ...": its first two words */
    char lib[64];
    const char *cfg = openblas_get_config();
    size_t n = 0;
    for (int spaces = 0; cfg[n] && n + 1 < sizeof lib; n++)
        if (cfg[n] == ' ' && ++spaces == 2) break;
    memcpy(lib, cfg, n);
    lib[n] = '\0';
    const char *best = ch.best ? ch.best : "generic only";
    const int worse = evae_blas_core_tier(core) < evae_blas_core_tier(ch.best);
    switch (ch.action) {
    case EVAE_BLAS_KEEP_USER:
        snprintf(out, cap, "%s %s kernels (OPENBLAS_CORETYPE=%s set by the user; this CPU's best: "
                 "%s)", lib, core, getenv("OPENBLAS_CORETYPE"), best);
        break;
    case EVAE_BLAS_KEEP_REEXECUTED: {
        char first[64];
        snprintf(first, sizeof first, "%s", guard ? guard : "?");
        first[strcspn(first, ":")] = '\0';
        const char *set = guard_coretype(guard);
        snprintf(out, cap, "%s %s kernels (OPENBLAS_CORETYPE=%s set by evae from the CPU's "
                 "features: OpenBLAS chose %s%s)", lib, core, set ? set : "?", first,
                 worse ? "; it did not take" : "");
        break;
    }
    case EVAE_BLAS_REEXEC: /* the re-execution failed */
        snprintf(out, cap, "%s %s kernels (OpenBLAS's choice; this CPU's best, %s, could not be "
                 "set)", lib, core, best);
        break;
    default:
        snprintf(out, cap, "%s %s kernels (OpenBLAS's choice; this CPU's best: %s)", lib, core,
                 best);
    }
}
