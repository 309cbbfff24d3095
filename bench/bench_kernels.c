/* Per-op benchmark: every backend op the trainer runs, at the paper's sizes (MNIST: B=512, d=64,
 * n=128, MLP 784-512-512-128 / 64-512-512-784; CIFAR-10: B=1024, d=512, n=128 and its
 * convolutions) and at a batch FILL times larger, against the floor from the machine's measured
 * sgemm rate and copy bandwidth (bench_common.h).
 *
 *   bench_kernels [--device cpu|cuda|auto] [--only GROUP,...] [--sizes paper,fill] [--fill F]
 *                 [--budget SECONDS] [--json FILE] [--md FILE]
 *
 * Groups: grbm (energy and dE/dz, SSM loss + gradients, Langevin, Gibbs, AIS), elementwise (the
 * fused VAE ops and the random fills), adam, gemm (the MLP layers' three products), conv (the
 * CIFAR-10 layers: forward, backward-data, backward-filter). The cases (shapes, inputs, FLOPs
 * and bytes) are the op table of tests/ops/op_cases.c, which the GPU op test shares. Every op but
 * AIS runs on input sets rotated through more memory than the last-level cache (AIS allocates
 * its own chains; gather_rows reads one resident data set). */
#define _DEFAULT_SOURCE /* POSIX.1-2008 under -std=c11 */
#include "bench_common.h"

#include "ops/op_cases.h"

typedef struct run_opts {
    const bench_device *dev;
    const bench_machine *mach;
    bench_budget bud;
    FILE *md;
    cJSON *results;
    int count;
} run_opts;

/* One case of the table on its rotated input sets: arena buffer idx[i] of each set, or fixed[i]
 * shared by all (a resident data set); `call` counts the runs. */
typedef struct case_run {
    const evae_backend *be;
    const op_case *c;
    op_buf b[OP_MAX_BUFS];
    int nbuf;
    bench_arena a;
    int idx[OP_MAX_BUFS];
    void *fixed[OP_MAX_BUFS];
    uint64_t call;
} case_run;

static void *case_buf(case_run *r, int set, int i)
{
    if (r->b[i].count == 0) return NULL;
    return r->b[i].fixed ? r->fixed[i] : bench_buf(&r->a, set, r->idx[i]);
}

static void run_case(void *p, int set)
{
    case_run *r = p;
    void *buf[OP_MAX_BUFS];
    for (int i = 0; i < r->nbuf; i++) buf[i] = case_buf(r, set, i);
    volatile double result = r->c->kind->run(r->be, r->c, buf, r->call++);
    (void)result;
}

/* An OP_FILL_NORMAL / _UNIFORM / _ZERO buffer filled where the backend computes (values do not
 * change the timing) */
static void fill_on_device(const evae_backend *be, const op_buf *b, int i, float *p)
{
    if (b->fill == OP_FILL_ZERO) {
        be->zero(be, p, b->count * sizeof(float));
    } else if (b->fill == OP_FILL_UNIFORM) {
        be->rand_uniform(be, p, b->count, 12, (uint64_t)i, 0);
    } else if (b->fill == OP_FILL_NORMAL) {
        be->rand_normal(be, p, b->count, 11, (uint64_t)i, 0);
        if (b->scale != 1.0f) {
            float *scaled = be->alloc(be, b->count * sizeof(float)); /* zero-filled */
            be->axpy(be, scaled, p, b->count, b->scale);
            be->copy(be, p, scaled, b->count * sizeof(float));
            be->free(be, scaled);
        }
    }
}

/* the case's custom inputs of one input set, made on the host and uploaded */
static void upload_custom(case_run *r, int set)
{
    const evae_backend *be = r->be;
    void *host[OP_MAX_BUFS] = {0};
    int any = 0;
    for (int i = 0; i < r->nbuf; i++) {
        const op_buf *b = &r->b[i];
        if (b->role == OP_OUT || b->count == 0 || b->fill != OP_FILL_CUSTOM) continue;
        if (set > 0 && (!b->per_set || b->fixed)) continue;
        host[i] = evae_xcalloc(b->count, b->is_int ? sizeof(int) : sizeof(float));
        any = 1;
    }
    if (!any) return;
    r->c->kind->init(r->c, set, host);
    for (int i = 0; i < r->nbuf; i++) {
        if (!host[i]) continue;
        const op_buf *b = &r->b[i];
        be->upload(be, case_buf(r, set, i), host[i],
                   b->count * (b->is_int ? sizeof(int) : sizeof(float)));
        free(host[i]);
    }
}

/* Runs one case on input sets rotated through more memory than the last-level cache, and
 * records it. */
