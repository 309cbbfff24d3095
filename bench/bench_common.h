/* Shared code of the benchmark programs (bench/bench_*.c): the device, a timer that uses CUDA
 * events on a GPU and the monotonic clock on the CPU, medians over many runs with the inputs
 * rotated through more memory than the last-level cache, the machine's measured matrix-product
 * rate and memory bandwidth (the floor every result is compared with), and the result table in
 * three forms: text on stdout, JSON and markdown.
 *
 * Floor of one op: max(FLOPs / measured sgemm rate, bytes / measured copy bandwidth), and on a GPU
 * at least one kernel launch (the measured time of the smallest op). FLOPs count 2 per
 * multiply-add of the matrix products plus one per elementwise arithmetic operation (a
 * transcendental function counts as one); bytes are the compulsory traffic: every input read
 * once, every output written once, in float32. */
#ifndef EVAE_BENCH_COMMON_H
#define EVAE_BENCH_COMMON_H

#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evae/backend/backend.h"
#include "evae/backend/blas_kernels.h"
#include "evae/cli/run.h"
#include "evae/io/config.h"
#include "evae/io/atomic_file.h"
#include "evae/util.h"
#ifdef EVAE_HAVE_CUDA
#include "bench_timer.h"
#endif

/* ------------------------------------------------------------------------------------------ */
/* the device */

typedef struct bench_device {
    const evae_backend *be;
    int cuda;               /* 1: time with CUDA events */
    char name[256];         /* CPU model or GPU name */
    size_t cache_bytes;     /* last-level cache: L3 on the CPU, L2 on the GPU */
    size_t mem_budget;      /* bytes a benchmark may allocate for rotated inputs */
    int threads;            /* CPU: threads (OpenMP; OpenBLAS runs on 1 each); GPU: SMs */
#ifdef EVAE_HAVE_CUDA
    evae_bench_timer *timer;
#endif
} bench_device;

static inline void bench_cpu_model(char *out, size_t cap)
{
    snprintf(out, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ' || *colon == '\t') colon++;
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(out, cap, "%s", colon);
            }
            break;
        }
    }
    fclose(f);
}

/* Largest cache level's size from sysfs (bytes); 32 MiB when it cannot be read. */
static inline size_t bench_cpu_llc_bytes(void)
{
    size_t best = 0;
    for (int idx = 0; idx < 8; idx++) {
        char path[128], text[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", idx);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(text, sizeof text, f)) {
            char *end = NULL;
            double v = strtod(text, &end);
            size_t mul = 1;
            if (end && (*end == 'K' || *end == 'k')) mul = 1024;
            if (end && (*end == 'M' || *end == 'm')) mul = 1024 * 1024;
            size_t bytes = (size_t)(v * (double)mul);
            if (bytes > best) best = bytes;
        }
        fclose(f);
    }
    return best ? best : (size_t)32 << 20;
}

/* The backend of a --device value (auto, cpu or cuda, checked as the config key `device` is);
 * NULL with a message when it is not one of them or not available. */
static inline const evae_backend *bench_backend(const char *name)
{
    evae_config c;
    evae_config_defaults(&c);
    char kv[64];
    snprintf(kv, sizeof kv, "device=%s", name);
    return evae_config_set(&c, kv) ? NULL : evae_backend_for(c.device);
}

/* "auto", "cpu" or "cuda"; non-zero with a message when unavailable. */
static inline int bench_device_open(const char *name, bench_device *dev)
{
    memset(dev, 0, sizeof *dev);
    dev->be = bench_backend(name);
    if (!dev->be) return 1;
    if (strcmp(dev->be->name, "cuda") == 0) {
#ifdef EVAE_HAVE_CUDA
        evae_bench_gpu_info info;
        if (evae_bench_gpu_info_get(dev->be, &info)) return 1;
        dev->cuda = 1;
        snprintf(dev->name, sizeof dev->name, "%s", info.name);
        dev->cache_bytes = info.l2_bytes;
        dev->threads = info.sm_count;
        /* rotated inputs: at most a quarter of the free memory, and 2 GiB */
        dev->mem_budget = info.free_bytes / 4 < ((size_t)2 << 30) ? info.free_bytes / 4
                                                                   : ((size_t)2 << 30);
        dev->timer = evae_bench_timer_create(dev->be);
        if (!dev->timer) return 1;
#else
        evae_error("the cuda backend answered but this benchmark was built without CUDA");
        return 1;
#endif
    } else {
        bench_cpu_model(dev->name, sizeof dev->name);
        dev->cache_bytes = bench_cpu_llc_bytes();
        dev->threads = omp_get_max_threads(); /* evae_cpu_backend() has set it */
        dev->mem_budget = (size_t)512 << 20;
    }
    return 0;
}

