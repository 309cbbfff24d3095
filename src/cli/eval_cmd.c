/* `evae eval RUN_DIR|CHECKPOINT [section.key=value ...]` (evae/eval/eval.h): loads a checkpoint with
 * the configuration stored in it, runs the five stages on the test set and writes
 * eval_examples.csv, then eval.json and eval.md into the run folder. With several ranks
 * (evae/dist/comm.h), the AIS runs and the test examples of importance sampling are dealt to the
 * ranks and gathered; rank 0 alone trains the classifier of stage 3 and writes the report. */
#define _DEFAULT_SOURCE /* POSIX.1-2008 under -std=c11 */
#include "evae/cli/eval_cmd.h"
#include "evae/eval/eval.h"

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evae/model/checkpoint.h"
#include "evae/cli/run.h"
#include "evae/model/input.h"
#include "evae/model/prior_fit.h"
#include "evae/util.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct stage_clock {
    double cpu0, wall0;
} stage_clock;

static stage_clock clock_start(void) { return (stage_clock){cpu_now(), evae_now()}; }

static evae_stage_time clock_stop(stage_clock c)
{
    return (evae_stage_time){cpu_now() - c.cpu0, evae_now() - c.wall0};
}

/* Progress on stderr: redrawn in place on a terminal (at most 5 times a second and at the end
 * of a stage), one line per step for short stages and per tenth for long ones otherwise. */
typedef struct eval_progress {
    int tty;
    double last;
    int last_tenth;
} eval_progress;

