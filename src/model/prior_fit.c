/* The prior objectives' dispatcher (evae/model/prior_fit.h): their settings, state and scratch,
 * the Adam steps, the logged numbers and the checkpointed tensors. Each objective's gradient is
 * in its own file (prior_dsm.c, prior_pcd.c, prior_snis.c, prior_nce.c; ssm: objective.c). */
#define _DEFAULT_SOURCE /* M_PI under -std=c11 */
#include "evae/model/prior_fit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/math/grbm.h"
#include "evae/math/philox.h"
#include "evae/util.h"

static float *balloc(const evae_backend *be, size_t floats)
{
    return floats ? be->alloc(be, floats * sizeof(float)) : NULL;
}

static float *halloc(size_t floats) { return floats ? evae_xcalloc(floats, sizeof(float)) : NULL; }

typedef struct settings_text {
    char *buf;
    size_t cap, used;
} settings_text;

static void add_setting(void *ctx, const char *key, evae_value_kind kind, const char *value)
{
    settings_text *t = ctx;
    (void)kind;
    if (t->used < t->cap)
        t->used += (size_t)snprintf(t->buf + t->used, t->cap - t->used, "%s%s=%s",
                                    t->used ? " " : "", key, value);
}

void evae_prior_fit_create(evae_prior_fit *f, const evae_model *m, const evae_config *cfg,
                           int cap)
{
    memset(f, 0, sizeof *f);
    const evae_backend *be = m->be;
    f->be = be;
    f->objective = cfg->prior.objective;
    f->d = m->d;
    f->n = m->n;
    f->cap = cap;
    f->test_gradient_sign = 1.0f;
    settings_text t = {f->settings, sizeof f->settings, 0};
    evae_config_each_key(cfg, evae_prior_objective_name(f->objective), add_setting, &t);
    f->ssm_rademacher = cfg->ssm.distribution == EVAE_PROJECTION_RADEMACHER;
    f->ssm_variance_reduced = cfg->ssm.variance_reduced;
    f->dsm_noise = (float)cfg->dsm.noise;
    f->pcd_chains = cfg->pcd.chains;
    f->pcd_steps = cfg->pcd.steps;
    f->pcd_sampler = cfg->pcd.sampler;
    f->pcd_eta = (float)cfg->pcd.eta;
    f->nce_noise = cfg->nce.noise;
    f->nce_ratio = cfg->nce.ratio;
    f->nce_log_z_lr = (float)cfg->nce.log_z_lr;

    const size_t d = (size_t)m->d, B = (size_t)cap;
    switch (f->objective) {
    case EVAE_OBJECTIVE_SSM: /* the workspace holds the projections */
        break;
    case EVAE_OBJECTIVE_DSM:
        f->rows = balloc(be, B * d);
        f->offset = balloc(be, B * d);
        break;
    case EVAE_OBJECTIVE_PCD: {
        const size_t C = (size_t)f->pcd_chains, rows = B > C ? B : C;
        f->chains = balloc(be, C * d);
        f->weights = balloc(be, C);
        f->E = balloc(be, rows);
        f->h_E = halloc(rows);
        f->h_J = halloc(B);
        /* the negative phase's weights -1/C, constant */
        float *w = halloc(C);
        for (size_t c = 0; c < C; c++) w[c] = -1.0f / (float)C;
        be->upload(be, f->weights, w, C * sizeof(float));
        free(w);
        break;
    }
    case EVAE_OBJECTIVE_SNIS:
        f->weights = balloc(be, B);
        f->E = balloc(be, B);
        f->h_E = halloc(B);
        f->h_w = halloc(B);
        f->h_J = halloc(B);
        f->h_rows = halloc(B * d);
        f->h_enc = halloc(B * 2 * d);
        break;
    case EVAE_OBJECTIVE_NCE: {
        const size_t rows = (1 + (size_t)f->nce_ratio) * B;
        f->log_z = balloc(be, 1);
        f->log_z_m = balloc(be, 1);
        f->log_z_v = balloc(be, 1);
        f->log_z_grad = balloc(be, 1);
        f->rows = balloc(be, rows * d);
        f->weights = balloc(be, rows);
        f->E = balloc(be, rows);
        f->h_E = halloc(rows);
        f->h_w = halloc(rows);
        f->h_J = halloc(B);
        f->h_rows = halloc(rows * d);
        break;
    }
    }
}

void evae_prior_fit_free(evae_prior_fit *f)
{
    const evae_backend *be = f->be;
    float *dev[] = {f->chains, f->log_z, f->log_z_m, f->log_z_v, f->log_z_grad,
                    f->rows,   f->offset, f->weights, f->E};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
        if (dev[i]) be->free(be, dev[i]);
    free(f->h_E);
    free(f->h_w);
    free(f->h_J);
    free(f->h_rows);
    free(f->h_enc);
    memset(f, 0, sizeof *f);
}

void evae_prior_fit_start(evae_prior_fit *f, const evae_model *m, uint64_t seed)
{
    const evae_backend *be = f->be;
    float *theta = evae_xcalloc(m->n_theta, sizeof(float)); /* [n_theta] host */
    be->download(be, theta, m->theta, m->n_theta * sizeof(float));
    if (f->objective == EVAE_OBJECTIVE_PCD) evae_pcd_start(f, theta, seed);
    if (f->objective == EVAE_OBJECTIVE_NCE) {
        const float *ls = theta + evae_grbm_log_sigma(f->d, f->n);
        double log_z0 = 0.5 * f->d * log(2.0 * M_PI) + f->n * log(2.0);
        for (int i = 0; i < f->d; i++) log_z0 += ls[i];
        float c = (float)log_z0, zero = 0.0f;
        be->upload(be, f->log_z, &c, sizeof c);
        be->upload(be, f->log_z_m, &zero, sizeof zero);
        be->upload(be, f->log_z_v, &zero, sizeof zero);
    }
    free(theta);
}

