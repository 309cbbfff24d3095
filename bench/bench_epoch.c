/* Whole-epoch benchmark: the training step of Algorithm 1 exactly as src/cli/train.c runs it (batch
 * gather from the device-resident data set, binarization or dequantization, ALB forward and
 * backward, Adam, the prior's score matching step and its Adam, the per-example accumulators),
 * through the unchanged model, objective and network code, timed per epoch without the
 * evaluation, checkpoint and image grids that evae_train adds between epochs.
 *
 *   bench_epoch --dataset mnist|cifar10 [--device cpu|cuda|auto] [--examples N] [--epochs E]
 *               [--warmup-steps S] [--profile-steps P] [--data DIR] [--json FILE] [--md FILE]
 *
 * Data: MNIST, the bundled 9,000 training digits (or --data DIR) tiled to N examples (default
 * 60,000, the size of the real training set); CIFAR-10, N generated 3x32x32 images (default
 * 50,000) with uniformly random 8-bit pixels: the cost of an epoch does not depend on the pixel
 * values. Model and hyperparameters from experiments/<dataset>.ini (the paper's settings).
 *
 * Floor: the FLOPs of the epoch's matrix products and convolutions (forward, weight gradients,
 * input gradients, GRBM energy and score matching) over the machine's measured sgemm rate. The
 * profile pass then re-runs P steps through a timed copy of the backend (bench_profile.h) and
 * reports where the epoch's time goes, op by op and product by product. */
#define _DEFAULT_SOURCE /* POSIX.1-2008 under -std=c11 */
#include "bench_common.h"
#include "bench_profile.h"

#include "evae/io/config.h"
#include "evae/data/dataset.h"
#include "evae/math/grbm.h"
#include "evae/model/model.h"
#include "evae/model/objective.h"
#include "evae/math/philox.h"
#include "evae/cli/run.h"
#include "evae/model/input.h"
#include "evae/io/safetensors.h"
#include "evae/model/train_step.h"

#ifndef EVAE_SOURCE_DIR
#define EVAE_SOURCE_DIR "."
#endif

/* ------------------------------------------------------------------------------------------ */
/* FLOPs of one step of batch B: the products of evae_net_forward / evae_net_backward, the GRBM
 * energy (two B x d x n products) and the score matching step (2 d n (6 B + 3 B M)) */

static double layer_flops(const evae_layer *L, int B)
{
    if (L->kind == EVAE_LINEAR) return 2.0 * B * L->in_dim * L->out_dim;
    evae_conv_shape s = L->conv;
    s.N = B;
    return 2.0 * B * s.K * evae_conv_P(&s) * evae_conv_Q(&s) * s.C * s.R * s.S;
}

/* forward + weight gradients + input gradients (none for layer 0 unless first_dx) */
static double net_step_flops(const evae_network *net, int B, int first_dx)
{
    double f = 0.0;
    for (int l = 0; l < net->n_layers; l++) {
        double one = layer_flops(&net->layers[l], B);
        f += 2.0 * one + ((l > 0 || first_dx) ? one : 0.0);
    }
    return f;
}

static double step_flops(const evae_model *m, int B, int M)
{
    double dn = (double)m->d * m->n;
    double f = net_step_flops(&m->enc, B, 0) + net_step_flops(&m->dec, B, 1);
    f += 4.0 * B * dn;                                            /* energy and dE/dz */
    if (m->shape.prior_grbm) f += 2.0 * dn * (6.0 * B + 3.0 * B * M); /* SSM */
    return f;
}

/* ------------------------------------------------------------------------------------------ */
/* data */

/* MNIST: the digits of dir's training files repeated up to n examples */
static int mnist_tiled(const char *dir, int n, evae_dataset *out)
{
    evae_dataset train = {0}, held = {0};
    if (evae_mnist_load(dir, 0, &train, &held, NULL)) return 1;
    size_t dim = (size_t)evae_dataset_dim(&train);
    memset(out, 0, sizeof *out);
    out->n = n;
    out->channels = train.channels;
    out->height = train.height;
    out->width = train.width;
    out->pixels = evae_xcalloc((size_t)n * dim, 1); /* [n, 784] */
    out->labels = evae_xcalloc((size_t)n, 1);       /* [n] */
    for (int i = 0; i < n; i++) {
        memcpy(out->pixels + (size_t)i * dim, train.pixels + (size_t)(i % train.n) * dim, dim);
        out->labels[i] = train.labels[i % train.n];
    }
    evae_dataset_free(&train);
    evae_dataset_free(&held);
    return 0;
}

