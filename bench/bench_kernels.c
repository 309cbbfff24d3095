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
 * CIFAR-10 layers: forward, backward-data, backward-filter). Every op but AIS runs on input sets
 * rotated through more memory than the last-level cache (AIS allocates its own chains). */
#define _DEFAULT_SOURCE /* POSIX.1-2008 under -std=c11 */
#include "bench_common.h"

#include "evae/eval/ais.h"
#include "evae/math/grbm.h"
#include "evae/model/grbm_init.h"
#include "evae/model/model.h"
#include "evae/math/philox.h"

/* ------------------------------------------------------------------------------------------ */
/* one benchmark case: its operands (rotated), sizes, and the call */

typedef struct kcase {
    const evae_backend *be;
    bench_arena a;
    int ib[BENCH_MAX_BUFS];   /* arena buffer index of each operand, per op */
    int B, d, n, M, D, rows, cols, steps, trans_a, trans_b, m_, n_, k_;
    int which;                /* conv: which of the three products */
    size_t count;
    evae_conv_shape cs;
    const float *table;       /* gather_rows: the data set, not rotated (as in training) */
    uint64_t ctr;             /* advances the random stream from call to call */
    evae_ais_opts ais;
    float *theta_fixed;       /* AIS: parameters, not rotated */
} kcase;

#define BUF(k, set, i) ((float *)bench_buf(&(k)->a, (set), (k)->ib[i]))

typedef struct run_opts {
    const bench_device *dev;
    const bench_machine *mach;
    bench_budget bud;
    FILE *md;
    cJSON *results;
    int count;
} run_opts;

/* Runs one case and records it. */
static void measure(run_opts *o, kcase *k, bench_fn fn, const char *group, const char *name,
                    const char *shape, double flops, double bytes)
{
    bench_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.group, sizeof r.group, "%s", group);
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.shape, sizeof r.shape, "%s", shape);
    r.flops = flops;
    r.bytes = bytes;
    r.sets = k->a.base ? k->a.sets : 1;
    r.t = bench_run(o->dev, fn, k, r.sets, &o->bud);
    bench_result_print(stdout, &r, o->mach, 0);
    if (o->md) bench_result_print(o->md, &r, o->mach, 1);
    cJSON_AddItemToArray(o->results, bench_result_json(&r, o->mach));
    o->count++;
}

static void fill_normal(kcase *k, int op, float scale)
{
    size_t n = k->a.len[k->ib[op]] / sizeof(float);
    float *p = BUF(k, 0, op);
    k->be->rand_normal(k->be, p, n, 11, (uint64_t)op);
    if (scale != 1.0f) {
        float *zero = k->be->alloc(k->be, n * sizeof(float));
        k->be->axpy(k->be, zero, p, n, scale);
        k->be->copy(k->be, p, zero, n * sizeof(float));
        k->be->free(k->be, zero);
    }
}

static void fill_uniform(kcase *k, int op)
{
    size_t n = k->a.len[k->ib[op]] / sizeof(float);
    k->be->rand_uniform(k->be, BUF(k, 0, op), n, 12, (uint64_t)op);
}

static void fill_host(kcase *k, int op, const void *host) { bench_upload(&k->a, k->ib[op], host); }

static void fill_theta(kcase *k, int op, int d, int n)
{
    float *t = evae_xcalloc(evae_grbm_size(d, n), sizeof(float));
    evae_grbm_init(t, d, n, 3);
    /* a coupling strong enough that the hidden units are not all at sigmoid(0) */
    for (size_t i = 0; i < (size_t)d * n; i++) t[evae_grbm_W(d, n) + i] *= 10.0f;
    fill_host(k, op, t);
    free(t);
}

static void kcase_begin(kcase *k, const evae_backend *be)
{
    memset(k, 0, sizeof *k);
    k->be = be;
    bench_arena_begin(&k->a, be);
}

/* declares operand op of `floats` floats */
static void operand(kcase *k, int op, size_t floats) { k->ib[op] = bench_arena_add(&k->a, floats * sizeof(float)); }

static void kcase_end(kcase *k) { bench_arena_free(&k->a); }