static inline void bench_device_close(bench_device *dev)
{
#ifdef EVAE_HAVE_CUDA
    if (dev->timer) evae_bench_timer_destroy(dev->timer);
#endif
    memset(dev, 0, sizeof *dev);
}

/* ------------------------------------------------------------------------------------------ */
/* timing */

/* One call of the op under test on input set `set` (0 <= set < sets). */
typedef void (*bench_fn)(void *ctx, int set);

typedef struct bench_stats {
    double median, min, max; /* seconds per call */
    int reps;
} bench_stats;

/* How long to measure each op: warm-up, then runs until both min_reps and budget_s are reached
 * (or max_reps). */
typedef struct bench_budget {
    double seconds;
    int min_reps, max_reps, warmup;
} bench_budget;

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Seconds of one call: device events around it on a GPU, the monotonic clock on the CPU. */
static inline double bench_time_once(const bench_device *dev, bench_fn fn, void *ctx, int set)
{
#ifdef EVAE_HAVE_CUDA
    if (dev->cuda) {
        evae_bench_timer_start(dev->timer);
        fn(ctx, set);
        evae_bench_timer_stop(dev->timer);
        return evae_bench_timer_seconds(dev->timer);
    }
#endif
    double t0 = evae_now();
    fn(ctx, set);
    dev->be->sync(dev->be);
    return evae_now() - t0;
}