/* CIFAR-10 shape, generated pixels */
static void cifar_generated(int n, evae_dataset *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    out->channels = 3;
    out->height = 32;
    out->width = 32;
    size_t total = (size_t)n * 3072;
    out->pixels = evae_xcalloc(total, 1); /* [n, 3072] */
    out->labels = evae_xcalloc((size_t)n, 1);
    for (size_t blk = 0; blk < (total + 15) / 16; blk++) {
        evae_u32x4 r = evae_philox_block(1, 77, blk);
        for (int b = 0; b < 16 && blk * 16 + b < total; b++)
            out->pixels[blk * 16 + b] = (uint8_t)(r.v[b / 4] >> (8 * (b % 4)));
    }
    for (int i = 0; i < n; i++) out->labels[i] = (uint8_t)(i % 10);
}

/* ------------------------------------------------------------------------------------------ */
/* the training loop of src/cli/train.c, without logging, evaluation and checkpoints */

typedef struct trainer {
    evae_config cfg;
    evae_model m;
    evae_workspace w;
    evae_prior_fit fit; /* the prior's objective (prior.objective of the experiment file) */
    int n, cap, steps;
    float *train_dev;   /* [n, x_dim] resident data set */
    int *perm;          /* [n] host */
    int *idx_dev;       /* [n] batch order, backend */
    float *acc_alb, *acc_ll, *acc_J; /* [cap] per-example sums over the epoch */
    long global_step;
    evae_comm *comm; /* one process */
} trainer;

/* One epoch (or its first max_steps steps); returns the wall seconds, ending with the
 * synchronizing sums that src/cli/train.c also takes after each epoch. */
static double run_epoch(trainer *t, int epoch, int max_steps)
{
    evae_model *m = &t->m;
    evae_workspace *w = &t->w;
    const evae_backend *be = m->be;
    const evae_config *cfg = &t->cfg;
    const uint64_t seed = (uint64_t)cfg->train.seed;
    const int D = m->x_dim, cap = t->cap;
    be->sync(be);
    double t0 = evae_now();
    evae_shuffle(t->perm, t->n, seed, (uint64_t)epoch);
    be->upload(be, t->idx_dev, t->perm, (size_t)t->n * sizeof(int));
    be->zero(be, t->acc_alb, cap * sizeof(float));
    be->zero(be, t->acc_ll, cap * sizeof(float));
    be->zero(be, t->acc_J, cap * sizeof(float));
    int steps = max_steps > 0 && max_steps < t->steps ? max_steps : t->steps;
    for (int s = 0; s < steps; s++) {
        int B = t->n - s * cap < cap ? t->n - s * cap : cap;
        uint64_t gs = (uint64_t)t->global_step;
        be->gather_rows(be, w->p, t->train_dev, t->idx_dev + (size_t)s * cap, B, D);
        evae_train_step(m, w, m->shape.prior_grbm ? &t->fit : NULL, evae_share_whole(B), cfg, gs,
                        t->comm);
        if (m->shape.prior_grbm) be->axpy(be, t->acc_J, w->J, (size_t)B, 1.0f);
        be->axpy(be, t->acc_alb, w->alb, (size_t)B, 1.0f);
        be->axpy(be, t->acc_ll, w->ll, (size_t)B, 1.0f);
        t->global_step++;
    }
    volatile double sums = be->sum(be, t->acc_alb, cap) + be->sum(be, t->acc_ll, cap);
    (void)sums;
    return evae_now() - t0;
}

