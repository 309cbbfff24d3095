/* The training loop of Algorithm 1: per batch, one Adam step of the encoder and decoder on the
 * ALB, then one Adam step of the GRBM prior by its objective (prior.objective) on the same z,
 * detached.
 * Random state is counter-based (evae/math/philox.h): every draw is named by (seed, purpose, step), so
 * a run resumed from a checkpoint continues exactly as if it had never stopped.
 *
 * Data parallelism (docs/DESIGN.md section 9): every rank loads the data and the model, takes its
 * share of each batch and of the held-out set, and the sums meet through comm; the ranks hold the
 * same parameters at every step, and rank 0 alone writes the run folder. */
#define _DEFAULT_SOURCE /* POSIX.1-2008 and M_PI under -std=c11 */
#include "evae/cli/train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "evae/model/checkpoint.h"
#include "evae/data/logit.h"
#include "evae/eval/honest.h"
#include "evae/io/atomic_file.h"
#include "evae/io/metrics.h"
#include "evae/math/philox.h"
#include "evae/cli/progress.h"
#include "evae/cli/run.h"
#include "evae/model/input.h"
#include "evae/cli/grids.h"
#include "evae/model/prior_fit.h"
#include "evae/model/sampling.h"
#include "evae/model/train_step.h"
#include "evae/util.h"

/* Per-example sums over an epoch, kept in backend memory so no step waits for the device. */
typedef struct epoch_sums {
    float *alb, *ll, *J; /* [cap] */
    double scale_sum;    /* Laplace: sum of calibrated scales (host numbers) */
    int batches;
} epoch_sums;

typedef struct heldout_eval {
    double alb, ll; /* means over the held-out set */
    double log_det; /* CIFAR-10: mean ln|dy/du| of the logit transform, to convert to bits/dim */
    double *alb_e;     /* [n] host: ALB per held-out example, for the held-out ELBO's SE */
    double *log_det_e; /* [n] host: ln|dy/du| per example (CIFAR-10), else NULL */
} heldout_eval;

/* ALB of the held-out set with a fixed binarization / noise seed, so epochs are comparable;
 * r->alb_e (and r->log_det_e for CIFAR-10) must hold n values. Each rank takes its share of
 * every batch; the per-example values meet through comm (each rank adds its own examples to
 * zeros elsewhere, exact in any order), and the means are summed from them in example order. */
static void evaluate(const evae_model *m, evae_workspace *w, const float *data_dev, int n,
                     uint64_t seed, const evae_comm *comm, heldout_eval *r)
{
    const evae_backend *be = m->be;
    double *ll_e = evae_xcalloc((size_t)n, sizeof(double)); /* [n] ln p(x|z) per example */
    for (int e = 0; e < n; e++) r->alb_e[e] = 0.0;
    if (r->log_det_e)
        for (int e = 0; e < n; e++) r->log_det_e[e] = 0.0;
    float *y = m->decoder == EVAE_DEC_LAPLACE ? evae_xcalloc((size_t)w->cap * m->x_dim, 4) : NULL;
    float *alb = evae_xcalloc((size_t)w->cap, sizeof(float)); /* [cap] host */
    float *ll = evae_xcalloc((size_t)w->cap, sizeof(float));  /* [cap] host */
    for (int start = 0, bi = 0; start < n; start += w->cap, bi++) {
        evae_share s = evae_share_of(n - start < w->cap ? n - start : w->cap, comm->rank,
                                     comm->size);
        if (s.count == 0) continue;
        const int e0 = start + s.offset; /* this share's first held-out example */
        be->copy(be, w->p, data_dev + (size_t)e0 * m->x_dim,
                 (size_t)s.count * m->x_dim * sizeof(float));
        evae_prepare_input(m, w, s, seed, evae_stream(EVAE_STREAM_EVAL, 2 * (uint64_t)bi));
        evae_alb_encode_decode(m, w, s, seed, evae_stream(EVAE_STREAM_EVAL, 2 * (uint64_t)bi + 1));
        evae_alb_terms(m, w, s, m->laplace_scale);
        be->download(be, alb, w->alb, (size_t)s.count * sizeof(float));
        be->download(be, ll, w->ll, (size_t)s.count * sizeof(float));
        for (int b = 0; b < s.count; b++) {
            r->alb_e[e0 + b] = alb[b];
            ll_e[e0 + b] = ll[b];
        }
        if (y) {
            be->download(be, y, evae_ws_x(w), (size_t)s.count * m->x_dim * sizeof(float));
            evae_logit_log_det(r->log_det_e + e0, y, s.count, m->x_dim, EVAE_LOGIT_ALPHA);
        }
    }
    free(y);
    free(alb);
    free(ll);
    if (comm->size > 1) {
        comm->allreduce_host(comm, r->alb_e, n);
        comm->allreduce_host(comm, ll_e, n);
        if (r->log_det_e) comm->allreduce_host(comm, r->log_det_e, n);
    }
    r->alb = r->ll = r->log_det = 0.0;
    for (int e = 0; e < n; e++) {
        r->alb += r->alb_e[e];
        r->ll += ll_e[e];
        if (r->log_det_e) r->log_det += r->log_det_e[e];
    }
    free(ll_e);
    r->alb /= n;
    r->ll /= n;
    r->log_det /= n;
}