/* ------------------------------------------------------------------------------------------ */
/* GRBM */

enum { G_THETA, G_Z, G_E, G_DEDZ, G_V, G_J, G_GRAD };

static void call_energy(void *p, int s)
{
    kcase *k = p;
    k->be->grbm_energy(k->be, BUF(k, s, G_THETA), k->d, k->n, 1.0f, BUF(k, s, G_Z), k->B,
                       BUF(k, s, G_E),
                       BUF(k, s, G_DEDZ));
}

static void call_ssm(void *p, int s)
{
    kcase *k = p;
    k->be->grbm_ssm(k->be, BUF(k, s, G_THETA), k->d, k->n, BUF(k, s, G_Z), k->B, BUF(k, s, G_V),
                    k->M, 1,
                    BUF(k, s, G_J), BUF(k, s, G_GRAD));
}

static void call_langevin(void *p, int s)
{
    kcase *k = p;
    k->be->grbm_langevin(k->be, BUF(k, s, G_THETA), k->d, k->n, BUF(k, s, G_Z), k->B, k->steps,
                         1e-3f, 5,
                         k->ctr++);
}

static void call_gibbs(void *p, int s)
{
    kcase *k = p;
    k->be->grbm_gibbs(k->be, BUF(k, s, G_THETA), k->d, k->n, BUF(k, s, G_Z), k->B, k->steps, 1.0f,
                      5,
                      k->ctr++);
}

static void call_ais(void *p, int s)
{
    (void)s;
    kcase *k = p;
    evae_ais_result r;
    k->ais.seed = 1 + k->ctr++;
    if (evae_ais_log_z(k->be, k->theta_fixed, k->d, k->n, &k->ais, &r)) abort();
}

static void bench_grbm(run_opts *o, int B, int d, int n, const char *tag)
{
    const evae_backend *be = o->dev->be;
    const double T = (double)evae_grbm_size(d, n), Bd = (double)B * d, Bn = (double)B * n;
    const double dn = (double)d * n;
    char shape[96];
    kcase k;

    /* energy and dE/dz: a = (z/sigma^2) W + b, p W^T, per-element terms */
    kcase_begin(&k, be);
    k.B = B, k.d = d, k.n = n;
    operand(&k, G_THETA, (size_t)T);
    operand(&k, G_Z, (size_t)Bd);
    operand(&k, G_E, (size_t)B);
    operand(&k, G_DEDZ, (size_t)Bd);
    bench_arena_alloc(&k.a, o->dev);
    fill_theta(&k, G_THETA, d, n);
    fill_normal(&k, G_Z, 1.0f);
    bench_arena_replicate(&k.a);
    snprintf(shape, sizeof shape, "%s B=%d d=%d n=%d", tag, B, d, n);
    measure(o, &k, call_energy, "grbm", "grbm_energy (E, dE/dz)", shape,
            4.0 * B * dn + 8.0 * Bn + 7.0 * Bd, 4.0 * (T + 2.0 * Bd + B));
    kcase_end(&k);

    /* sliced score matching, variance-reduced, M = 1: nine products of B(M) x d x n */
    const int M = 1;
    kcase_begin(&k, be);
    k.B = B, k.d = d, k.n = n, k.M = M;
    operand(&k, G_THETA, (size_t)T);
    operand(&k, G_Z, (size_t)Bd);
    operand(&k, G_V, (size_t)Bd * M);
    operand(&k, G_J, (size_t)B);
    operand(&k, G_GRAD, (size_t)T);
    bench_arena_alloc(&k.a, o->dev);
    fill_theta(&k, G_THETA, d, n);
    fill_normal(&k, G_Z, 1.0f);
    fill_normal(&k, G_V, 1.0f);
    bench_arena_replicate(&k.a);
    snprintf(shape, sizeof shape, "%s B=%d d=%d n=%d M=%d", tag, B, d, n, M);
    measure(o, &k, call_ssm, "grbm", "grbm_ssm (J, dJ/dtheta)", shape,
            2.0 * dn * (6.0 * B + 3.0 * B * M) + 20.0 * Bn + 15.0 * Bd + 14.0 * Bd * M,
            4.0 * (2.0 * T + Bd + Bd * M + B));
    kcase_end(&k);

    /* chains: in place on z, 10 steps per call */
    const int steps = 10;
    kcase_begin(&k, be);
    k.B = B, k.d = d, k.n = n, k.steps = steps;
    operand(&k, G_THETA, (size_t)T);
    operand(&k, G_Z, (size_t)Bd);
    bench_arena_alloc(&k.a, o->dev);
    fill_theta(&k, G_THETA, d, n);
    fill_normal(&k, G_Z, 1.0f);
    bench_arena_replicate(&k.a);
    snprintf(shape, sizeof shape, "%s B=%d d=%d n=%d steps=%d", tag, B, d, n, steps);
    measure(o, &k, call_langevin, "grbm", "grbm_langevin", shape,
            steps * (4.0 * B * dn + 8.0 * Bn + 10.0 * Bd), 4.0 * (T + 2.0 * Bd));
    measure(o, &k, call_gibbs, "grbm", "grbm_gibbs", shape,
            steps * (4.0 * B * dn + 6.0 * Bn + 6.0 * Bd), 4.0 * (T + 2.0 * Bd));
    kcase_end(&k);

    /* AIS: C chains, K temperatures, one Gibbs sweep each; two energies per temperature and a
     * download of each (the estimator accumulates weights on the host) */
    kcase_begin(&k, be);
    k.d = d, k.n = n;
    k.ais = evae_ais_default_opts();
    k.ais.chains = B;
    k.ais.temperatures = o->dev->cuda ? 100 : 20; /* the CPU: a time per call under a second */
    k.ais.runs = 1;
    k.theta_fixed = be->alloc(be, (size_t)T * sizeof(float));
    {
        float *t = evae_xcalloc((size_t)T, sizeof(float));
        evae_grbm_init(t, d, n, 3);
        be->upload(be, k.theta_fixed, t, (size_t)T * sizeof(float));
        free(t);
    }
    const double K = k.ais.temperatures, C = B;
    snprintf(shape, sizeof shape, "%s chains=%d d=%d n=%d K=%d", tag, B, d, n, (int)K);
    measure(o, &k, call_ais, "grbm", "ais_log_z", shape,
            C * dn * (4.0 + 4.0 * K + 4.0 * (K - 1)), 4.0 * (T + C * d + 2.0 * K * C));
    be->free(be, k.theta_fixed);
    kcase_end(&k);
}