static int trainer_create(trainer *t, const bench_device *dev, const char *dataset,
                          const char *data_dir, int n)
{
    memset(t, 0, sizeof *t);
    evae_config_defaults(&t->cfg);
    t->comm = evae_comm_none();
    char ini[4096];
    snprintf(ini, sizeof ini, "%s/experiments/%s.ini", EVAE_SOURCE_DIR, dataset);
    if (evae_config_load(&t->cfg, ini)) return 1;
    t->cfg.device = dev->cuda ? EVAE_DEVICE_CUDA : EVAE_DEVICE_CPU;
    evae_dataset data;
    if (t->cfg.data.dataset == EVAE_DATA_MNIST) {
        char dir[4096];
        if (data_dir)
            snprintf(dir, sizeof dir, "%s", data_dir);
        else
            snprintf(dir, sizeof dir, "%s/data/mnist-10k", EVAE_SOURCE_DIR);
        if (mnist_tiled(dir, n, &data)) return 1;
    } else {
        cifar_generated(n, &data);
    }
    evae_model_shape shape =
        evae_shape_from_config(&t->cfg, data.channels, data.height, data.width);
    if (evae_model_create(&t->m, dev->be, &shape)) return 1;
    evae_model_init(&t->m, (uint64_t)t->cfg.train.seed);
    const evae_backend *be = dev->be;
    t->n = n;
    t->cap = t->cfg.train.batch < n ? t->cfg.train.batch : n;
    t->steps = (n + t->cap - 1) / t->cap;
    t->train_dev = evae_upload_dataset(be, &data, t->m.decoder == EVAE_DEC_BERNOULLI);
    evae_dataset_free(&data);
    evae_workspace_create(&t->w, &t->m, t->cap, t->cfg.ssm.projections);
    evae_prior_fit_create(&t->fit, &t->m, &t->cfg, t->cap);
    evae_prior_fit_start(&t->fit, &t->m, (uint64_t)t->cfg.train.seed);
    t->perm = evae_xcalloc((size_t)n, sizeof(int));
    t->idx_dev = be->alloc(be, (size_t)n * sizeof(int));
    t->acc_alb = be->alloc(be, (size_t)t->cap * sizeof(float));
    t->acc_ll = be->alloc(be, (size_t)t->cap * sizeof(float));
    t->acc_J = be->alloc(be, (size_t)t->cap * sizeof(float));
    return 0;
}

static void trainer_free(trainer *t)
{
    const evae_backend *be = t->m.be;
    be->free(be, t->train_dev);
    be->free(be, t->idx_dev);
    be->free(be, t->acc_alb);
    be->free(be, t->acc_ll);
    be->free(be, t->acc_J);
    free(t->perm);
    evae_workspace_free(&t->w, &t->m);
    evae_prior_fit_free(&t->fit);
    evae_model_free(&t->m);
    evae_comm_finalize(t->comm);
}

/* ------------------------------------------------------------------------------------------ */
/* reports */

static void shape_text(const prof_shape *s, char *out, size_t cap)
{
    if (s->op == P_gemm)
        snprintf(out, cap, "%c%c m=%d n=%d k=%d", s->key[0] ? 'T' : 'N', s->key[1] ? 'T' : 'N',
                 s->key[2], s->key[3], s->key[4]);
    else
        snprintf(out, cap, "N=%d C=%d %dx%d K=%d %dx%d/%d", s->key[0], s->key[1], s->key[2],
                 s->key[3], s->key[4], s->key[5], s->key[5], s->key[6]);
}

static int cmp_shape_time(const void *a, const void *b)
{
    double x = ((const prof_shape *)a)->seconds, y = ((const prof_shape *)b)->seconds;
    return (x < y) - (x > y);
}

/* One step of the trainer's code on batch [0, B) of a fresh model, written as safetensors for
 * bench/pytorch/check_match.py: the parameters, the model input, the noise (eps, v), and what
 * evae computed from them (ALB and SSM per example, both gradients), so the PyTorch model can be
 * checked against evae on identical numbers. */
typedef struct dump_item {
    const char *name;
    const float *dev; /* backend memory */
    int ndim;
    int64_t shape[3];
} dump_item;