static inline bench_stats bench_run(const bench_device *dev, bench_fn fn, void *ctx, int sets,
                             const bench_budget *bud)
{
    bench_stats st = {0.0, 0.0, 0.0, 0};
    /* warm-up: first-touch page faults, cuBLAS/cuDNN heuristics, the lazy module load */
    double t_warm = 0.0;
    for (int r = 0; r < bud->warmup || (r < 64 && t_warm < 0.1 * bud->seconds); r++)
        t_warm += bench_time_once(dev, fn, ctx, r % sets);
    int cap = bud->max_reps > 0 ? bud->max_reps : 1000;
    double *t = evae_xcalloc((size_t)cap, sizeof(double));
    double total = 0.0;
    int r = 0;
    while (r < cap && (r < bud->min_reps || total < bud->seconds)) {
        t[r] = bench_time_once(dev, fn, ctx, r % sets);
        total += t[r];
        r++;
    }
    qsort(t, (size_t)r, sizeof(double), bench_cmp_double);
    st.reps = r;
    st.min = t[0];
    st.max = t[r - 1];
    st.median = r % 2 ? t[r / 2] : 0.5 * (t[r / 2 - 1] + t[r / 2]);
    free(t);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* rotated inputs: `sets` copies of an op's operands in one backend allocation, so that
 * consecutive runs touch different memory and the working set exceeds the last-level cache */

#define BENCH_MAX_BUFS 16

typedef struct bench_arena {
    const evae_backend *be;
    int sets, nbuf;
    size_t set_bytes;
    size_t off[BENCH_MAX_BUFS]; /* byte offset of buffer i inside a set */
    size_t len[BENCH_MAX_BUFS]; /* bytes of buffer i */
    char *base;                 /* [sets * set_bytes], backend memory */
} bench_arena;

static inline void bench_arena_begin(bench_arena *a, const evae_backend *be)
{
    memset(a, 0, sizeof *a);
    a->be = be;
}

/* Declares buffer i of `bytes` (256-byte aligned inside the set); returns its index. */
static inline int bench_arena_add(bench_arena *a, size_t bytes)
{
    if (a->nbuf >= BENCH_MAX_BUFS) {
        evae_error("bench_arena: more than %d buffers", BENCH_MAX_BUFS);
        abort();
    }
    a->off[a->nbuf] = a->set_bytes;
    a->len[a->nbuf] = bytes;
    a->set_bytes += (bytes + 255) & ~(size_t)255;
    if (a->set_bytes == 0) a->set_bytes = 256;
    return a->nbuf++;
}

/* Allocates enough sets to cover twice the last-level cache (at most 1024 and within the device's
 * memory budget; at least one). */
static inline void bench_arena_alloc(bench_arena *a, const bench_device *dev)
{
    size_t per = a->set_bytes ? a->set_bytes : 256;
    size_t want = (2 * dev->cache_bytes + per - 1) / per + 1;
    size_t fit = dev->mem_budget / per;
    if (want > fit) want = fit;
    if (want > 1024) want = 1024;
    if (want < 1) want = 1;
    a->sets = (int)want;
    a->base = a->be->alloc(a->be, per * want);
}

static inline void *bench_buf(const bench_arena *a, int set, int i)
{
    return a->base + (size_t)set * a->set_bytes + a->off[i];
}

/* Copies set 0 (filled by the caller) into every other set. */
static inline void bench_arena_replicate(bench_arena *a)
{
    for (int s = 1; s < a->sets; s++)
        a->be->copy(a->be, a->base + (size_t)s * a->set_bytes, a->base, a->set_bytes);
    a->be->sync(a->be);
}

static inline void bench_arena_free(bench_arena *a)
{
    if (a->base) a->be->free(a->be, a->base);
    a->base = NULL;
}

/* host data -> buffer i of set 0 */
static inline void bench_upload(bench_arena *a, int i, const void *host)
{
    a->be->upload(a->be, bench_buf(a, 0, i), host, a->len[i]);
}

/* ------------------------------------------------------------------------------------------ */
/* the machine's measured floor */

/* CPU seconds of this process, all threads: unlike the wall clock, barely moved by other work on
 * a shared machine (the CPU floor ratio is reported both ways) */
static inline double bench_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct bench_machine {
    double gemm_gflops; /* sgemm, square, through the backend's gemm */
    double gemm_gflops_cpu; /* the same per CPU second of this process (CPU backend) */
    int gemm_n;
    double copy_gbs;    /* bytes read + written per second by the backend's copy */
    size_t copy_bytes;
    double launch_s;    /* the smallest op (axpy of one float): the per-op overhead */
} bench_machine;

typedef struct {
    const evae_backend *be;
    int n;
    float *A, *B, *C;
} bench_gemm_ctx;

static inline void bench_gemm_call(void *p, int set)
{
    (void)set;
    bench_gemm_ctx *c = p;
    c->be->gemm(c->be, 0, 0, c->n, c->n, c->n, 1.0f, c->A, c->B, 0.0f, c->C);
}

typedef struct {
    const evae_backend *be;
    size_t bytes;
    char *src, *dst;
} bench_copy_ctx;

static inline void bench_copy_call(void *p, int set)
{
    (void)set;
    bench_copy_ctx *c = p;
    c->be->copy(c->be, c->dst, c->src, c->bytes);
}

static inline void bench_axpy1_call(void *p, int set)
{
    (void)set;
    bench_copy_ctx *c = p;
    c->be->axpy(c->be, (float *)c->dst, (const float *)c->src, 1, 1.0f);
}

static inline void bench_measure_machine(const bench_device *dev, bench_machine *m)
{
    memset(m, 0, sizeof *m);
    const evae_backend *be = dev->be;
    bench_budget bud = {1.0, 5, 50, 2};
    /* matrix products: large enough to run at the library's peak */
    bench_gemm_ctx g = {be, dev->cuda ? 8192 : 2048, NULL, NULL, NULL};
    size_t nn = (size_t)g.n * g.n;
    g.A = be->alloc(be, nn * sizeof(float));
    g.B = be->alloc(be, nn * sizeof(float));
    g.C = be->alloc(be, nn * sizeof(float));
    be->rand_normal(be, g.A, nn, 1, 1, 0);
    be->rand_normal(be, g.B, nn, 1, 2, 0);
    bench_stats st = bench_run(dev, bench_gemm_call, &g, 1, &bud);
    m->gemm_n = g.n;
    m->gemm_gflops = 2.0 * (double)nn * g.n / st.median * 1e-9;
    if (!dev->cuda) { /* the fastest of several calls: CPU time still moves with the clock rate */
        double best = 0.0;
        for (int r = 0; r < 7; r++) {
            double c0 = bench_cpu_seconds();
            bench_gemm_call(&g, 0);
            double rate = 2.0 * (double)nn * g.n / (bench_cpu_seconds() - c0) * 1e-9;
            if (rate > best) best = rate;
        }
        m->gemm_gflops_cpu = best;
    }
    be->free(be, g.A);
    be->free(be, g.B);
    be->free(be, g.C);
    /* bandwidth: a copy of a buffer far larger than the last-level cache */
    bench_copy_ctx c = {be, dev->cuda ? ((size_t)1 << 30) : ((size_t)256 << 20), NULL, NULL};
    c.src = be->alloc(be, c.bytes);
    c.dst = be->alloc(be, c.bytes);
    st = bench_run(dev, bench_copy_call, &c, 1, &bud);
    m->copy_bytes = c.bytes;
    m->copy_gbs = 2.0 * (double)c.bytes / st.median * 1e-9;
    /* per-op overhead */
    bench_budget small = {0.2, 50, 2000, 10};
    st = bench_run(dev, bench_axpy1_call, &c, 1, &small);
    m->launch_s = dev->cuda ? st.median : 0.0;
    be->free(be, c.src);
    be->free(be, c.dst);
}

/* "1.23 0.80 0.50": other work on the machine skews CPU timings; recorded with every result */
static inline void bench_loadavg(char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return;
    double a = 0, b = 0, c = 0;
    if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) snprintf(out, cap, "%.2f %.2f %.2f", a, b, c);
    fclose(f);
}