/* The ranks must hold the same parameters: every one takes the same Adam steps on the same sums.
 * A difference (a reduction that gave ranks different bits, a rank that loaded another
 * checkpoint) is reported instead of training on silently. psum: this rank's parameter sum. */
static int ranks_agree(const evae_comm *comm, double psum, const char *when)
{
    if (comm->size == 1) return 0;
    double *all = evae_xcalloc((size_t)comm->size, sizeof(double));
    int *counts = evae_xcalloc((size_t)comm->size, sizeof(int));
    for (int r = 0; r < comm->size; r++) counts[r] = 1;
    comm->allgather_host(comm, &psum, all, counts);
    int bad = -1;
    for (int r = 1; r < comm->size && bad < 0; r++)
        if (memcmp(&all[r], &all[0], sizeof(double)) != 0 && !(all[r] != all[r] && all[0] != all[0]))
            bad = r;
    if (bad >= 0)
        evae_error("%s, rank %d holds other parameters than rank 0 (parameter sums %.17g and "
                   "%.17g): the ranks have diverged; stopping without saving", when, bad,
                   all[bad], all[0]);
    free(all);
    free(counts);
    return bad >= 0;
}

/* The prior objective's numbers in a metrics line: its loss as <prefix>_<name> (batch_ssm,
 * train_nce, ...) and its second number, when it has one: the batch's (snis_log_z, nce_log_z)
 * on step lines, the epoch's mean (train_snis_log_z, train_nce_log_z) on epoch lines. */
static void add_objective_numbers(cJSON *o, const evae_prior_fit *fit, const char *prefix,
                                  double loss, int epoch_line)
{
    char key[64];
    snprintf(key, sizeof key, "%s_%s", prefix, evae_prior_fit_loss_name(fit));
    cJSON_AddNumberToObject(o, key, loss);
    double batch, epoch;
    const char *aux = evae_prior_fit_aux(fit, &batch, &epoch);
    if (!aux) return;
    if (epoch_line) snprintf(key, sizeof key, "train_%s", aux);
    cJSON_AddNumberToObject(o, epoch_line ? key : aux, epoch_line ? epoch : batch);
}

/* The grids of an epoch into dir: prior samples, and up to 32 held-out images (whole rows of 8,
 * so each reconstruction sits under its image) above their reconstructions. Rank 0's. */