/* ------------------------------------------------------------------------------------------ */
/* elementwise */

enum { E0, E1, E2, E3, E4 };

static void call_gather(void *p, int s)
{
    kcase *k = p;
    k->be->gather_rows(k->be, BUF(k, s, E0), k->table, (const int *)BUF(k, s, E1), k->B, k->D);
}
static void call_rand_uniform(void *p, int s)
{
    kcase *k = p;
    k->be->rand_uniform(k->be, BUF(k, s, E0), k->count, 7, k->ctr++);
}
static void call_rand_normal(void *p, int s)
{
    kcase *k = p;
    k->be->rand_normal(k->be, BUF(k, s, E0), k->count, 7, k->ctr++);
}
static void call_binarize(void *p, int s)
{
    kcase *k = p;
    k->be->binarize(k->be, BUF(k, s, E0), BUF(k, s, E1), BUF(k, s, E2), k->count);
}
static void call_logit(void *p, int s)
{
    kcase *k = p;
    k->be->logit_dequantize(k->be, BUF(k, s, E0), BUF(k, s, E1), BUF(k, s, E2), k->count, 0.05f);
}
static void call_reparam(void *p, int s)
{
    kcase *k = p;
    k->be->reparam(k->be, BUF(k, s, E0), BUF(k, s, E1), BUF(k, s, E2), k->B, k->d);
}
static void call_bernoulli(void *p, int s)
{
    kcase *k = p;
    k->be->bernoulli_ll(k->be, BUF(k, s, E0), BUF(k, s, E1), BUF(k, s, E2), BUF(k, s, E3), k->B,
                        k->D,
                        -1.0f / (float)k->B);
}
static void call_gauss(void *p, int s)
{
    kcase *k = p;
    k->be->gauss_posterior(k->be, BUF(k, s, E0), BUF(k, s, E1), BUF(k, s, E2), BUF(k, s, E3),
                           BUF(k, s, E4), k->B, k->d, -1.0f / (float)k->B);
}
static void call_laplace(void *p, int s)
{
    kcase *k = p;
    k->be->laplace_ll(k->be, BUF(k, s, E0), BUF(k, s, E1), BUF(k, s, E2), BUF(k, s, E3), k->B, k->D,
                      0.5f, -1.0f / (float)k->B);
}
static void call_bias_act(void *p, int s)
{
    kcase *k = p;
    k->be->bias_act(k->be, BUF(k, s, E0), BUF(k, s, E1), k->rows, k->cols, 1);
}
static void call_relu_bwd(void *p, int s)
{
    kcase *k = p;
    k->be->relu_backward(k->be, BUF(k, s, E0), BUF(k, s, E1), k->count);
}
static void call_col_sum(void *p, int s)
{
    kcase *k = p;
    k->be->col_sum(k->be, BUF(k, s, E0), BUF(k, s, E1), k->rows, k->cols, 0.0f);
}
static void call_ch_bias(void *p, int s)
{
    kcase *k = p;
    k->be->channel_bias_act(k->be, BUF(k, s, E0), BUF(k, s, E1), k->B, k->rows, k->cols, 1);
}
static void call_ch_sum(void *p, int s)
{
    kcase *k = p;
    k->be->channel_sum(k->be, BUF(k, s, E0), BUF(k, s, E1), k->B, k->rows, k->cols, 0.0f);
}
static void call_axpy(void *p, int s)
{
    kcase *k = p;
    k->be->axpy(k->be, BUF(k, s, E0), BUF(k, s, E1), k->count, 0.5f);
}
static void call_sum(void *p, int s)
{
    kcase *k = p;
    volatile double r = k->be->sum(k->be, BUF(k, s, E0), k->count);
    (void)r;
}