static inline void bench_machine_json(cJSON *root, const bench_device *dev, const bench_machine *m)
{
    cJSON *o = cJSON_AddObjectToObject(root, "machine");
    cJSON_AddStringToObject(o, "device", dev->be->name);
    cJSON_AddStringToObject(o, "name", dev->name);
    cJSON_AddStringToObject(o, "backend", dev->be->describe(dev->be));
    if (!dev->cuda) {
        char text[256];
        evae_cpu_features_text(NULL, text, sizeof text);
        cJSON_AddStringToObject(o, "cpu_features", text);
        cJSON_AddStringToObject(o, "openblas_core", openblas_get_corename());
    }
    cJSON_AddNumberToObject(o, dev->cuda ? "sm_count" : "threads", dev->threads);
    cJSON_AddNumberToObject(o, "cache_bytes", (double)dev->cache_bytes);
    cJSON_AddNumberToObject(o, "sgemm_gflops", m->gemm_gflops);
    cJSON_AddNumberToObject(o, "sgemm_n", m->gemm_n);
    if (!dev->cuda) cJSON_AddNumberToObject(o, "sgemm_gflops_per_cpu_s", m->gemm_gflops_cpu);
    cJSON_AddNumberToObject(o, "copy_gbs", m->copy_gbs);
    cJSON_AddNumberToObject(o, "copy_bytes", (double)m->copy_bytes);
    cJSON_AddNumberToObject(o, "launch_us", m->launch_s * 1e6);
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(o, "date", when);
    char load[64];
    bench_loadavg(load, sizeof load);
    cJSON_AddStringToObject(o, "loadavg", load);
}

static inline void bench_machine_print(FILE *f, const bench_device *dev, const bench_machine *m, int md)
{
    if (md) {
        fprintf(f, "Device: %s (%s), %s %d; %s. Measured floor: sgemm %.1f GFLOP/s (n = %d), "
                   "copy %.1f GB/s (%zu MiB)",
                dev->be->name, dev->name, dev->cuda ? "SMs" : "threads", dev->threads,
                dev->be->describe(dev->be), m->gemm_gflops, m->gemm_n, m->copy_gbs,
                m->copy_bytes >> 20);
        if (dev->cuda) fprintf(f, ", smallest op %.1f us", m->launch_s * 1e6);
        fprintf(f, ".\n\n");
    } else {
        char load[64];
        bench_loadavg(load, sizeof load);
        fprintf(f, "device %s: %s (%s %d), load average %s\n", dev->be->name, dev->name,
                dev->cuda ? "SMs" : "threads", dev->threads, load);
        fprintf(f, "backend: %s\n", dev->be->describe(dev->be));
        fprintf(f, "floor: sgemm %.1f GFLOP/s (n=%d), copy %.1f GB/s (%zu MiB)", m->gemm_gflops,
                m->gemm_n, m->copy_gbs, m->copy_bytes >> 20);
        if (dev->cuda) fprintf(f, ", smallest op %.1f us", m->launch_s * 1e6);
        fprintf(f, "\n");
    }
}

/* ------------------------------------------------------------------------------------------ */
/* results */

typedef struct bench_result {
    char group[24];  /* "grbm", "elementwise", "adam", "gemm", "conv", ... */
    char name[64];
    char shape[96];
    double flops, bytes;
    bench_stats t;
    int sets;        /* rotated input sets */
} bench_result;