static int write_epoch_grids(const evae_model *m, evae_workspace *w, const evae_config *cfg,
                             const char *dir, const float *heldout_dev, int n_heldout, int epoch)
{
    const evae_backend *be = m->be;
    const int D = m->x_dim;
    const uint64_t seed = (uint64_t)cfg->train.seed;
    char tag[32];
    snprintf(tag, sizeof tag, "epoch%03d", epoch);
    int nr = n_heldout < 32 ? n_heldout : 32;
    if (nr > w->cap) nr = w->cap; /* no more than the workspace holds */
    if (nr >= 8) nr -= nr % 8;
    /* reconstruction inputs: the first held-out examples, prepared as in evaluation */
    be->copy(be, w->p, heldout_dev, (size_t)nr * D * sizeof(float));
    evae_prepare_input(m, w, evae_share_whole(nr), seed, evae_stream(EVAE_STREAM_EVAL, 0));
    float *xr = be->alloc(be, (size_t)nr * D * sizeof(float)); /* [nr, D] */
    be->copy(be, xr, evae_ws_x(w), (size_t)nr * D * sizeof(float));
    int rc = evae_write_grids(m, w, dir, tag, cfg->sample.sampler, cfg->sample.steps,
                              (float)cfg->sample.eta, cfg->sample.n, seed, xr, nr);
    be->free(be, xr);
    return rc;
}

/* config.ini (the resolved configuration, which --resume reads) and manifest.json; rank 0's. */
static int write_run_files(const char *dir, const char *ini, const evae_config *cfg, int argc,
                           char **argv, const evae_comm *comm)
{
    if (comm->rank != 0) return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.ini", dir);
    return evae_atomic_write_text(path, ini) || evae_write_manifest(dir, cfg, argc, argv, comm);
}

/* Resuming from run folder dir: removes what cut-off writes left, loads the checkpoint (none
 * yet: a fresh start from epoch 0) and trims metrics.jsonl to it. A checkpoint that has reached
 * train.epochs is reported; one past it is refused. Every rank loads the checkpoint; the lead
 * (rank 0) alone changes the folder and speaks. */
static int resume_from(const char *dir, const char *ckpt, const char *metrics,
                       const evae_config *cfg, evae_model *m, evae_train_state *st, int lead,
                       evae_prior_fit *fit)
{
    if (lead && evae_run_remove_temporaries(dir)) return 1;
    struct stat sb;
    if (stat(ckpt, &sb) != 0 && errno == ENOENT) {
        if (lead)
            evae_warn("%s: no checkpoint yet (the run stopped before its first): starting from "
                      "epoch 0", dir);
        evae_model_init(m, (uint64_t)cfg->train.seed);
        if (fit) evae_prior_fit_start(fit, m, (uint64_t)cfg->train.seed);
    } else if (evae_checkpoint_load(ckpt, m, st, fit)) {
        return 1;
    }
    if (st->seed != cfg->train.seed) {
        evae_error("%s: checkpoint seed %ld differs from train.seed %ld; a resumed run keeps "
                   "its seed", ckpt, st->seed, cfg->train.seed);
        return 1;
    }
    if (st->epoch > cfg->train.epochs) {
        evae_error("%s: the checkpoint has completed epoch %d, past train.epochs=%d: nothing to "
                   "train (resume with train.epochs=%d or more)", ckpt, st->epoch,
                   cfg->train.epochs, st->epoch + 1);
        return 1;
    }
    if (!lead) return 0;
    if (evae_metrics_truncate(metrics, st->epoch)) return 1;
    if (st->epoch == cfg->train.epochs && st->epoch > 0)
        printf("%s: already complete: the checkpoint holds epoch %d of train.epochs=%d; nothing "
               "to train (raise train.epochs to go on)\n", dir, st->epoch, cfg->train.epochs);
    else
        printf("resuming %s at epoch %d (step %ld)\n", dir, st->epoch, st->global_step);
    return 0;
}

static void run_dir_default(evae_config *cfg)
{
    if (cfg->run.dir[0]) return;
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
    snprintf(cfg->run.dir, sizeof cfg->run.dir, "runs/%s-%s", cfg->run.name, stamp);
}