/* One elementwise case over `nops` operands of the given float counts; fills: 'n' normal,
 * 'u' uniform, '0' zero. */
static void elem_case(run_opts *o, bench_fn fn, const char *name, const char *shape, int nops,
                      const size_t *floats, const char *fills, kcase *k, double flops,
                      double bytes)
{
    for (int i = 0; i < nops; i++) operand(k, i, floats[i]);
    bench_arena_alloc(&k->a, o->dev);
    for (int i = 0; i < nops; i++) {
        if (fills[i] == 'n') fill_normal(k, i, 1.0f);
        if (fills[i] == 'u') fill_uniform(k, i);
    }
    bench_arena_replicate(&k->a);
    measure(o, k, fn, "elementwise", name, shape, flops, bytes);
    kcase_end(k);
}

/* MNIST-side ops (B examples, D pixels, H hidden, d latent) */
static void bench_elem_mnist(run_opts *o, int B, int D, int H, int d, int n_train,
                             const char *tag)
{
    const evae_backend *be = o->dev->be;
    char shape[96];
    kcase k;
    const size_t BD = (size_t)B * D, BH = (size_t)B * H, Bd = (size_t)B * d;

    /* gather_rows from a resident data set of n_train rows, random order */
    kcase_begin(&k, be);
    k.B = B, k.D = D;
    float *table = be->alloc(be, (size_t)n_train * D * sizeof(float));
    be->rand_uniform(be, table, (size_t)n_train * D, 1, 99);
    k.table = table;
    operand(&k, E0, BD);
    k.ib[E1] = bench_arena_add(&k.a, (size_t)B * sizeof(int));
    bench_arena_alloc(&k.a, o->dev);
    {
        int *idx = evae_xcalloc((size_t)B, sizeof(int));
        for (int s = 0; s < k.a.sets; s++) {
            for (int b = 0; b < B; b++)
                idx[b] = (int)(evae_uniform_at(5, (uint64_t)s, (uint64_t)b) * (float)n_train) %
                         n_train;
            be->upload(be, bench_buf(&k.a, s, k.ib[E1]), idx, (size_t)B * sizeof(int));
        }
        free(idx);
    }
    snprintf(shape, sizeof shape, "%s B=%d D=%d of %d rows", tag, B, D, n_train);
    measure(o, &k, call_gather, "elementwise", "gather_rows", shape, 0.0, 4.0 * (2.0 * BD + B));
    be->free(be, table);
    kcase_end(&k);

    kcase_begin(&k, be);
    k.count = BD;
    snprintf(shape, sizeof shape, "%s n=B*D=%zu", tag, BD);
    elem_case(o, call_rand_uniform, "rand_uniform", shape, 1, (size_t[]){BD}, "0", &k, 0.0,
              4.0 * BD);
    kcase_begin(&k, be);
    k.count = BD;
    elem_case(o, call_binarize, "binarize", shape, 3, (size_t[]){BD, BD, BD}, "0uu", &k,
              1.0 * BD, 12.0 * BD);
    kcase_begin(&k, be);
    k.count = Bd;
    snprintf(shape, sizeof shape, "%s n=B*d=%zu", tag, Bd);
    elem_case(o, call_rand_normal, "rand_normal", shape, 1, (size_t[]){Bd}, "0", &k, 0.0,
              4.0 * Bd);
    kcase_begin(&k, be);
    k.B = B, k.d = d;
    snprintf(shape, sizeof shape, "%s B=%d d=%d", tag, B, d);
    elem_case(o, call_reparam, "reparam", shape, 3, (size_t[]){Bd, 2 * Bd, Bd}, "0nn", &k,
              4.0 * Bd, 4.0 * 4.0 * Bd);
    kcase_begin(&k, be);
    k.B = B, k.d = d;
    elem_case(o, call_gauss, "gauss_posterior (ent, denc)", shape, 5,
              (size_t[]){(size_t)B, 2 * Bd, 2 * Bd, Bd, Bd}, "00nnn", &k, 10.0 * Bd,
              4.0 * (B + 6.0 * Bd));
    kcase_begin(&k, be);
    k.count = Bd;
    elem_case(o, call_axpy, "axpy", shape, 2, (size_t[]){Bd, Bd}, "nn", &k, 2.0 * Bd,
              12.0 * Bd);
    kcase_begin(&k, be);
    k.B = B, k.D = D;
    snprintf(shape, sizeof shape, "%s B=%d D=%d", tag, B, D);
    elem_case(o, call_bernoulli, "bernoulli_ll (ll, dlogits)", shape, 4,
              (size_t[]){(size_t)B, BD, BD, BD}, "00nu", &k, 12.0 * BD, 4.0 * (3.0 * BD + B));
    kcase_begin(&k, be);
    k.rows = B, k.cols = H;
    snprintf(shape, sizeof shape, "%s rows=%d cols=%d", tag, B, H);
    elem_case(o, call_bias_act, "bias_act (ReLU)", shape, 2, (size_t[]){BH, (size_t)H}, "nn",
              &k, 2.0 * BH, 4.0 * (2.0 * BH + H));
    kcase_begin(&k, be);
    k.rows = B, k.cols = H;
    elem_case(o, call_col_sum, "col_sum", shape, 2, (size_t[]){(size_t)H, BH}, "0n", &k,
              1.0 * BH, 4.0 * (BH + 2.0 * H));
    kcase_begin(&k, be);
    k.count = BH;
    snprintf(shape, sizeof shape, "%s n=B*H=%zu", tag, BH);
    elem_case(o, call_relu_bwd, "relu_backward", shape, 2, (size_t[]){BH, BH}, "nn", &k,
              1.0 * BH, 12.0 * BH);
    kcase_begin(&k, be);
    k.count = (size_t)B;
    snprintf(shape, sizeof shape, "%s n=B=%d", tag, B);
    elem_case(o, call_sum, "sum (to host)", shape, 1, (size_t[]){(size_t)B}, "n", &k, 1.0 * B,
              4.0 * B);
}