/* Floor seconds and which bound sets it: "compute", "memory" or "launch". */
static inline double bench_floor(const bench_machine *m, double flops, double bytes, const char **bound)
{
    double tc = flops / (m->gemm_gflops * 1e9), tm = bytes / (m->copy_gbs * 1e9);
    double t = tc > tm ? tc : tm;
    *bound = tc > tm ? "compute" : "memory";
    if (m->launch_s > t) {
        t = m->launch_s;
        *bound = "launch";
    }
    return t;
}

static inline void bench_result_print_header(FILE *f, int md)
{
    if (md) {
        fprintf(f, "| group | op | shape | median ms | GFLOP/s | GB/s | floor ms | bound | "
                   "x floor | runs |\n");
        fprintf(f, "|---|---|---|---:|---:|---:|---:|---|---:|---:|\n");
    } else {
        fprintf(f, "%-11s %-26s %-34s %10s %9s %8s %9s %-7s %8s %5s\n", "group", "op", "shape",
                "median_ms", "GFLOP/s", "GB/s", "floor_ms", "bound", "x_floor", "runs");
    }
}

static inline void bench_result_print(FILE *f, const bench_result *r, const bench_machine *m, int md)
{
    const char *bound;
    double fl = bench_floor(m, r->flops, r->bytes, &bound);
    double s = r->t.median;
    if (md)
        fprintf(f, "| %s | %s | %s | %.4g | %.1f | %.1f | %.4g | %s | %.1f | %d |\n", r->group,
                r->name, r->shape, s * 1e3, r->flops / s * 1e-9, r->bytes / s * 1e-9, fl * 1e3,
                bound, s / fl, r->t.reps);
    else
        fprintf(f, "%-11s %-26s %-34s %10.4f %9.1f %8.1f %9.4f %-7s %8.1f %5d\n", r->group,
                r->name, r->shape, s * 1e3, r->flops / s * 1e-9, r->bytes / s * 1e-9, fl * 1e3,
                bound, s / fl, r->t.reps);
    fflush(f);
}

static inline cJSON *bench_result_json(const bench_result *r, const bench_machine *m)
{
    const char *bound;
    double fl = bench_floor(m, r->flops, r->bytes, &bound);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "group", r->group);
    cJSON_AddStringToObject(o, "op", r->name);
    cJSON_AddStringToObject(o, "shape", r->shape);
    cJSON_AddNumberToObject(o, "flops", r->flops);
    cJSON_AddNumberToObject(o, "bytes", r->bytes);
    cJSON_AddNumberToObject(o, "median_ms", r->t.median * 1e3);
    cJSON_AddNumberToObject(o, "min_ms", r->t.min * 1e3);
    cJSON_AddNumberToObject(o, "max_ms", r->t.max * 1e3);
    cJSON_AddNumberToObject(o, "runs", r->t.reps);
    cJSON_AddNumberToObject(o, "input_sets", r->sets);
    cJSON_AddNumberToObject(o, "gflops", r->flops / r->t.median * 1e-9);
    cJSON_AddNumberToObject(o, "gbs", r->bytes / r->t.median * 1e-9);
    cJSON_AddNumberToObject(o, "floor_ms", fl * 1e3);
    cJSON_AddStringToObject(o, "bound", bound);
    cJSON_AddNumberToObject(o, "x_floor", r->t.median / fl);
    return o;
}

/* Opens path for writing ("-" or NULL: none); non-zero with a message on failure. */
static inline int bench_open_out(const char *path, FILE **f)
{
    *f = NULL;
    if (!path) return 0;
    *f = fopen(path, "w");
    if (!*f) {
        evae_error("%s: cannot open for writing", path);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* command-line helpers */

/* Parses an integer option value; non-zero with a message when malformed or out of range. */
static inline int bench_parse_int(const char *opt, const char *text, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = strtol(text ? text : "", &end, 10);
    if (!text || !*text || *end || v < lo || v > hi) {
        evae_error("%s: expected an integer in [%ld, %ld], got '%s'", opt, lo, hi,
                   text ? text : "");
        return 1;
    }
    *out = v;
    return 0;
}

static inline int bench_parse_double(const char *opt, const char *text, double lo, double hi,
                              double *out)
{
    char *end = NULL;
    double v = strtod(text ? text : "", &end);
    if (!text || !*text || *end || !(v >= lo && v <= hi)) {
        evae_error("%s: expected a number in [%g, %g], got '%s'", opt, lo, hi, text ? text : "");
        return 1;
    }
    *out = v;
    return 0;
}

#endif