int evae_train(evae_config *cfg, const char *resume_dir, int argc, char **argv,
               evae_comm *comm)
{
    const int lead = comm->rank == 0; /* writes the run folder and prints */
    if (resume_dir) snprintf(cfg->run.dir, sizeof cfg->run.dir, "%s", resume_dir);
    run_dir_default(cfg);
    /* the folder's time stamp is rank 0's, so that every rank names the same folder */
    comm->broadcast_host(comm, cfg->run.dir, sizeof cfg->run.dir, 0);
    const char *dir = cfg->run.dir;
    if (lead && evae_mkdirs(dir)) return 1;
    const evae_backend *be = evae_backend_for_rank(cfg->device, comm);
    if (!be) return 1;
    if (lead) printf("device %s: %s\n", be->name, be->describe(be)); /* which kernels run */

    evae_dataset train = {0}, heldout = {0};
    const char *heldout_name = "test";
    if (evae_load_data(cfg, &train, &heldout, &heldout_name)) return 1;
    if (train.n < 1 || heldout.n < 1) {
        evae_error("%s: need at least one training and one %s example (have %d and %d)",
                   cfg->data.dir, heldout_name, train.n, heldout.n);
        return 1;
    }

    evae_model m;
    evae_model_shape shape = evae_shape_from_config(cfg, train.channels, train.height, train.width);
    if (evae_model_create(&m, be, &shape)) {
        evae_dataset_free(&train);
        evae_dataset_free(&heldout);
        return 1;
    }
    const int cap = cfg->train.batch < train.n ? cfg->train.batch : train.n;
    evae_prior_fit fit_state, *fit = shape.prior_grbm ? &fit_state : NULL; /* NULL: N(0, I) */
    if (fit) evae_prior_fit_create(fit, &m, cfg, cap);
    if (fit && comm->size > 1 && !evae_prior_fit_splits(fit)) {
        evae_error("prior.objective = %s runs on one process only (%d ranks here): its gradient "
                   "needs the whole batch; use prior.objective = ssm across ranks",
                   evae_prior_objective_name(fit->objective), comm->size);
        evae_prior_fit_free(fit);
        evae_model_free(&m);
        evae_dataset_free(&train);
        evae_dataset_free(&heldout);
        return 1;
    }
    char ckpt[4096], metrics[4096];
    snprintf(ckpt, sizeof ckpt, "%s/%s", dir, EVAE_CHECKPOINT_FILE);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", dir);
    evae_train_state st = {.epoch = 0, .global_step = 0, .seed = cfg->train.seed};
    char *ini = evae_config_to_ini_string(cfg);
    int rc = 0;
    /* A resume writes config.ini and manifest.json with its first checkpoint, so that an
     * attempt that fails (a NaN) leaves them describing the checkpoint that is there. */
    int run_files_pending = resume_dir != NULL;
    if (resume_dir) {
        rc = resume_from(dir, ckpt, metrics, cfg, &m, &st, lead, fit);
    } else {
        evae_model_init(&m, (uint64_t)cfg->train.seed);
        if (fit) evae_prior_fit_start(fit, &m, (uint64_t)cfg->train.seed);
        rc = write_run_files(dir, ini, cfg, argc, argv, comm);
    }
    rc = rc || ranks_agree(comm, evae_model_param_sum(&m), "at the start");
    if (rc) {
        free(ini);
        if (fit) evae_prior_fit_free(fit);
        evae_model_free(&m);
        evae_dataset_free(&train);
        evae_dataset_free(&heldout);
        return rc;
    }

    const int D = m.x_dim;
    const int as_unit = m.decoder == EVAE_DEC_BERNOULLI;
    const uint64_t seed = (uint64_t)cfg->train.seed;
    const double log_z = evae_model_exact_log_z(&m); /* NaN for the GRBM */
    float *train_dev = evae_upload_dataset(be, &train, as_unit);   /* [n_train, D] */
    float *heldout_dev = evae_upload_dataset(be, &heldout, as_unit); /* [n_heldout, D] */
    evae_workspace w;
    evae_workspace_create(&w, &m, cap, cfg->ssm.projections);
    int *perm = evae_xcalloc((size_t)train.n, sizeof(int));
    heldout_eval ev = {.alb_e = evae_xcalloc((size_t)heldout.n, sizeof(double)),
                       .log_det_e = m.decoder == EVAE_DEC_LAPLACE
                                        ? evae_xcalloc((size_t)heldout.n, sizeof(double))
                                        : NULL};
    const evae_ais_opts honest_ais = evae_honest_ais_opts(cfg);
    char grid_dir[4096];
    snprintf(grid_dir, sizeof grid_dir, "%s/grids", dir);
    rc = lead ? evae_mkdirs(grid_dir) : 0;
    int *idx_dev = be->alloc(be, (size_t)train.n * sizeof(int)); /* [n_train] batch order */
    epoch_sums acc = {be->alloc(be, cap * sizeof(float)), be->alloc(be, cap * sizeof(float)),
                      be->alloc(be, cap * sizeof(float)), 0.0, 0};
    const int steps = (train.n + cap - 1) / cap;
    evae_progress prog;
    evae_progress_init(&prog);
    double t_run = evae_now();
    if (lead) {
        printf("training %s: %d %s examples, %d %s, device %s, %ld parameters + %zu prior", dir,
               train.n, evae_data_set_name(cfg->data.dataset), heldout.n, heldout_name, be->name,
               (long)m.n_params, m.n_theta);
        if (comm->size > 1) printf(", %d ranks (%s)", comm->size, comm->name);
        printf("\n");
    }

    const int start_epoch = st.epoch;
    for (int epoch = st.epoch; epoch < cfg->train.epochs && !rc; epoch++) {
        double t0 = evae_now();
        evae_shuffle(perm, train.n, seed, (uint64_t)epoch);
        be->upload(be, idx_dev, perm, (size_t)train.n * sizeof(int));
        be->zero(be, acc.alb, cap * sizeof(float));
        be->zero(be, acc.ll, cap * sizeof(float));
        be->zero(be, acc.J, cap * sizeof(float));
        acc.scale_sum = 0.0;
        acc.batches = 0;
        if (fit) evae_prior_fit_epoch_begin(fit);
        for (int s = 0; s < steps; s++) {
            int B = train.n - s * cap < cap ? train.n - s * cap : cap;
            evae_share sh = evae_share_of(B, comm->rank, comm->size); /* [B] of all ranks */
            uint64_t gs = (uint64_t)st.global_step;
            if (sh.count > 0)
                be->gather_rows(be, w.p, train_dev, idx_dev + (size_t)s * cap + sh.offset,
                                sh.count, D);
            float scale = evae_train_step(&m, &w, fit, sh, cfg, gs, comm);
            if (m.decoder == EVAE_DEC_LAPLACE) acc.scale_sum += scale;
            if (shape.prior_grbm) be->axpy(be, acc.J, w.J, (size_t)sh.count, 1.0f);
            be->axpy(be, acc.alb, w.alb, (size_t)sh.count, 1.0f);
            be->axpy(be, acc.ll, w.ll, (size_t)sh.count, 1.0f);
            acc.batches++;
            st.global_step++;

            /* every rank knows when a line is due (it is collective); the progress line is rank
             * 0's alone and between logged steps shows its own share of the batch */
            int log_now = (s + 1) % cfg->train.log_every == 0;
            if (log_now || (lead && evae_progress_due(&prog))) {
                /* the numbers of this batch (a synchronization point on a device) */
                double bsum[2] = {be->sum(be, w.alb, (size_t)sh.count),
                                  shape.prior_grbm ? be->sum(be, w.J, (size_t)sh.count) : 0.0};
                if (log_now) comm->allreduce_host(comm, bsum, 2);
                double alb = bsum[0] / (log_now ? B : (sh.count > 0 ? sh.count : 1));
                double el = evae_now() - t0, rate = (s + 1) * (double)cap / el;
                double eta = el / (s + 1) * ((double)steps * (cfg->train.epochs - epoch) - s - 1);
                if (lead)
                    evae_progress_draw(&prog, epoch + 1, cfg->train.epochs, s + 1, steps, -alb,
                                       rate, eta);
                if (log_now && lead) {
                    cJSON *o = cJSON_CreateObject();
                    cJSON_AddNumberToObject(o, "epoch", epoch + 1);
                    cJSON_AddNumberToObject(o, "step", (double)st.global_step);
                    cJSON_AddNumberToObject(o, "batch_alb", isnan(log_z) ? alb : alb - log_z);
                    if (fit) add_objective_numbers(o, fit, "batch", bsum[1] / B, 0);
                    rc = evae_metrics_append(metrics, o);
                }
            }
        }
        evae_progress_clear(&prog);
        if (rc) break;
        double t_train = evae_now() - t0;
        if (m.decoder == EVAE_DEC_LAPLACE) m.laplace_scale = (float)(acc.scale_sum / acc.batches);
        double tr[3] = {be->sum(be, acc.alb, cap), be->sum(be, acc.ll, cap),
                        be->sum(be, acc.J, cap)};
        comm->allreduce_host(comm, tr, 3);
        double tr_alb = tr[0] / train.n, tr_ll = tr[1] / train.n, tr_J = tr[2] / train.n;
        evaluate(&m, &w, heldout_dev, heldout.n, seed, comm, &ev);
        if (!isnan(log_z)) { /* N(0, I) prior: report the true ELBO */
            tr_alb -= log_z;
            ev.alb -= log_z;
        }
        /* a NaN can hide from the loss (e.g. behind a ReLU that zeroes it), not from the
         * parameters' sum */
        double psum = evae_model_param_sum(&m);
        if (fit) psum += evae_prior_fit_state_sum(fit);
        if (ranks_agree(comm, psum, "after an epoch")) {
            rc = 1;
            break;
        }
        if (!isfinite(tr_alb) || !isfinite(ev.alb) || !isfinite(tr_J) || !isfinite(psum)) {
            evae_error("non-finite loss or parameters in epoch %d (train ALB %g, %s ALB %g, %s "
                       "%g, parameter sum %g); stopping "
                       "without saving. The last checkpoint, if any, is intact in %s: resume it "
                       "with a smaller train.lr / train.prior_lr (evae train --resume %s "
                       "train.lr=...)", epoch + 1, tr_alb, heldout_name, ev.alb,
                       fit ? evae_prior_fit_loss_label(fit) : "prior loss", tr_J, psum, dir,
                       dir);
            rc = 3;
            break;
        }
        st.epoch = epoch + 1;
        const int last = st.epoch == cfg->train.epochs;
        /* the held-out ELBO: ALB - log Z with a short AIS (exact log Z for N(0, I)); rank 0's,
         * whose lines carry it */
        evae_honest h;
        const int honest = lead && cfg->train.honest_every > 0 &&
                           (st.epoch % cfg->train.honest_every == 0 || last);
        if (honest && evae_honest_elbo(&m, &honest_ais, ev.alb_e, ev.log_det_e, heldout.n,
                                       m.decoder == EVAE_DEC_LAPLACE, &h)) {
            rc = 1;
            break;
        }
        int save = st.epoch % cfg->train.checkpoint_every == 0 || last;
        double t_epoch = evae_now() - t0;
        char key_alb[64], key_ll[64];
        snprintf(key_alb, sizeof key_alb, "%s_alb", heldout_name);
        snprintf(key_ll, sizeof key_ll, "%s_recon", heldout_name);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "epoch", st.epoch);
        cJSON_AddNumberToObject(o, "step", (double)st.global_step);
        cJSON_AddNumberToObject(o, "train_alb", tr_alb);
        cJSON_AddNumberToObject(o, "train_recon", tr_ll);
        if (fit) add_objective_numbers(o, fit, "train", tr_J, 1);
        cJSON_AddNumberToObject(o, key_alb, ev.alb);
        cJSON_AddNumberToObject(o, key_ll, ev.ll);
        if (m.decoder == EVAE_DEC_LAPLACE) {
            /* bits/dim of the 8-bit data implied by the ALB (not a bound for the GRBM prior;
             * for N(0, I) it is the ELBO's bound); evae eval gives the estimators */
            char key_bpd[64];
            snprintf(key_bpd, sizeof key_bpd, "%s_alb_bpd", heldout_name);
            cJSON_AddNumberToObject(o, key_bpd, evae_bits_per_dim(ev.alb + ev.log_det, D));
            cJSON_AddNumberToObject(o, "laplace_scale", m.laplace_scale);
        }
        if (honest) evae_honest_add_metrics(&h, heldout_name, o);
        cJSON_AddNumberToObject(o, "examples_per_s", train.n / t_train);
        cJSON_AddNumberToObject(o, "epoch_time_s", t_epoch);
        cJSON_AddNumberToObject(o, "wall_time_s", evae_now() - t_run);
        if (!lead) {
            cJSON_Delete(o);
            continue; /* the lines, the checkpoint, the manifest and the grids are rank 0's */
        }
        /* the epoch's record before its checkpoint: a run stopped in between has the record
         * dropped on resume (it is of an epoch after the checkpoint) and logged again */
        rc = evae_metrics_append(metrics, o);
        /* the grids before the checkpoint: a run stopped in between draws them again with the
         * epoch, so a checkpoint's epoch always has its grids */
        if ((st.epoch % cfg->train.grid_every == 0 || last) && !rc)
            rc = write_epoch_grids(&m, &w, cfg, grid_dir, heldout_dev, heldout.n, st.epoch);
        if (save && !rc && run_files_pending) {
            rc = write_run_files(dir, ini, cfg, argc, argv, comm);
            run_files_pending = 0;
        }
        if (save) rc = rc || evae_checkpoint_save(ckpt, &m, &st, ini, fit);
        /* again after the first epoch: by now the device has chosen its convolution algorithms */
        if (epoch == start_epoch && m.shape.arch == EVAE_ARCH_CONV && !run_files_pending)
            rc = rc || evae_write_manifest(dir, cfg, argc, argv, comm);
        char ssm[64] = "", elbo[160] = "";
        if (fit) snprintf(ssm, sizeof ssm, ", %s %.3f", evae_prior_fit_loss_label(fit), tr_J);
        if (honest) evae_honest_format(&h, elbo, sizeof elbo);
        printf("epoch %d/%d  train %s %.2f (recon %.2f%s)  %s %s %.2f%s  %.0f ex/s  %.2fs\n",
               st.epoch, cfg->train.epochs, shape.prior_grbm ? "ALB" : "ELBO", tr_alb, tr_ll, ssm,
               heldout_name, shape.prior_grbm ? "ALB" : "ELBO", ev.alb, elbo, train.n / t_train,
               t_epoch);
        fflush(stdout);
    }
    be->free(be, acc.alb);
    be->free(be, acc.ll);
    be->free(be, acc.J);
    be->free(be, idx_dev);
    be->free(be, train_dev);
    be->free(be, heldout_dev);
    free(perm);
    free(ev.alb_e);
    free(ev.log_det_e);
    free(ini);
    evae_workspace_free(&w, &m);
    if (fit) evae_prior_fit_free(fit);
    evae_model_free(&m);
    evae_dataset_free(&train);
    evae_dataset_free(&heldout);
    if (!rc && lead) printf("done: %s (%.1fs)\n", dir, evae_now() - t_run);
    return rc;
}