/* CIFAR-side ops (B images of 3x32x32, d latent) */
static void bench_elem_cifar(run_opts *o, int B, int d, const char *tag)
{
    const evae_backend *be = o->dev->be;
    char shape[96];
    kcase k;
    const int D = 3072;
    const size_t BD = (size_t)B * D;

    /* 8-bit pixel values as floats */
    kcase_begin(&k, be);
    k.count = BD;
    operand(&k, E0, BD);
    operand(&k, E1, BD);
    operand(&k, E2, BD);
    bench_arena_alloc(&k.a, o->dev);
    {
        float *px = evae_xcalloc(BD, sizeof(float));
        for (size_t i = 0; i < BD; i++) px[i] = (float)((i * 2654435761u) >> 24 & 255u);
        fill_host(&k, E1, px);
        free(px);
    }
    fill_uniform(&k, E2);
    bench_arena_replicate(&k.a);
    snprintf(shape, sizeof shape, "%s n=B*D=%zu", tag, BD);
    measure(o, &k, call_logit, "elementwise", "logit_dequantize", shape, 10.0 * BD, 12.0 * BD);
    kcase_end(&k);

    kcase_begin(&k, be);
    k.B = B, k.D = D;
    snprintf(shape, sizeof shape, "%s B=%d D=%d", tag, B, D);
    elem_case(o, call_laplace, "laplace_ll (ll, dmean)", shape, 4,
              (size_t[]){(size_t)B, BD, BD, BD}, "00nn", &k, 6.0 * BD, 4.0 * (3.0 * BD + B));

    /* the per-channel bias of the first convolution's output: 32 channels of 16x16 */
    const int C = 32, HW = 256;
    const size_t act = (size_t)B * C * HW;
    kcase_begin(&k, be);
    k.B = B, k.rows = C, k.cols = HW;
    snprintf(shape, sizeof shape, "%s N=%d C=%d HW=%d", tag, B, C, HW);
    elem_case(o, call_ch_bias, "channel_bias_act (ReLU)", shape, 2, (size_t[]){act, (size_t)C},
              "nn", &k, 2.0 * act, 4.0 * 2.0 * act);
    kcase_begin(&k, be);
    k.B = B, k.rows = C, k.cols = HW;
    elem_case(o, call_ch_sum, "channel_sum", shape, 2, (size_t[]){(size_t)C, act}, "0n", &k,
              1.0 * act, 4.0 * act);
    (void)d;
}