int evae_prior_fit_splits(const evae_prior_fit *f) { return f->objective == EVAE_OBJECTIVE_SSM; }

void evae_prior_fit_grad(evae_prior_fit *f, const evae_model *m, evae_workspace *w, evae_share s,
                         uint64_t seed, uint64_t global_step)
{
    const int B = s.count;
    if (s.count != s.total && !evae_prior_fit_splits(f)) {
        /* the trainer refuses such a run before it starts (evae_prior_fit_splits) */
        evae_error("prior.objective = %s needs the whole batch in one process (a share of %d of "
                   "%d examples)", evae_prior_objective_name(f->objective), s.count, s.total);
        abort();
    }
    switch (f->objective) {
    case EVAE_OBJECTIVE_SSM:
        evae_ssm_step(m, w, s, f->ssm_rademacher, f->ssm_variance_reduced, seed,
                      evae_stream(EVAE_STREAM_PROJECTIONS, global_step));
        break;
    case EVAE_OBJECTIVE_DSM: evae_dsm_grad(f, m, w, B, seed, global_step); break;
    case EVAE_OBJECTIVE_PCD: evae_pcd_grad(f, m, w, B, seed, global_step); break;
    case EVAE_OBJECTIVE_SNIS: evae_snis_grad(f, m, w, B); break;
    case EVAE_OBJECTIVE_NCE: evae_nce_grad(f, m, w, B, seed, global_step); break;
    }
    if (f->test_gradient_sign != 1.0f) { /* grad += (sign - 1) grad */
        const evae_backend *be = f->be;
        float a = f->test_gradient_sign - 1.0f;
        be->axpy(be, m->theta_grad, m->theta_grad, m->n_theta, a);
        if (f->log_z_grad) be->axpy(be, f->log_z_grad, f->log_z_grad, 1, a);
    }
}

void evae_prior_fit_update(evae_prior_fit *f, evae_model *m, const evae_config *cfg)
{
    const evae_backend *be = f->be;
    const float b1 = (float)cfg->train.beta1, b2 = (float)cfg->train.beta2;
    const float eps = (float)cfg->train.adam_eps;
    ++m->prior_steps;
    be->adam(be, m->theta, m->theta_m, m->theta_v, m->theta_grad, m->n_theta,
             (float)cfg->train.prior_lr, b1, b2, eps, m->prior_steps);
    if (f->log_z)
        be->adam(be, f->log_z, f->log_z_m, f->log_z_v, f->log_z_grad, 1, f->nce_log_z_lr, b1,
                 b2, eps, m->prior_steps);
}

void evae_prior_fit_step(evae_prior_fit *f, evae_model *m, evae_workspace *w, int B,
                         const evae_config *cfg, uint64_t global_step)
{
    evae_prior_fit_grad(f, m, w, evae_share_whole(B), (uint64_t)cfg->train.seed, global_step);
    evae_prior_fit_update(f, m, cfg);
}

const char *evae_prior_fit_loss_name(const evae_prior_fit *f)
{
    static const char *const names[] = {"ssm", "dsm", "pcd_gap", "snis", "nce"};
    return names[f->objective];
}

const char *evae_prior_fit_loss_label(const evae_prior_fit *f)
{
    static const char *const labels[] = {"SSM", "DSM", "PCD gap", "SNIS", "NCE"};
    return labels[f->objective];
}

const char *evae_prior_fit_aux(const evae_prior_fit *f, double *batch, double *epoch)
{
    *batch = f->aux_last;
    *epoch = f->aux_count ? f->aux_sum / (double)f->aux_count : NAN;
    return f->objective == EVAE_OBJECTIVE_SNIS  ? "snis_log_z"
           : f->objective == EVAE_OBJECTIVE_NCE ? "nce_log_z"
                                                : NULL;
}

void evae_prior_fit_epoch_begin(evae_prior_fit *f)
{
    f->aux_sum = 0.0;
    f->aux_count = 0;
}

double evae_prior_fit_log_z(const evae_prior_fit *f)
{
    if (!f->log_z) return NAN;
    float c;
    f->be->download(f->be, &c, f->log_z, sizeof c);
    return c;
}

static void add_sum(void *ctx, const char *name, float *buf, size_t count, int ndim,
                    const long *shape)
{
    (void)name, (void)ndim, (void)shape;
    const evae_prior_fit *f = ((const void **)ctx)[0];
    double *sum = ((void **)ctx)[1];
    *sum += f->be->sum(f->be, buf, count);
}

double evae_prior_fit_state_sum(const evae_prior_fit *f)
{
    double sum = 0.0;
    const void *ctx[2] = {f, &sum};
    evae_prior_fit_each_state(f, add_sum, (void *)ctx);
    return sum;
}

void evae_prior_fit_each_state(const evae_prior_fit *f, evae_state_tensor_fn fn, void *ctx)
{
    if (f->chains) {
        long shape[2] = {f->pcd_chains, f->d};
        fn(ctx, "objective.pcd.chains", f->chains, (size_t)f->pcd_chains * f->d, 2, shape);
    }
    if (f->log_z) {
        long one[1] = {1};
        fn(ctx, "objective.nce.log_z", f->log_z, 1, 1, one);
        fn(ctx, "optim.nce.exp_avg", f->log_z_m, 1, 1, one);
        fn(ctx, "optim.nce.exp_avg_sq", f->log_z_v, 1, 1, one);
    }
}