static void progress_print(void *ctx, const char *stage, int done, int total, const char *detail)
{
    eval_progress *p = ctx;
    double now = evae_now();
    int tenth = total > 0 ? (int)(10.0 * done / total) : 10;
    if (p->tty) {
        if (done < total && now - p->last < 0.2) return;
        fprintf(stderr, "\r%s %d/%d%s%s\033[K%s", stage, done, total, detail ? ": " : "",
                detail ? detail : "", done >= total ? "\n" : "");
    } else {
        if (total > 100 && done < total && tenth == p->last_tenth) return;
        fprintf(stderr, "%s %d/%d%s%s\n", stage, done, total, detail ? ": " : "",
                detail ? detail : "");
    }
    p->last = now;
    p->last_tenth = done >= total ? -1 : tenth;
    fflush(stderr);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The stages after loading: r is filled; returns non-zero on failure. */
static int run_stages(evae_eval_report *r, const evae_model *m, const float *train_dev,
                      int n_train, const float *test_dev, eval_progress *prog,
                      const evae_comm *comm)
{
    const int lead = comm->rank == 0;
    evae_eval_progress_fn progress = lead ? progress_print : NULL;
    const evae_config *c = &r->cfg;
    const uint64_t seed = (uint64_t)c->eval.seed;
    stage_clock clk = clock_start();
    float *x_test = evae_eval_prepare_inputs(m, test_dev, r->n_test, seed,
                                             evae_eval_stream(EVAE_EVAL_TEST_INPUT, 0));
    m->be->sync(m->be);
    evae_stage_time prep = clock_stop(clk);
    r->t_prepare.cpu_s += prep.cpu_s;
    r->t_prepare.wall_s += prep.wall_s;

    /* 1. log Z */
    evae_ais_opts ais = evae_eval_ais_opts(c);
    clk = clock_start();
    if (m->shape.prior_grbm && lead)
        fprintf(stderr, "log Z by AIS: %d runs x %d chains x %d %s temperatures%s\n", ais.runs,
                ais.chains, ais.temperatures, evae_ais_schedule_name(ais.schedule),
                comm->size > 1 ? " (runs dealt to the ranks)" : "");
    int rc = evae_eval_log_z(m, &ais, &r->lz, progress, prog, comm);
    r->t_log_z = clock_stop(clk);

    /* 2, 4, 5. importance sampling */
    evae_is_examples ex = {0};
    if (!rc) {
        if (lead)
            fprintf(stderr, "importance sampling: %d test examples x %d samples%s\n", r->n_test,
                    c->eval.k, comm->size > 1 ? " (examples split across the ranks)" : "");
        clk = clock_start();
        evae_is_opts io = {.k = c->eval.k, .rows = c->eval.batch, .seed = seed, .first = 0};
        rc = evae_eval_importance_ranks(m, x_test, r->n_test, &io, &ex, progress, prog, comm);
        r->t_is = clock_stop(clk);
    }
    if (!rc)
        evae_is_summarize(&ex, r->lz.log_z, r->lz.exact ? 0.0 : r->lz.std_err, r->x_dim,
                          r->bits_per_dim, &r->is);

    /* 3. the classifier of Algorithm 2: one sequence of Adam steps, rank 0's */
    if (!rc && lead) {
        fprintf(stderr, "classifier T(x, z): %d epochs\n", c->eval.classifier_epochs);
        clk = clock_start();
        evae_classifier_opts co = {.epochs = c->eval.classifier_epochs,
                                   .hidden = c->eval.classifier_hidden,
                                   .batch = c->eval.classifier_batch,
                                   .lr = c->eval.classifier_lr,
                                   .train_limit = c->eval.classifier_train_limit,
                                   .langevin_steps = c->eval.langevin_steps,
                                   .langevin_eta = c->eval.langevin_eta,
                                   .seed = seed};
        rc = evae_eval_classifier(m, train_dev, n_train, x_test, r->n_test, &co, r->bits_per_dim,
                                  ex.log_det, &r->cls, progress_print, prog);
        r->t_classifier = clock_stop(clk);
    }
    if (!rc && lead) {
        /* per test example: the classifier's VLB against ALB - log Z (same x, different z), and
         * the KL that log Z gives, E_q[ln q + E] + log Z = ln p(x|z) term - ALB + log Z */
        double *v = evae_xcalloc((size_t)r->n_test, sizeof(double)); /* [n_test] */
        for (int e = 0; e < r->n_test; e++) v[e] = r->cls.vlb_e[e] - (ex.alb[e] - r->lz.log_z);
        evae_quantity_of(&r->cls_minus_elbo, v, ex.log_det, r->n_test, r->x_dim, 0);
        for (int e = 0; e < r->n_test; e++) v[e] = ex.ll[e] - ex.alb[e] + r->lz.log_z;
        evae_quantity_of(&r->kl_log_z, v, ex.log_det, r->n_test, r->x_dim, 0);
        free(v);
    }
    if (!rc && lead) { /* before eval.json, whose presence says the evaluation is complete */
        char path[4200];
        snprintf(path, sizeof path, "%s/eval_examples.csv", r->out_dir);
        rc = evae_eval_write_examples(path, &ex, r->cls.vlb_e, r->lz.log_z);
    }
    evae_classifier_result_free(&r->cls);
    evae_is_examples_free(&ex);
    m->be->free(m->be, x_test);
    return rc;
}

int evae_eval_main(int argc, char **argv, evae_comm *comm)
{
    const int lead = comm->rank == 0;
    if (argc < 3) {
        fprintf(stderr, "usage: evae eval RUN_DIR|CHECKPOINT [section.key=value ...]\n"
                        "  e.g. evae eval runs/mnist-1 eval.k=5000 device=cuda\n");
        return 2;
    }
    stage_clock total = clock_start();
    evae_eval_report *r = evae_xcalloc(1, sizeof *r);
    char *ckpt = evae_resolve_checkpoint(argv[2], &r->cfg);
    int rc = ckpt == NULL;
    for (int i = 3; i < argc && !rc; i++) {
        if (!strchr(argv[i], '=')) {
            evae_error("unexpected argument '%s' (overrides are section.key=value)", argv[i]);
            rc = 1;
        } else {
            rc = evae_config_set(&r->cfg, argv[i]);
        }
    }
    if (rc) {
        free(ckpt);
        free(r);
        return 1;
    }
    evae_config *c = &r->cfg;
    snprintf(r->checkpoint, sizeof r->checkpoint, "%s", ckpt);
    if (is_dir(argv[2])) {
        snprintf(r->out_dir, sizeof r->out_dir, "%s", argv[2]);
    } else {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", ckpt);
        snprintf(r->out_dir, sizeof r->out_dir, "%s", dirname(tmp));
    }
    const evae_backend *be = evae_backend_for_rank(c->device, comm);
    if (!be) {
        free(ckpt);
        free(r);
        return 1;
    }
    snprintf(r->device, sizeof r->device, "%s", be->name);

    stage_clock clk = clock_start();
    /* the run's held-out set: its validation split when it trained with one (labelled so),
     * else the test files; data.validation=0 data.dir=... on the command line picks another */
    evae_config dcfg = *c;
    evae_dataset train = {0}, test = {0};
    const char *test_name = "test";
    evae_model m;
    evae_prior_fit fit;
    evae_train_state st = {0};
    int have_model = 0, have_fit = 0;
    r->objective_log_z = NAN;
    rc = evae_load_data(&dcfg, &train, &test, &test_name);
    if (!rc) {
        snprintf(r->test_set, sizeof r->test_set, "%s", test_name);
        r->n_test = c->eval.test_limit > 0 && c->eval.test_limit < test.n ? c->eval.test_limit
                                                                           : test.n;
        r->n_train = train.n;
        if (r->n_test < 2 || train.n < 1) {
            evae_error("%s: eval needs 2 or more test examples and a training set (have %d "
                       "and %d)", c->data.dir, r->n_test, train.n);
            rc = 1;
        }
    }
    if (!rc) {
        evae_model_shape shape = evae_shape_from_config(c, train.channels, train.height,
                                                        train.width);
        rc = evae_model_create(&m, be, &shape);
        have_model = !rc;
        /* the objective's state holds its own estimate of ln Z (nce), reported beside AIS's */
        have_fit = have_model && shape.prior_grbm;
        if (have_fit) evae_prior_fit_create(&fit, &m, c, 0);
        rc = rc || evae_checkpoint_load(ckpt, &m, &st, have_fit ? &fit : NULL);
        if (!rc && have_fit) r->objective_log_z = evae_prior_fit_log_z(&fit);
    }
    float *train_dev = NULL, *test_dev = NULL;
    if (!rc) {
        r->x_dim = m.x_dim;
        r->d = m.d;
        r->n = m.n;
        r->epoch = st.epoch;
        r->bits_per_dim = m.decoder == EVAE_DEC_LAPLACE;
        int as_unit = m.decoder == EVAE_DEC_BERNOULLI;
        test.n = r->n_test; /* upload only the examples evaluated */
        train_dev = evae_upload_dataset(be, &train, as_unit);
        test_dev = evae_upload_dataset(be, &test, as_unit);
        r->t_prepare = clock_stop(clk);
        if (lead) {
            printf("evaluating %s (epoch %d, %s prior) on %d %s examples, device %s", ckpt,
                   st.epoch, evae_prior_name(c->model.prior), r->n_test, r->test_set, be->name);
            if (comm->size > 1) printf(", %d ranks", comm->size);
            printf("\n");
        }
        fflush(stdout);
        eval_progress prog = {.tty = isatty(STDERR_FILENO), .last = 0.0, .last_tenth = -1};
        rc = run_stages(r, &m, train_dev, train.n, test_dev, &prog, comm);
    }
    if (!rc && lead) {
        r->t_total = clock_stop(total);
        rc = evae_eval_write(r);
    }
    if (!rc && lead) {
        printf("\n");
        evae_eval_print_table(r, stdout);
        printf("\nwrote %s/eval.json and %s/eval.md\n", r->out_dir, r->out_dir);
    }
    if (train_dev) be->free(be, train_dev);
    if (test_dev) be->free(be, test_dev);
    if (have_fit) evae_prior_fit_free(&fit);
    if (have_model) evae_model_free(&m);
    evae_dataset_free(&train);
    evae_dataset_free(&test);
    free(ckpt);
    free(r);
    return rc ? 1 : 0;
}