/* ------------------------------------------------------------------------------------------ */
/* Adam over a model's parameters */

static void call_adam(void *p, int s)
{
    kcase *k = p;
    k->be->adam(k->be, BUF(k, s, E0), BUF(k, s, E1), BUF(k, s, E2), BUF(k, s, E3), k->count, 1e-3f,
                0.9f,
                0.999f, 1e-8f, 10 + (long)(k->ctr++ % 1000));
}

static void bench_adam(run_opts *o, size_t n, const char *what)
{
    kcase k;
    kcase_begin(&k, o->dev->be);
    k.count = n;
    char shape[96];
    snprintf(shape, sizeof shape, "%s n=%zu", what, n);
    /* p, m, v read and written, g read */
    for (int i = 0; i < 4; i++) operand(&k, i, n);
    bench_arena_alloc(&k.a, o->dev);
    fill_normal(&k, E0, 1.0f);
    fill_normal(&k, E1, 1.0f);
    fill_uniform(&k, E2);
    fill_normal(&k, E3, 1.0f);
    bench_arena_replicate(&k.a);
    measure(o, &k, call_adam, "adam", "adam", shape, 14.0 * n, 4.0 * 7.0 * n);
    kcase_end(&k);
}

/* ------------------------------------------------------------------------------------------ */
/* matrix products of the linear layers (as evae_net_forward / evae_net_backward call them) */

static void call_gemm(void *p, int s)
{
    kcase *k = p;
    k->be->gemm(k->be, k->trans_a, k->trans_b, k->m_, k->n_, k->k_, 1.0f, BUF(k, s, E0),
                BUF(k, s, E1),
                0.0f, BUF(k, s, E2));
}

