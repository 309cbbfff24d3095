/* The honest number during training (train.honest_every): the held-out ELBO, ALB - log Z, with
 * log Z from a short AIS on the backend (exactly, for prior=gaussian). The ALB the trainer logs
 * is not a bound on ln p(x) for an unnormalized prior and grows positive while the model
 * improves; ALB - log Z is one (up to AIS's error), so a run shows while it trains whether the
 * energy prior beats N(0, I).
 *
 * Per held-out example e the trainer's ALB a_e (one z ~ q(z|x), analytic entropy) estimates that
 * example's ALB without bias, so
 *   ELBO = mean_e a_e - log Z,   SE = sqrt(SE_examples^2 + SE_logZ^2),
 * SE_examples = sd_e(a_e) / sqrt(n) and SE_logZ the AIS runs' spread / sqrt(runs). The two come
 * from different draws, so they add in quadrature; log Z's error is common to every example and
 * does not average out over them.
 *
 * Random draws: AIS under train.seed on purpose EVAE_STREAM_HONEST (evae/math/philox.h), which no
 * other draw of training or evaluation uses. The estimate reads the model and changes no state
 * of the run, so a resumed run stays bit-exact. It draws the same streams every epoch, so the
 * changes from one estimate to the next are the model's, not the sampler's. */
#ifndef EVAE_EVAL_HONEST_H
#define EVAE_EVAL_HONEST_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "evae/eval/eval.h"

typedef struct evae_honest {
    evae_quantity elbo; /* mean_e a_e - log Z; std_err over held-out examples alone */
    double std_err;     /* the total: sqrt(elbo.std_err^2 + SE_logZ^2) */
    double bpd_std_err; /* the total in bits/dim (CIFAR-10), else NAN */
    evae_log_z lz;      /* log Z: exact, or AIS with its standard error */
    double seconds;     /* wall time of the log Z estimate */
} evae_honest;

/* The AIS of train.honest_ais_*: sigmoid schedule (delta 4), one Gibbs sweep per temperature,
 * seed train.seed, purpose EVAE_STREAM_HONEST. */
evae_ais_opts evae_honest_ais_opts(const evae_config *cfg);

/* r from the per-example ALB alb[n] of the held-out set (host, nats) and, with bits_per_dim,
 * the logit transform's ln|dy/du| per example log_det[n] (else NULL). Returns non-zero with a
 * message when the AIS options are bad. */
int evae_honest_elbo(const evae_model *m, const evae_ais_opts *o, const double *alb,
                     const double *log_det, int n, int bits_per_dim, evae_honest *r);

/* The estimate's keys in an epoch's line of metrics.jsonl: <heldout>_elbo and
 * <heldout>_elbo_std_err (the total), log_z and log_z_std_err (0 when exact), honest_time_s;
 * with bits/dim also <heldout>_elbo_bpd and <heldout>_elbo_bpd_std_err. */
void evae_honest_add_metrics(const evae_honest *h, const char *heldout_name, cJSON *o);

/* The text that follows the held-out ALB in the trainer's epoch line:
 *   ", ELBO -95.07 ± 0.27 (AIS log Z 157.09 ± 0.01, 0.21s)"    (GRBM)
 *   " ± 0.26 (exact log Z 59.51)"    (N(0, I): the held-out value printed is the ELBO already)
 * and, with bits/dim, " = 7.152 ± 0.011 bits/dim" after the value. */
void evae_honest_format(const evae_honest *h, char *buf, size_t cap);

#endif