static int dump_step(trainer *t, int B, const char *path)
{
    evae_model *m = &t->m;
    evae_workspace *w = &t->w;
    const evae_backend *be = m->be;
    const evae_config *cfg = &t->cfg;
    const uint64_t seed = (uint64_t)cfg->train.seed;
    const int d = m->d, D = m->x_dim, M = w->projections;
    if (B > t->cap) B = t->cap;
    /* GRBM parameters away from their initialization (W = 0.01 N(0,1), the rest 0), where the
     * coupling terms of the energy and of the score matching loss would be too small to notice
     * a difference in them */
    float *th = evae_xcalloc(m->n_theta, sizeof(float)); /* [n_theta] host */
    for (size_t i = 0; i < m->n_theta; i++) {
        float g = evae_normal_at(seed, 12345, i);
        th[i] = i < 2 * (size_t)d ? 0.3f * g : (i < 2 * (size_t)d + (size_t)d * m->n ? 0.2f * g : 0.5f * g);
    }
    be->upload(be, m->theta, th, m->n_theta * sizeof(float));
    free(th);
    for (int i = 0; i < B; i++) t->perm[i] = i;
    be->upload(be, t->idx_dev, t->perm, (size_t)B * sizeof(int));
    be->gather_rows(be, w->p, t->train_dev, t->idx_dev, B, D);
    evae_prepare_input(m, w, evae_share_whole(B), seed, evae_stream(EVAE_STREAM_BINARIZE, 0));
    float scale = m->laplace_scale;
    evae_alb_forward(m, w, B, seed, evae_stream(EVAE_STREAM_REPARAM, 0),
                     m->decoder == EVAE_DEC_LAPLACE ? &scale : NULL);
    evae_alb_backward(m, w, evae_share_whole(B));
    evae_ssm_step(m, w, evae_share_whole(B), cfg->ssm.distribution == EVAE_PROJECTION_RADEMACHER,
                  cfg->ssm.variance_reduced, seed, evae_stream(EVAE_STREAM_PROJECTIONS, 0));
    dump_item items[] = {
        {"params", m->params, 1, {(int64_t)m->n_params}},
        {"theta", m->theta, 1, {(int64_t)m->n_theta}},
        {"x", evae_ws_x(w), 2, {B, D}},
        {"eps", w->eps, 2, {B, d}},
        {"v", w->v, 3, {B, M, d}},
        {"z", evae_ws_z(w), 2, {B, d}},
        {"ll", w->ll, 1, {B}},
        {"E", w->E, 1, {B}},
        {"alb", w->alb, 1, {B}},
        {"J", w->J, 1, {B}},
        {"grads", m->grads, 1, {(int64_t)m->n_params}},
        {"theta_grad", m->theta_grad, 1, {(int64_t)m->n_theta}},
    };
    enum { N_ITEMS = sizeof items / sizeof *items };
    evae_st_tensor ts[N_ITEMS];
    float *host[N_ITEMS];
    for (int i = 0; i < N_ITEMS; i++) {
        size_t count = 1;
        for (int k = 0; k < items[i].ndim; k++) count *= (size_t)items[i].shape[k];
        host[i] = evae_xcalloc(count, sizeof(float));
        be->download(be, host[i], items[i].dev, count * sizeof(float));
        memset(&ts[i], 0, sizeof ts[i]);
        snprintf(ts[i].name, sizeof ts[i].name, "%s", items[i].name);
        snprintf(ts[i].dtype, sizeof ts[i].dtype, "F32");
        ts[i].ndim = items[i].ndim;
        memcpy(ts[i].shape, items[i].shape, sizeof ts[i].shape);
        ts[i].data = host[i];
        ts[i].nbytes = count * sizeof(float);
    }
    char scale_text[64], vr_text[8];
    snprintf(scale_text, sizeof scale_text, "%.9g", scale);
    snprintf(vr_text, sizeof vr_text, "%d", cfg->ssm.variance_reduced);
    const char *keys[] = {"dataset", "laplace_scale", "variance_reduced", "distribution"};
    const char *vals[] = {evae_data_set_name(cfg->data.dataset), scale_text, vr_text,
                          evae_projection_name(cfg->ssm.distribution)};
    int rc = evae_st_write(path, ts, N_ITEMS, keys, vals, 4);
    for (int i = 0; i < N_ITEMS; i++) free(host[i]);
    if (!rc) printf("wrote %s: one step of %d examples\n", path, B);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_epoch --dataset mnist|cifar10 [--device cpu|cuda|auto] "
               "[--examples N] [--epochs E] [--warmup-steps S] [--profile-steps P] "
               "[--data DIR] [--json FILE] [--md FILE]\n"
               "       bench_epoch --dataset D --dump-step FILE [--dump-batch B] [--device ...]\n"
               "         (one step's inputs, noise and results for bench/pytorch/check_match.py)\n");
}