static void gemm_case(run_opts *o, const char *name, const char *layer, int ta, int tb, int m,
                      int n, int kk)
{
    kcase k;
    kcase_begin(&k, o->dev->be);
    k.trans_a = ta, k.trans_b = tb, k.m_ = m, k.n_ = n, k.k_ = kk;
    operand(&k, E0, (size_t)m * kk);
    operand(&k, E1, (size_t)kk * n);
    operand(&k, E2, (size_t)m * n);
    bench_arena_alloc(&k.a, o->dev);
    fill_normal(&k, E0, 1.0f);
    fill_normal(&k, E1, 1.0f);
    bench_arena_replicate(&k.a);
    char shape[96];
    snprintf(shape, sizeof shape, "%s %c%c m=%d n=%d k=%d", layer, ta ? 'T' : 'N', tb ? 'T' : 'N',
             m, n, kk);
    measure(o, &k, call_gemm, "gemm", name, shape, 2.0 * m * n * kk,
            4.0 * ((double)m * kk + (double)kk * n + (double)m * n));
    kcase_end(&k);
}

/* The three products of every linear layer of a network, batch B. The first layer of the
 * encoder has no input gradient (first_dx = 0). */
static void bench_linear_layers(run_opts *o, const evae_network *net, const char *prefix, int B,
                                int first_dx, const char *tag)
{
    for (int l = 0; l < net->n_layers; l++) {
        const evae_layer *L = &net->layers[l];
        if (L->kind != EVAE_LINEAR) continue;
        char layer[64], name[64];
        snprintf(layer, sizeof layer, "%s %d-%d B=%d", tag, L->in_dim, L->out_dim, B);
        snprintf(name, sizeof name, "%s.%d forward", prefix, l);
        gemm_case(o, name, layer, 0, 0, B, L->out_dim, L->in_dim);
        snprintf(name, sizeof name, "%s.%d weight grad", prefix, l);
        gemm_case(o, name, layer, 1, 0, L->in_dim, L->out_dim, B);
        if (l > 0 || first_dx) {
            snprintf(name, sizeof name, "%s.%d input grad", prefix, l);
            gemm_case(o, name, layer, 0, 1, B, L->in_dim, L->out_dim);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* convolutions of the CIFAR-10 model */

enum { CONV_FWD, CONV_BWD_DATA, CONV_BWD_FILTER };

/* operands: X[N,C,H,W], Wt[K,C,R,S], Y[N,K,P,Q] (dX, dY reuse them) */
static void call_conv(void *p, int s)
{
    kcase *k = p;
    float *X = BUF(k, s, E0), *Wt = BUF(k, s, E1), *Y = BUF(k, s, E2);
    switch (k->which) {
    case CONV_FWD: k->be->conv_forward(k->be, &k->cs, X, Wt, Y); break;
    case CONV_BWD_DATA: k->be->conv_backward_data(k->be, &k->cs, Y, Wt, X); break;
    case CONV_BWD_FILTER: k->be->conv_backward_filter(k->be, &k->cs, X, Y, Wt, 0.0f); break;
    }
}

static void bench_conv_layers(run_opts *o, const evae_network *net, const char *prefix, int B,
                              const char *tag)
{
    for (int l = 0; l < net->n_layers; l++) {
        const evae_layer *L = &net->layers[l];
        if (L->kind == EVAE_LINEAR) continue;
        kcase k;
        kcase_begin(&k, o->dev->be);
        k.cs = L->conv;
        k.cs.N = B;
        const evae_conv_shape *s = &k.cs;
        int P = evae_conv_P(s), Q = evae_conv_Q(s);
        double xs = (double)B * s->C * s->H * s->W, ws = (double)s->K * s->C * s->R * s->S;
        double ys = (double)B * s->K * P * Q;
        operand(&k, E0, (size_t)xs);
        operand(&k, E1, (size_t)ws);
        operand(&k, E2, (size_t)ys);
        bench_arena_alloc(&k.a, o->dev);
        fill_normal(&k, E0, 1.0f);
        fill_normal(&k, E1, 0.05f);
        fill_normal(&k, E2, 1.0f);
        bench_arena_replicate(&k.a);
        double flops = 2.0 * ys * s->C * s->R * s->S;
        char shape[96], name[64];
        snprintf(shape, sizeof shape, "%s N=%d %dx%dx%d->%dx%dx%d", tag, B, s->C, s->H, s->W,
                 s->K, P, Q);
        /* a transposed convolution runs backward-data forward, forward backward */
        const int deconv = L->kind == EVAE_DECONV;
        const char *names[3] = {deconv ? "backward (conv_forward)" : "forward",
                                deconv ? "forward (conv_backward_data)" : "backward data",
                                "weight grad (conv_backward_filter)"};
        double bytes[3] = {4.0 * (xs + ws + ys), 4.0 * (ys + ws + xs), 4.0 * (xs + ys + ws)};
        int order[3] = {CONV_FWD, CONV_BWD_DATA, CONV_BWD_FILTER};
        for (int i = 0; i < 3; i++) {
            k.which = order[i];
            snprintf(name, sizeof name, "%s.%d %s", prefix, l, names[i]);
            measure(o, &k, call_conv, "conv", name, shape, flops, bytes[i]);
        }
        kcase_end(&k);
    }
}

/* ------------------------------------------------------------------------------------------ */

static int has_item(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, item, n) == 0) return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_kernels --which-device [--device D]   (prints the backend D picks)\n"
               "       bench_kernels [--device cpu|cuda|auto] [--only grbm,elementwise,adam,gemm,"
               "conv] [--sizes paper,fill] [--fill F] [--budget SECONDS] [--json FILE] "
               "[--md FILE]\n");
}