static void bench_case(run_opts *o, const op_case *c)
{
    const evae_backend *be = o->dev->be;
    case_run r;
    memset(&r, 0, sizeof r);
    r.be = be;
    r.c = c;
    r.nbuf = c->kind->buffers(c, r.b);
    bench_arena_begin(&r.a, be);
    int rotated = 0;
    for (int i = 0; i < r.nbuf; i++) {
        const size_t bytes = r.b[i].count * (r.b[i].is_int ? sizeof(int) : sizeof(float));
        if (r.b[i].count == 0) continue;
        if (r.b[i].fixed) {
            r.fixed[i] = be->alloc(be, bytes);
            if (r.b[i].role != OP_OUT) fill_on_device(be, &r.b[i], i, r.fixed[i]);
        } else {
            r.idx[i] = bench_arena_add(&r.a, bytes);
            rotated = 1;
        }
    }
    if (rotated) bench_arena_alloc(&r.a, o->dev);
    for (int i = 0; i < r.nbuf; i++)
        if (!r.b[i].fixed && r.b[i].count && r.b[i].role != OP_OUT)
            fill_on_device(be, &r.b[i], i, case_buf(&r, 0, i));
    upload_custom(&r, 0);
    if (rotated) bench_arena_replicate(&r.a);
    int per_set = 0;
    for (int i = 0; i < r.nbuf; i++) per_set |= r.b[i].per_set && !r.b[i].fixed;
    for (int s = 1; per_set && s < r.a.sets; s++) upload_custom(&r, s);

    bench_result res;
    memset(&res, 0, sizeof res);
    snprintf(res.group, sizeof res.group, "%s", c->group);
    snprintf(res.name, sizeof res.name, "%s", c->name);
    snprintf(res.shape, sizeof res.shape, "%s", c->shape);
    res.flops = c->kind->flops(c);
    res.bytes = c->kind->bytes(c);
    res.sets = rotated ? r.a.sets : 1;
    res.t = bench_run(o->dev, run_case, &r, res.sets, &o->bud);
    bench_result_print(stdout, &res, o->mach, 0);
    if (o->md) bench_result_print(o->md, &res, o->mach, 1);
    cJSON_AddItemToArray(o->results, bench_result_json(&res, o->mach));
    o->count++;

    bench_arena_free(&r.a);
    for (int i = 0; i < r.nbuf; i++)
        if (r.fixed[i]) be->free(be, r.fixed[i]);
}

/* ------------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_kernels --which-device [--device D]   (prints the backend D picks)\n"
               "       bench_kernels [--device cpu|cuda|auto] [--only grbm,elementwise,adam,gemm,"
               "conv] [--sizes paper,fill] [--fill F] [--budget SECONDS] [--json FILE] "
               "[--md FILE]\n");
}

int main(int argc, char **argv)
{
    evae_cpu_select(argv); /* as evae does: the benchmarks time what it runs */
    const char *device = "auto", *only = "grbm,elementwise,adam,gemm,conv", *sizes = "paper,fill";
    const char *json_path = NULL, *md_path = NULL;
    long fill = 0;
    double budget = 0.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--which-device") == 0) { /* for scripts: what --device auto picks */
            const evae_backend *be = bench_backend(device);
            if (!be) return 1;
            printf("%s\n", be->name);
            return 0;
        }
        if (!v) {
            evae_error("%s: missing value", a);
            usage(stderr);
            return 1;
        }
        i++;
        if (strcmp(a, "--device") == 0) device = v;
        else if (strcmp(a, "--only") == 0) only = v;
        else if (strcmp(a, "--sizes") == 0) sizes = v;
        else if (strcmp(a, "--json") == 0) json_path = v;
        else if (strcmp(a, "--md") == 0) md_path = v;
        else if (strcmp(a, "--fill") == 0) {
            if (bench_parse_int(a, v, 1, 1024, &fill)) return 1;
        } else if (strcmp(a, "--budget") == 0) {
            if (bench_parse_double(a, v, 0.001, 60.0, &budget)) return 1;
        } else {
            evae_error("unknown option %s", a);
            usage(stderr);
            return 1;
        }
    }
    bench_device dev;
    if (bench_device_open(device, &dev)) return 1;
    if (fill == 0) fill = dev.cuda ? 16 : 4;
    bench_machine mach;
    bench_measure_machine(&dev, &mach);
    bench_machine_print(stdout, &dev, &mach, 0);

    run_opts o;
    memset(&o, 0, sizeof o);
    o.dev = &dev;
    o.mach = &mach;
    o.bud.seconds = budget > 0 ? budget : (dev.cuda ? 0.2 : 0.3);
    o.bud.min_reps = dev.cuda ? 20 : 5;
    o.bud.max_reps = dev.cuda ? 2000 : 200;
    o.bud.warmup = 2;
    if (bench_open_out(md_path, &o.md)) return 1;
    cJSON *root = cJSON_CreateObject();
    bench_machine_json(root, &dev, &mach);
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    cJSON_AddStringToObject(cfg, "groups", only);
    cJSON_AddStringToObject(cfg, "sizes", sizes);
    cJSON_AddNumberToObject(cfg, "fill", (double)fill);
    cJSON_AddNumberToObject(cfg, "budget_s", o.bud.seconds);
    cJSON_AddNumberToObject(cfg, "min_runs", o.bud.min_reps);
    o.results = cJSON_AddArrayToObject(root, "results");
    if (o.md) {
        fprintf(o.md, "### Per-op benchmark (%s)\n\n", dev.be->name);
        bench_machine_print(o.md, &dev, &mach, 1);
        fprintf(o.md, "Median of at least %d runs after warm-up (%s), inputs rotated through more "
                      "than twice the %zu MiB last-level cache. `paper` = the paper's sizes, "
                      "`fill` = %ld times the batch.\n\n",
                o.bud.min_reps, dev.cuda ? "CUDA events" : "monotonic clock",
                dev.cache_bytes >> 20, fill);
        bench_result_print_header(o.md, 1);
    }
    bench_result_print_header(stdout, 0);

    op_case_list cases;
    if (op_bench_cases(&cases, dev.be, dev.cuda, only, sizes, (int)fill)) return 1;
    for (int i = 0; i < cases.n; i++) bench_case(&o, &cases.cases[i]);
    op_case_list_free(&cases);

    int rc = 0;
    if (o.md) {
        fprintf(o.md, "\n");
        if (fclose(o.md) != 0) {
            evae_error("%s: cannot write", md_path);
            rc = 1;
        }
    }
    if (json_path) rc |= evae_atomic_write_json(json_path, root);
    cJSON_Delete(root);
    bench_device_close(&dev);
    printf("%d ops measured\n", o.count);
    return rc;
}