int main(int argc, char **argv)
{
    evae_cpu_select(argv); /* as evae does: the benchmarks time what it runs */
    const char *device = "auto", *dataset = NULL, *data_dir = NULL;
    const char *json_path = NULL, *md_path = NULL, *dump_path = NULL;
    long dump_batch = 64;
    long examples = 0, epochs = 0, warmup = -1, profile_steps = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            evae_error("%s: missing value", a);
            usage(stderr);
            return 1;
        }
        i++;
        int bad = 0;
        if (strcmp(a, "--device") == 0) device = v;
        else if (strcmp(a, "--dataset") == 0) dataset = v;
        else if (strcmp(a, "--data") == 0) data_dir = v;
        else if (strcmp(a, "--json") == 0) json_path = v;
        else if (strcmp(a, "--md") == 0) md_path = v;
        else if (strcmp(a, "--dump-step") == 0) dump_path = v;
        else if (strcmp(a, "--dump-batch") == 0) bad = bench_parse_int(a, v, 1, 100000, &dump_batch);
        else if (strcmp(a, "--examples") == 0) bad = bench_parse_int(a, v, 1, 10000000, &examples);
        else if (strcmp(a, "--epochs") == 0) bad = bench_parse_int(a, v, 1, 1000, &epochs);
        else if (strcmp(a, "--warmup-steps") == 0) bad = bench_parse_int(a, v, 0, 100000, &warmup);
        else if (strcmp(a, "--profile-steps") == 0)
            bad = bench_parse_int(a, v, 0, 100000, &profile_steps);
        else {
            evae_error("unknown option %s", a);
            usage(stderr);
            return 1;
        }
        if (bad) return 1;
    }
    /* checked as the config key data.dataset is */
    evae_config probe;
    evae_config_defaults(&probe);
    char kv[64];
    snprintf(kv, sizeof kv, "data.dataset=%s", dataset ? dataset : "");
    if (!dataset || evae_config_set(&probe, kv)) {
        if (!dataset) evae_error("--dataset is required (mnist or cifar10)");
        usage(stderr);
        return 1;
    }
    const int mnist = probe.data.dataset == EVAE_DATA_MNIST;
    bench_device dev;
    if (bench_device_open(device, &dev)) return 1;
    if (examples == 0) examples = mnist ? 60000 : 50000;
    if (epochs == 0) epochs = dev.cuda ? 5 : 1;
    if (warmup < 0) warmup = dev.cuda ? 20 : 3;
    if (profile_steps < 0) profile_steps = dev.cuda ? 50 : 20;
    if (dump_path) {
        trainer t;
        int rc = trainer_create(&t, &dev, dataset, data_dir, (int)(examples < 4096 ? examples : 4096));
        if (!rc) rc = dump_step(&t, (int)dump_batch, dump_path);
        if (!rc) trainer_free(&t);
        bench_device_close(&dev);
        return rc;
    }

    bench_machine mach;
    bench_measure_machine(&dev, &mach);
    bench_machine_print(stdout, &dev, &mach, 0);

    trainer t;
    if (trainer_create(&t, &dev, dataset, data_dir, (int)examples)) return 1;
    const int M = t.cfg.ssm.projections;
    double flops = 0.0;
    for (int s = 0; s < t.steps; s++) {
        int B = t.n - s * t.cap < t.cap ? t.n - s * t.cap : t.cap;
        flops += step_flops(&t.m, B, M);
    }
    printf("%s: %d examples, batch %d, %d steps/epoch, %zu + %zu parameters, %.1f GFLOP/epoch "
           "in products\n",
           dataset, t.n, t.cap, t.steps, t.m.n_params, t.m.n_theta, flops * 1e-9);

    /* warm-up: the first steps allocate, fault pages in, pick cuBLAS/cuDNN algorithms */
    if (warmup > 0) run_epoch(&t, 1000, (int)warmup);
    double *times = evae_xcalloc((size_t)epochs, sizeof(double));
    double *cpu_times = evae_xcalloc((size_t)epochs, sizeof(double));
    for (int e = 0; e < epochs; e++) {
        double c0 = bench_cpu_seconds();
        times[e] = run_epoch(&t, e, 0);
        cpu_times[e] = bench_cpu_seconds() - c0;
        printf("epoch %d: %.3f s, %.0f examples/s (%.3f CPU s)\n", e + 1, times[e],
               t.n / times[e], cpu_times[e]);
        fflush(stdout);
    }
    double *sorted = evae_xcalloc((size_t)epochs, sizeof(double));
    memcpy(sorted, times, sizeof(double) * (size_t)epochs);
    qsort(sorted, (size_t)epochs, sizeof(double), bench_cmp_double);
    double epoch_s = epochs % 2 ? sorted[epochs / 2]
                                : 0.5 * (sorted[epochs / 2 - 1] + sorted[epochs / 2]);
    double floor_s = flops / (mach.gemm_gflops * 1e9);
    /* the same ratio in CPU seconds (the host's work; on a GPU this is the launching thread) */
    qsort(cpu_times, (size_t)epochs, sizeof(double), bench_cmp_double);
    double epoch_cpu_s = epochs % 2 ? cpu_times[epochs / 2]
                                    : 0.5 * (cpu_times[epochs / 2 - 1] + cpu_times[epochs / 2]);
    double floor_cpu_s = dev.cuda ? 0.0 : flops / (mach.gemm_gflops_cpu * 1e9);
    printf("epoch (median of %ld): %.3f s = %.0f examples/s; floor %.3f s (%.1f GFLOP at %.1f "
           "GFLOP/s): %.2fx the floor\n",
           epochs, epoch_s, t.n / epoch_s, floor_s, flops * 1e-9, mach.gemm_gflops,
           epoch_s / floor_s);
    if (!dev.cuda)
        printf("in CPU seconds: epoch %.3f, floor %.3f (%.1f GFLOP per CPU second): %.2fx\n",
               epoch_cpu_s, floor_cpu_s, mach.gemm_gflops_cpu, epoch_cpu_s / floor_cpu_s);

    /* profile pass: the same steps through the timed backend */
    int psteps = (int)(profile_steps < t.steps ? profile_steps : t.steps);
    double prof_wall = 0.0, step_scale = 0.0;
    prof_state *prof = prof_create(t.m.be, dev.cuda);
    if (psteps > 0) {
        const evae_backend *real = t.m.be;
        t.m.be = &prof->table;
        prof_wall = run_epoch(&t, 2000, psteps);
        t.m.be = real;
        step_scale = (double)t.steps / psteps; /* per profiled step -> per epoch */
    }

    /* ---- JSON ---- */
    cJSON *root = cJSON_CreateObject();
    bench_machine_json(root, &dev, &mach);
    cJSON *o = cJSON_AddObjectToObject(root, "epoch");
    cJSON_AddStringToObject(o, "dataset", dataset);
    cJSON_AddStringToObject(o, "data", mnist ? "bundled digits tiled" : "generated pixels");
    cJSON_AddNumberToObject(o, "examples", t.n);
    cJSON_AddNumberToObject(o, "batch", t.cap);
    cJSON_AddNumberToObject(o, "steps", t.steps);
    cJSON_AddNumberToObject(o, "params", (double)t.m.n_params);
    cJSON_AddNumberToObject(o, "prior_params", (double)t.m.n_theta);
    cJSON_AddNumberToObject(o, "epochs_timed", (double)epochs);
    cJSON_AddNumberToObject(o, "warmup_steps", (double)warmup);
    cJSON *ts = cJSON_AddArrayToObject(o, "epoch_s_all");
    for (int e = 0; e < epochs; e++) cJSON_AddItemToArray(ts, cJSON_CreateNumber(times[e]));
    cJSON_AddNumberToObject(o, "epoch_s", epoch_s);
    cJSON_AddNumberToObject(o, "ms_per_epoch", epoch_s * 1e3);
    cJSON_AddNumberToObject(o, "examples_per_s", t.n / epoch_s);
    cJSON_AddNumberToObject(o, "product_flops", flops);
    cJSON_AddNumberToObject(o, "floor_s", floor_s);
    cJSON_AddNumberToObject(o, "x_floor", epoch_s / floor_s);
    if (!dev.cuda) {
        cJSON_AddNumberToObject(o, "epoch_cpu_s", epoch_cpu_s);
        cJSON_AddNumberToObject(o, "floor_cpu_s", floor_cpu_s);
        cJSON_AddNumberToObject(o, "x_floor_cpu", epoch_cpu_s / floor_cpu_s);
    }

    double prof_total = 0.0, prod_s = 0.0, prod_flops = 0.0;
    cJSON *pj = cJSON_AddObjectToObject(root, "profile");
    cJSON_AddNumberToObject(pj, "steps", psteps);
    cJSON_AddBoolToObject(pj, "synchronized_per_op", dev.cuda);
    cJSON_AddNumberToObject(pj, "wall_s_per_epoch", prof_wall * step_scale);
    cJSON *ops = cJSON_AddArrayToObject(pj, "ops");
    int order[P_COUNT];
    for (int i = 0; i < P_COUNT; i++) order[i] = i;
    for (int i = 0; i < P_COUNT; i++) /* by time, descending (insertion sort, 29 entries) */
        for (int j = i; j > 0 && prof->seconds[order[j]] > prof->seconds[order[j - 1]]; j--) {
            int x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
    for (int i = 0; i < P_COUNT; i++) {
        int op = order[i];
        if (!prof->calls[op]) continue;
        prof_total += prof->seconds[op];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "op", prof_op_names[op]);
        cJSON_AddNumberToObject(e, "calls_per_step", (double)prof->calls[op] / psteps);
        cJSON_AddNumberToObject(e, "s_per_epoch", prof->seconds[op] * step_scale);
        cJSON_AddItemToArray(ops, e);
    }
    qsort(prof->shapes, (size_t)prof->n_shapes, sizeof(prof_shape), cmp_shape_time);
    cJSON *shp = cJSON_AddArrayToObject(pj, "products");
    for (int i = 0; i < prof->n_shapes; i++) {
        const prof_shape *s = &prof->shapes[i];
        char text[96];
        shape_text(s, text, sizeof text);
        prod_s += s->seconds;
        prod_flops += s->flops;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "op", prof_op_names[s->op]);
        cJSON_AddStringToObject(e, "shape", text);
        cJSON_AddNumberToObject(e, "calls_per_step", (double)s->calls / psteps);
        cJSON_AddNumberToObject(e, "s_per_epoch", s->seconds * step_scale);
        cJSON_AddNumberToObject(e, "gflops", s->flops / s->seconds * 1e-9);
        cJSON_AddItemToArray(shp, e);
    }
    /* products through the backend's gemm and conv ops; the GRBM ops run theirs inside */
    cJSON_AddNumberToObject(pj, "products_s_per_epoch", prod_s * step_scale);
    cJSON_AddNumberToObject(pj, "products_gflops", prod_s > 0 ? prod_flops / prod_s * 1e-9 : 0.0);
    cJSON_AddNumberToObject(pj, "ops_s_per_epoch", prof_total * step_scale);

    /* ---- text ---- */
    if (psteps > 0) {
        printf("\nprofile over %d steps, scaled to one epoch of %d steps%s:\n", psteps, t.steps,
               dev.cuda ? " (synchronized after every op)" : "");
        printf("  %-22s %10s %12s %7s\n", "op", "calls/step", "s/epoch", "share");
        for (int i = 0; i < P_COUNT; i++) {
            int op = order[i];
            if (!prof->calls[op]) continue;
            printf("  %-22s %10.1f %12.4f %6.1f%%\n", prof_op_names[op],
                   (double)prof->calls[op] / psteps, prof->seconds[op] * step_scale,
                   100.0 * prof->seconds[op] / prof_wall);
        }
        printf("  %-22s %10s %12.4f %6.1f%%\n", "(outside the ops)", "",
               (prof_wall - prof_total) * step_scale,
               100.0 * (prof_wall - prof_total) / prof_wall);
        printf("  products via gemm/conv ops: %.3f s/epoch at %.1f GFLOP/s (%.0f%% of the "
               "measured peak)\n",
               prod_s * step_scale, prod_flops / prod_s * 1e-9,
               100.0 * prod_flops / prod_s * 1e-9 / mach.gemm_gflops);
        for (int i = 0; i < prof->n_shapes && i < 12; i++) {
            const prof_shape *s = &prof->shapes[i];
            char text[96];
            shape_text(s, text, sizeof text);
            printf("  %-22s %-34s %8.4f s/epoch %7.1f GFLOP/s\n", prof_op_names[s->op], text,
                   s->seconds * step_scale, s->flops / s->seconds * 1e-9);
        }
    }

    /* ---- markdown ---- */
    FILE *md = NULL;
    int rc = bench_open_out(md_path, &md);
    if (md) {
        fprintf(md, "### Epoch: %s on %s\n\n", mnist ? "MNIST" : "CIFAR-10", dev.be->name);
        bench_machine_print(md, &dev, &mach, 1);
        fprintf(md, "%d %s examples, batch %d, %d steps per epoch; median of %ld epoch%s after "
                    "%ld warm-up steps.\n\n",
                t.n, mnist ? "MNIST (bundled digits tiled)" : "CIFAR-10-shaped (generated)", t.cap,
                t.steps, epochs, epochs > 1 ? "s" : "", warmup);
        fprintf(md, "| device | examples/s | ms/epoch | product GFLOP/epoch | floor ms | x floor "
                    "|\n|---|---:|---:|---:|---:|---:|\n");
        fprintf(md, "| %s | %.0f | %.1f | %.1f | %.1f | %.2f |\n\n", dev.be->name, t.n / epoch_s,
                epoch_s * 1e3, flops * 1e-9, floor_s * 1e3, epoch_s / floor_s);
        if (!dev.cuda)
            fprintf(md, "In CPU seconds of the process (robust to other work on a shared "
                        "machine): epoch %.2f s, floor %.2f s at %.1f GFLOP per CPU second: "
                        "%.2fx.\n\n",
                    epoch_cpu_s, floor_cpu_s, mach.gemm_gflops_cpu, epoch_cpu_s / floor_cpu_s);
        if (psteps > 0) {
            fprintf(md, "Where the time goes (%d steps through a timed backend%s, scaled to one "
                        "epoch):\n\n",
                    psteps, dev.cuda ? ", synchronized after every op" : "");
            fprintf(md, "| op | calls/step | ms/epoch | share |\n|---|---:|---:|---:|\n");
            for (int i = 0; i < P_COUNT; i++) {
                int op = order[i];
                if (!prof->calls[op]) continue;
                fprintf(md, "| %s | %.1f | %.1f | %.1f%% |\n", prof_op_names[op],
                        (double)prof->calls[op] / psteps, prof->seconds[op] * step_scale * 1e3,
                        100.0 * prof->seconds[op] / prof_wall);
            }
            fprintf(md, "| (outside the ops) | | %.1f | %.1f%% |\n\n",
                    (prof_wall - prof_total) * step_scale * 1e3,
                    100.0 * (prof_wall - prof_total) / prof_wall);
            fprintf(md, "Products through the gemm and conv ops: %.1f ms/epoch at %.1f GFLOP/s "
                        "(%.0f%% of the measured sgemm peak). By shape:\n\n",
                    prod_s * step_scale * 1e3, prod_flops / prod_s * 1e-9,
                    100.0 * prod_flops / prod_s * 1e-9 / mach.gemm_gflops);
            fprintf(md, "| op | shape | calls/step | ms/epoch | GFLOP/s |\n"
                        "|---|---|---:|---:|---:|\n");
            for (int i = 0; i < prof->n_shapes; i++) {
                const prof_shape *s = &prof->shapes[i];
                char text[96];
                shape_text(s, text, sizeof text);
                fprintf(md, "| %s | %s | %.1f | %.1f | %.1f |\n", prof_op_names[s->op], text,
                        (double)s->calls / psteps, s->seconds * step_scale * 1e3,
                        s->flops / s->seconds * 1e-9);
            }
            fprintf(md, "\n");
        }
        if (fclose(md) != 0) {
            evae_error("%s: cannot write", md_path);
            rc = 1;
        }
    }
    if (json_path) rc |= evae_atomic_write_json(json_path, root);
    cJSON_Delete(root);
    free(times);
    free(prof);
    free(cpu_times);
    free(sorted);
    trainer_free(&t);
    bench_device_close(&dev);
    return rc;
}