int main(int argc, char **argv)
{
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
            const evae_backend *be = evae_backend_by_name(device);
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

    /* the two models, for their layer lists and parameter counts */
    evae_model mnist, cifar;
    evae_model_shape ms = {EVAE_ARCH_MLP, 1, 28, 28, 64, 512, 128, 1};
    evae_model_shape cs = {EVAE_ARCH_CONV, 3, 32, 32, 512, 0, 128, 1};
    if (evae_model_create(&mnist, dev.be, &ms) || evae_model_create(&cifar, dev.be, &cs)) return 1;

    for (int pass = 0; pass < 2; pass++) {
        const char *tag = pass == 0 ? "paper" : "fill";
        if (!has_item(sizes, tag)) continue;
        int f = pass == 0 ? 1 : (int)fill;
        int Bm = 512 * f, Bc = 1024 * f;
        if (has_item(only, "grbm")) {
            bench_grbm(&o, Bm, 64, 128, pass ? "fill mnist" : "mnist");
            bench_grbm(&o, Bc, 512, 128, pass ? "fill cifar" : "cifar");
        }
        if (has_item(only, "elementwise")) {
            bench_elem_mnist(&o, Bm, 784, 512, 64, 60000, pass ? "fill mnist" : "mnist");
            bench_elem_cifar(&o, Bc, 512, pass ? "fill cifar" : "cifar");
        }
        if (has_item(only, "adam")) {
            /* the fill pass scales the parameter count the same way */
            bench_adam(&o, mnist.n_params * (size_t)f, pass ? "fill mnist" : "mnist");
            bench_adam(&o, cifar.n_params * (size_t)f, pass ? "fill cifar" : "cifar");
        }
        if (has_item(only, "gemm")) {
            bench_linear_layers(&o, &mnist.enc, "enc", Bm, 0, pass ? "fill mnist" : "mnist");
            bench_linear_layers(&o, &mnist.dec, "dec", Bm, 1, pass ? "fill mnist" : "mnist");
            bench_linear_layers(&o, &cifar.enc, "enc", Bc, 0, pass ? "fill cifar" : "cifar");
        }
        if (has_item(only, "conv")) {
            bench_conv_layers(&o, &cifar.enc, "enc", Bc, pass ? "fill" : "cifar");
            bench_conv_layers(&o, &cifar.dec, "dec", Bc, pass ? "fill" : "cifar");
        }
    }
    evae_model_free(&mnist);
    evae_model_free(&cifar);

    int rc = 0;
    if (o.md) {
        fprintf(o.md, "\n");
        if (fclose(o.md) != 0) {
            evae_error("%s: cannot write", md_path);
            rc = 1;
        }
    }
    if (json_path) rc |= bench_write_json(json_path, root);
    cJSON_Delete(root);
    bench_device_close(&dev);
    printf("%d ops measured\n", o.count);
    return rc;
}
